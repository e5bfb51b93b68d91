"""OData ``$batch`` in its multipart form, as the SAP Business One Service Layer speaks it.

A batch is ``multipart/mixed``: a read is a part of its own (``application/http``); writes go in
change sets (nested ``multipart/mixed``), each change set applied all-or-nothing. The answer has the
same shape: one HTTP response per read and per change set item (a failed change set answers with
its single error). Both sides of the sandbox and the target use these functions.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

__all__ = ["Part", "boundary_of", "decode_request", "decode_response", "encode_request", "encode_response"]

CRLF = "\r\n"
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}  # fmt: skip


@dataclass
class Part:
    """One request or answer inside a batch: request line (or status), headers, body."""

    method: str = ""
    url: str = ""
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _http_request(part: Part) -> str:
    head = [f"{part.method} {part.url} HTTP/1.1", *(f"{k}: {v}" for k, v in part.headers.items())]
    return CRLF.join(head) + CRLF + CRLF + part.body.decode("utf-8")


def _http_response(part: Part) -> str:
    """An answer as an HTTP response message."""
    head = [
        f"HTTP/1.1 {part.status} {REASONS.get(part.status, 'Status')}",
        *(f"{k}: {v}" for k, v in part.headers.items()),
    ]
    return CRLF.join(head) + CRLF + CRLF + part.body.decode("utf-8")


def _wrap(text: str, content_id: int | None = None) -> str:
    ident = f"Content-ID: {content_id}{CRLF}" if content_id is not None else ""
    return f"Content-Type: application/http{CRLF}Content-Transfer-Encoding: binary{CRLF}{ident}{CRLF}{text}{CRLF}"


def _encode(groups: list[tuple[bool, list[Part]]], render: object, boundary: str) -> bytes:
    """Groups as a multipart body: single parts, or change sets of nested multipart."""
    out = []
    for n, (changeset, parts) in enumerate(groups):
        out.append(f"--{boundary}{CRLF}")
        if not changeset:
            out.append(_wrap(render(parts[0])))  # type: ignore[operator]
            continue
        inner = f"changeset_{n}_{uuid.uuid4().hex[:8]}"
        out.append(f"Content-Type: multipart/mixed; boundary={inner}{CRLF}{CRLF}")
        for m, part in enumerate(parts, start=1):
            out.append(f"--{inner}{CRLF}" + _wrap(render(part), m))  # type: ignore[operator]
        out.append(f"--{inner}--{CRLF}")
    out.append(f"--{boundary}--{CRLF}")
    return "".join(out).encode("utf-8")


def encode_request(groups: list[tuple[bool, list[Part]]], boundary: str) -> bytes:
    """A batch request: ``(is_change_set, parts)`` groups, reads outside change sets."""
    return _encode(groups, _http_request, boundary)


def encode_response(groups: list[tuple[bool, list[Part]]], boundary: str) -> bytes:
    """A batch answer with the same grouping."""
    return _encode(groups, _http_response, boundary)


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart content type."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise ValueError("multipart content without a boundary")
    return m[1]


def _sections(text: str, boundary: str) -> list[str]:
    chunks = re.split(rf"--{re.escape(boundary)}(?:--)?\r?\n?", text)
    return [c for c in chunks[1:] if c.strip()]


def _split_head(text: str) -> tuple[dict[str, str], str]:
    """(headers, rest) of a MIME section."""
    head, _, rest = text.partition("\r\n\r\n")
    headers = {}
    for line in head.split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip()] = v.strip()
    return headers, rest


def _parse(text: str, boundary: str, response: bool) -> list[tuple[bool, list[Part]]]:
    """The groups of a multipart body (a nested multipart section is a change set)."""
    groups: list[tuple[bool, list[Part]]] = []
    for section in _sections(text, boundary):
        headers, rest = _split_head(section)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if content_type.startswith("multipart/mixed"):
            inner = boundary_of(content_type)
            parts = [_http_part(s, response) for s in _sections(rest, inner)]
            groups.append((True, parts))
        else:
            groups.append((False, [_http_part(section, response)]))
    return groups


def _http_part(section: str, response: bool) -> Part:
    """One embedded HTTP request or response message."""
    _, http = _split_head(section)
    head, _, body = http.partition("\r\n\r\n")
    lines = head.split("\r\n")
    first = lines[0].split(" ")
    headers = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ":" in ln)}
    body = body.rstrip("\r\n")
    if response:
        return Part(status=int(first[1]), headers=headers, body=body.encode("utf-8"))
    return Part(method=first[0], url=first[1], headers=headers, body=body.encode("utf-8"))


def decode_request(body: bytes, content_type: str) -> list[tuple[bool, list[Part]]]:
    """The groups of a batch request."""
    return _parse(body.decode("utf-8"), boundary_of(content_type), response=False)


def decode_response(body: bytes, content_type: str) -> list[Part]:
    """The answers of a batch, in order (change set items flattened)."""
    return [
        part
        for _, parts in _parse(body.decode("utf-8"), boundary_of(content_type), response=True)
        for part in parts
    ]
