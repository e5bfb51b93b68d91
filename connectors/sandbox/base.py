"""The common machinery of the sandbox servers: routing, fault injection, request log.

A sandbox is a small threaded HTTP server on 127.0.0.1 (a random free port unless one is given)
that behaves like a vendor's API as its published contract says: it serves pull endpoints from
fixtures, accepts documents while enforcing idempotency keys and rate limits, and sends correctly
signed webhooks. Tests, the demo and the benchmarks use the same servers.

Faults are injected per request, either scripted (``faults.next(...)``, consumed in order) or by
rate (``faults.rates(...)`` with a seeded random generator, so a run is reproducible):

* ``status`` - answer with that status (e.g. 500, 503) and a vendor-shaped error body;
* ``rate_limit`` - answer 429 with ``Retry-After``;
* ``timeout`` - hold the request longer than the client's read timeout, do nothing;
* ``drop_after_commit`` - perform the write, then close the connection without answering.

Use it as a context manager::

    with ShopifySandbox() as shop:
        requests.get(shop.url + "/admin/api/2024-10/orders.json")
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Fault", "FaultPlan", "Request", "Response", "SandboxServer", "route"]


@dataclass
class Request:
    """A request as a sandbox handler sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    received_at: float = field(default_factory=time.time)

    def header(self, name: str, default: str = "") -> str:
        """Case-insensitive header lookup."""
        lower = name.lower()
        for k, v in self.headers.items():
            if k.lower() == lower:
                return v
        return default

    def arg(self, name: str, default: str = "") -> str:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What a handler answers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        """The body as bytes (JSON-encoded unless already bytes or str)."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, default=str).encode()


@dataclass
class Fault:
    """One injected fault."""

    kind: str  # status | rate_limit | timeout | drop_after_commit
    status: int = 500
    retry_after: float = 1.0
    delay: float = 35.0


class FaultPlan:
    """Scripted and random faults. Thread-safe; ``seed`` makes random faults reproducible."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._scripted: list[tuple[Fault, re.Pattern[str] | None, str]] = []
        self._rates: list[tuple[float, Fault]] = []
        self._random = random.Random(seed)
        self.only_paths: re.Pattern[str] | None = None
        self.only_method = ""  # rates apply to this HTTP method only (empty: every method)

    def next(self, *faults: Fault, path: str | None = None, method: str = "") -> None:
        """Queue faults for the next requests, in order; with ``path`` (a regular expression), for
        the next requests whose path matches it, and with ``method``, of that method (other requests
        pass untouched)."""
        pattern = re.compile(path) if path else None
        with self._lock:
            self._scripted.extend((fault, pattern, method.upper()) for fault in faults)

    def rates(
        self,
        *pairs: tuple[float, Fault],
        only_paths: str | None = None,
        seed: int | None = None,
        only_method: str = "",
    ) -> None:
        """Inject faults at random with the given probabilities (e.g. ``(0.2, Fault("status"))``),
        optionally only on paths matching ``only_paths`` and of the HTTP method ``only_method``."""
        with self._lock:
            self._rates = list(pairs)
            self.only_method = only_method.upper()
            self.only_paths = re.compile(only_paths) if only_paths else None
            if seed is not None:
                self._random.seed(seed)

    def clear(self) -> None:
        """No more faults."""
        with self._lock:
            self._scripted.clear()
            self._rates.clear()

    def draw(self, path: str, method: str = "") -> Fault | None:
        """The fault for this request, if any."""
        with self._lock:
            if self.only_paths is not None and not self.only_paths.search(path):
                return None
            for index, (fault, pattern, wanted) in enumerate(self._scripted):
                if (pattern is None or pattern.search(path)) and (not wanted or wanted == method):
                    del self._scripted[index]
                    return fault
            roll = self._random.random()
            if self.only_method and method != self.only_method:
                return None
            acc = 0.0
            for probability, fault in self._rates:
                acc += probability
                if roll < acc:
                    return fault
        return None


Handler = Callable[..., Response]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Mark a SandboxServer method as the handler of ``METHOD /path/{param}/...``."""

    def decorate(fn: Handler) -> Handler:
        routes = getattr(fn, "_sandbox_routes", [])
        routes.append((method.upper(), pattern))
        fn._sandbox_routes = routes  # type: ignore[attr-defined]
        return fn

    return decorate


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/"))
    return re.compile(f"^{regex}/?$")


class SandboxServer:
    """Base class: subclass, add ``@route`` methods, and override :meth:`error_body` so error
    answers look like the vendor's."""

    vendor = "sandbox"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 0) -> None:
        self.host = host
        self.port = port
        self.faults = FaultPlan(seed)
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for name in dir(type(self)):
            fn = getattr(type(self), name, None)
            for method, pattern in getattr(fn, "_sandbox_routes", []):
                self._routes.append((method, _compile(pattern), getattr(self, name)))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Start serving in a daemon thread."""
        sandbox = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                sandbox._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.vendor}-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- vendor flavour ----------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """The vendor's error body for a status (override per vendor)."""
        return {"error": {"status": status, "message": message}}

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Headers of a 429 answer (override per vendor)."""
        return {"Retry-After": str(int(retry_after) if retry_after >= 1 else retry_after)}

    # -- dispatch ----------------------------------------------------------------------------

    def _dispatch(self, http: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        req = Request(
            method=http.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k: v for k, v in http.headers.items()},
            body=body,
        )
        with self.lock:
            self.requests.append(req)
        fault = self.faults.draw(parts.path, http.command)
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.delay)
            self._close(http)
            return
        if fault is not None and fault.kind == "rate_limit":
            self._write(
                http,
                Response(
                    429, self.error_body(429, "rate limited"), self.rate_limit_headers(fault.retry_after)
                ),
            )
            return
        if fault is not None and fault.kind == "status":
            self._write(http, Response(fault.status, self.error_body(fault.status, "injected failure")))
            return
        response = self._call(req)
        if fault is not None and fault.kind == "drop_after_commit" and response.status < 400:
            # Only a committed write can be "dropped after commit"; a refusal is answered as is.
            self._close(http)
            return
        self._write(http, response)

    def _call(self, req: Request) -> Response:
        for method, pattern, handler in self._routes:
            if method != req.method:
                continue
            match = pattern.match(req.path)
            if match:
                req.params = match.groupdict()
                try:
                    return handler(req)
                except Exception as exc:  # a sandbox bug must show up as a 500, like a real server
                    return Response(500, self.error_body(500, f"sandbox error: {exc!r}"))
        return Response(404, self.error_body(404, f"no route for {req.method} {req.path}"))

    @staticmethod
    def _write(http: BaseHTTPRequestHandler, response: Response) -> None:
        payload = response.encoded()
        try:
            http.send_response(response.status)
            http.send_header("Content-Type", response.content_type)
            http.send_header("Content-Length", str(len(payload)))
            for k, v in response.headers.items():
                http.send_header(k, v)
            http.end_headers()
            http.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _close(http: BaseHTTPRequestHandler) -> None:
        http.close_connection = True
        with contextlib.suppress(OSError):
            http.connection.shutdown(socket.SHUT_RDWR)

    # -- helpers for subclasses --------------------------------------------------------------

    def requests_to(self, method: str, path_regex: str) -> list[Request]:
        """Requests received for a method and path pattern (for assertions)."""
        rx = re.compile(path_regex)
        with self.lock:
            return [r for r in self.requests if r.method == method and rx.search(r.path)]
