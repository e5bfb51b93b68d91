"""One HTTP client for every vendor: timeouts, rate limits, error classification, integration log.

Every outbound call goes through :class:`VendorHTTP`. It

* always passes a timeout (connect, read);
* waits on a :class:`RateLimiter` shared by every client of the same connection in this process,
  and never sends inside a ``Retry-After`` window the vendor gave;
* turns transport failures into the error taxonomy: nothing sent -> :class:`Retryable`; a write
  whose answer was lost (read timeout, connection reset after sending) -> :class:`Uncertain`;
  HTTP 429 -> :class:`RateLimited` with the vendor's ``Retry-After``; 5xx -> :class:`Retryable`;
* records every call (method, URL, status, duration, idempotency key, redacted bodies) through the
  recorder installed by the core (``integrator.services.integration_log``), so connectors stay free
  of the ORM.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from connectors.base import RateLimited, Retryable, Uncertain

__all__ = [
    "CallRecord",
    "RateLimit",
    "RateLimiter",
    "VendorHTTP",
    "get_call_recorder",
    "parse_retry_after",
    "redact",
    "set_call_recorder",
]

DEFAULT_TIMEOUT = (5.0, 30.0)
SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|authorization|api[_-]?key|signature|client_secret|refresh|cookie|"
    r"card|cvv|email|phone|address)",
    re.IGNORECASE,
)
REDACTED = "[redacted]"
# OAuth form fields whose names are too short to match by substring without hiding AccountCode.
SECRET_EXACT_KEYS = frozenset({"code", "code_verifier", "assertion", "client_assertion"})


def redact(value: Any) -> Any:
    """Return a copy of JSON-like data with secret and personal fields replaced by ``[redacted]``."""
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and (SECRET_KEYS.search(k) or k in SECRET_EXACT_KEYS)
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def parse_retry_after(value: str | None, default: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RateLimit:
    """A vendor's published limits for one connection (None = no such limit)."""

    per_second: int | None = None
    per_minute: int | None = None
    per_day: int | None = None
    concurrent: int | None = None


@dataclass
class _Window:
    calls: deque[float] = field(default_factory=deque)


class RateLimiter:
    """Sliding-window limiter for one connection, plus a ``blocked_until`` set by 429 answers.

    ``acquire`` waits (up to ``max_wait`` seconds) for a free slot and raises :class:`RateLimited`
    if none comes in time, so a worker gives the posting back instead of hammering the vendor.
    """

    _registry: dict[str, RateLimiter] = {}
    _registry_lock = threading.Lock()

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._lock = threading.Condition()
        self._calls: deque[float] = deque()
        self._day_calls: deque[float] = deque()
        self._in_flight = 0
        self.blocked_until = 0.0
        self.total_calls = 0

    @classmethod
    def for_connection(cls, key: str, limit: RateLimit) -> RateLimiter:
        """The process-wide limiter of a connection (one per key)."""
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None or limiter.limit != limit:
                limiter = cls._registry[key] = cls(limit)
            return limiter

    def _wait_needed(self, now: float) -> float:
        waits = [self.blocked_until - now]
        lim = self.limit
        while self._calls and self._calls[0] <= now - 60:
            self._calls.popleft()
        while self._day_calls and self._day_calls[0] <= now - 86400:
            self._day_calls.popleft()
        if lim.per_second is not None:
            recent = [t for t in self._calls if t > now - 1]
            if len(recent) >= lim.per_second:
                waits.append(recent[-lim.per_second] + 1 - now)
        if lim.per_minute is not None and len(self._calls) >= lim.per_minute:
            waits.append(self._calls[-lim.per_minute] + 60 - now)
        if lim.per_day is not None and len(self._day_calls) >= lim.per_day:
            waits.append(self._day_calls[-lim.per_day] + 86400 - now)
        return max(waits)

    def acquire(self, max_wait: float = 30.0) -> None:
        """Take a slot, waiting if needed; raise RateLimited if the wait would exceed ``max_wait``."""
        deadline = self.clock() + max_wait
        with self._lock:
            while True:
                now = self.clock()
                wait = self._wait_needed(now)
                busy = self.limit.concurrent is not None and self._in_flight >= self.limit.concurrent
                if wait <= 0 and not busy:
                    self._calls.append(now)
                    self._day_calls.append(now)
                    self._in_flight += 1
                    self.total_calls += 1
                    return
                if now + max(wait, 0) > deadline:
                    raise RateLimited("local rate limit reached", retry_after=max(wait, 1.0))
                self._lock.wait(timeout=max(min(wait, deadline - now), 0.01))

    def release(self) -> None:
        """Give back a concurrency slot."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._lock.notify_all()

    def block_for(self, seconds: float) -> None:
        """Honour a vendor's Retry-After: no call from this connection before it has passed."""
        with self._lock:
            self.blocked_until = max(self.blocked_until, self.clock() + seconds)

    def calls_last_day(self) -> int:
        """Calls made in the last 24 h (for the connection page's daily budget)."""
        with self._lock:
            self._wait_needed(self.clock())
            return len(self._day_calls)


