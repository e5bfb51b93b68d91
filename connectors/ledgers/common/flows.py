"""One document's look-up-first steps, run alone or gathered with other documents' into batches.

A target without an idempotency key (Business Central, SAP Business One) writes a document as a
short conversation: look it up by our reference, create what is missing, correct, post. Each
conversation is written once, as a generator (a *flow*) that yields a :class:`Call` and receives
its :class:`Answer`; an error answer is thrown into the generator as the connector's classified
error, so the flow can resolve a duplicate by looking it up. The flow returns its result.

:func:`run_flow` runs one flow call by call. :func:`run_flows` runs many in lock-step: the current
call of every live flow goes out together in one batch request (BC's JSON ``$batch``, SAP's
multipart ``$batch``), up to the batch size, so posting 100 documents costs a handful of requests
instead of hundreds, and every document still follows exactly the steps it would alone.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connectors.base import ConnectorError, Uncertain

__all__ = ["Answer", "Call", "Flow", "run_flow", "run_flows"]

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One request of a flow: method, path relative to the API root, JSON body, extra headers."""

    method: str
    path: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """The answer to a :class:`Call`: status, headers and parsed body."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


Flow = Generator[Call, Answer, T]
SendOne = Callable[[Call], Answer]
SendMany = Callable[[list[Call]], list[Answer]]
Classify = Callable[[Answer], ConnectorError]


def _advance(flow: Flow[T], answer: Answer | None, classify: Classify) -> tuple[Call | None, T | None]:
    """Feed an answer (or its error) to the flow: its next call, or its result when it is done."""
    try:
        if answer is None:
            return next(flow), None
        if answer.status >= 400:
            return flow.throw(classify(answer)), None
        return flow.send(answer), None
    except StopIteration as stop:
        return None, stop.value


def run_flow(flow: Flow[T], send: SendOne, classify: Classify) -> T:
    """Run one flow call by call. Transport errors (:class:`ConnectorError` raised by ``send``)
    are thrown into the flow too, so it may resolve them; unresolved ones propagate."""
    call, result = _advance(flow, None, classify)
    while call is not None:
        try:
            answer = send(call)
        except ConnectorError as exc:
            try:
                call = flow.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        call, result = _advance(flow, answer, classify)
    return result  # type: ignore[return-value]


def run_flows(
    flows: Sequence[Flow[T]], send_many: SendMany, classify: Classify, *, batch_size: int = 100
) -> list[T | ConnectorError]:
    """Run flows in lock-step, each round's calls gathered into batches of ``batch_size``.

    A batch whose answer is lost or refused as a whole (rate limit, outage) ends every flow in it
    with that error: the caller retries them later, and each flow starts again with its look-up.
    """
    results: list[T | ConnectorError | None] = [None] * len(flows)
    pending: dict[int, Call] = {}
    for index, flow in enumerate(flows):
        try:
            call, value = _advance(flow, None, classify)
        except ConnectorError as exc:
            results[index] = exc
            continue
        if call is None:
            results[index] = value
        else:
            pending[index] = call
    while pending:
        order = list(pending)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            try:
                answers = send_many([pending[i] for i in chunk])
            except ConnectorError as exc:
                for i in chunk:
                    results[i] = exc
                    flows[i].close()
                    del pending[i]
                continue
            if len(answers) != len(chunk):
                for i in chunk:
                    results[i] = Uncertain("the batch answer does not match the request; look it up")
                    del pending[i]
                continue
            for i, answer in zip(chunk, answers, strict=True):
                try:
                    call, value = _advance(flows[i], answer, classify)
                except ConnectorError as exc:
                    results[i] = exc
                    del pending[i]
                    continue
                if call is None:
                    results[i] = value
                    del pending[i]
                else:
                    pending[i] = call
    return [r if r is not None else Uncertain("no result") for r in results]