@dataclass(frozen=True)
class CallRecord:
    """One outbound call, as the integration log keeps it (bodies already redacted)."""

    vendor: str
    connection_key: str
    method: str
    url: str
    status: int | None
    duration_ms: int
    idempotency_key: str
    request_body: Any
    response_body: Any
    error: str = ""


_recorder: Callable[[CallRecord], None] | None = None


def set_call_recorder(recorder: Callable[[CallRecord], None] | None) -> None:
    """Install the function that stores call records (the core installs the integration log)."""
    global _recorder
    _recorder = recorder


MAX_LOGGED_BODY = 64 * 1024


def get_call_recorder() -> Callable[[CallRecord], None] | None:
    """The installed recorder (tests swap it for an in-memory list and restore it)."""
    return _recorder


def _body_for_log(raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(raw, bytes | str) and len(raw) > MAX_LOGGED_BODY:
        # Big pages (a 1,000-order search) are summarised: the log keeps what was called, not
        # megabytes of personal data, and redaction stays cheap.
        return {"truncated": True, "bytes": len(raw)}
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        try:
            return redact(json.loads(raw))
        except ValueError:
            pass
        if "=" in raw and " " not in raw.strip():  # a form-encoded body (OAuth token requests)
            from urllib.parse import parse_qsl

            return redact(dict(parse_qsl(raw, keep_blank_values=True)))
        return raw[:4000]
    if isinstance(raw, Mapping):
        return redact(dict(raw))
    return redact(raw)


class VendorHTTP:
    """A requests session for one vendor connection, with limits, timeouts and logging."""

    def __init__(
        self,
        *,
        vendor: str,
        base_url: str,
        connection_key: str = "",
        rate_limit: RateLimit | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        default_headers: Mapping[str, str] | None = None,
        max_wait: float = 30.0,
        session: requests.Session | None = None,
        default_retry_after: float = 60.0,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.connection_key = connection_key or vendor
        self.timeout = timeout
        self.max_wait = max_wait
        self.default_retry_after = default_retry_after  # when a 429 carries no Retry-After
        self.session = session or requests.Session()
        self.session.headers.update(default_headers or {})
        self.limiter = RateLimiter.for_connection(
            f"{vendor}:{self.connection_key}", rate_limit or RateLimit()
        )

    def url(self, path: str) -> str:
        """Absolute URL for a path (absolute URLs pass through)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str = "",
        raise_for_status: bool = True,
        secret_response: bool = False,
        log_body: Any = None,
    ) -> requests.Response:
        """Send one request. Raises RateLimited, Retryable or Uncertain as the module doc says;
        other 4xx answers are returned for the connector to classify. ``secret_response`` marks
        an answer that is itself a credential (Magento's admin token is a bare JSON string, which
        key-based redaction cannot see): the log keeps ``[redacted]`` instead of it. ``log_body``,
        when given, is what the log keeps instead of the request body (a body carrying a secret in
        a place key-based redaction cannot see, such as Odoo's positional API key)."""
        url = self.url(path)
        is_write = method.upper() not in ("GET", "HEAD", "OPTIONS")
        self.limiter.acquire(self.max_wait)
        started = time.monotonic()
        response: requests.Response | None = None
        error = ""
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=data,
                headers=dict(headers or {}),
                timeout=self.timeout,
            )
        except (requests.ConnectTimeout, requests.exceptions.InvalidURL) as exc:
            error = f"not sent: {exc.__class__.__name__}"
            raise Retryable(f"{self.vendor}: could not connect ({exc.__class__.__name__})") from exc
        except (requests.ReadTimeout, requests.ConnectionError) as exc:
            # Connection refused happens before sending; a reset or a read timeout happens after.
            refused = "refused" in str(exc).lower() or "Failed to establish" in str(exc)
            error = f"{'not sent' if refused else 'no answer'}: {exc.__class__.__name__}"
            if is_write and not refused:
                raise Uncertain(f"{self.vendor}: no answer after sending ({exc.__class__.__name__})") from exc
            raise Retryable(f"{self.vendor}: {exc.__class__.__name__}") from exc
        finally:
            self.limiter.release()
            if _recorder is not None:  # bodies are only decoded and redacted when someone records
                _recorder(
                    CallRecord(
                        vendor=self.vendor,
                        connection_key=self.connection_key,
                        method=method.upper(),
                        url=url.split("?")[0],
                        status=response.status_code if response is not None else None,
                        duration_ms=int((time.monotonic() - started) * 1000),
                        idempotency_key=idempotency_key,
                        request_body=_body_for_log(
                            log_body if log_body is not None else json_body if json_body is not None else data
                        ),
                        response_body=(
                            None
                            if response is None
                            else REDACTED
                            if secret_response
                            else _body_for_log(response.content)
                        ),
                        error=error,
                    )
                )
        if response.status_code == 429:
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), default=self.default_retry_after
            )
            self.limiter.block_for(retry_after if retry_after is not None else self.default_retry_after)
            raise RateLimited(
                f"{self.vendor}: rate limited (429)",
                retry_after=retry_after,
                vendor_message=response.headers.get("X-Rate-Limit-Problem", ""),
            )
        if raise_for_status and response.status_code >= 500:
            raise Retryable(
                f"{self.vendor}: server error {response.status_code}",
                vendor_code=str(response.status_code),
                vendor_message=response.text[:500],
            )
        return response
