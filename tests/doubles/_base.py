"""Plumbing shared by the HTTP doubles: serving an ASGI app from a background thread, a request log
with per-route counters, and a queue of injectable faults.

Every double is a FastAPI app wrapped by :class:`_Intercept`, a pure ASGI middleware that, for each
HTTP request, works out the route template (``"POST /api/chat.postMessage"``,
``"GET /rest/api/2/issue/{issue_id_or_key}"``), records the request, and serves the next queued fault
that applies to the route instead of (or, for a delay, before) the real handler.

Not covered: TLS, HTTP/2, websockets, dropping a connection mid-response (a delay longer than the
client's read timeout is the way to produce a client-side timeout; a ``late_answer`` longer than it, a
request the double carried out whose answer the client never read).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import uvicorn
from fastapi import FastAPI
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "Fault",
    "FaultKind",
    "FaultQueue",
    "HttpDouble",
    "RecordedRequest",
    "serve_in_thread",
]

FaultKind = Literal["rate_limit", "server_error", "delay", "http_error", "late_answer"]
"""``rate_limit``: 429 with ``Retry-After``; ``server_error``: 500/502/503/504; ``delay``: wait, then
answer normally (a client with a shorter timeout sees a timeout, and nothing was done); ``http_error``: a
given 4xx, or a 3xx (a login page's redirect, its ``Location`` in ``headers``); ``late_answer``: carry the
request out at once, then hold its answer (a client with a shorter timeout sees a timeout, and what it
asked for was done all the same: a post accepted and answered late)."""

_SERVER_ERRORS = frozenset({500, 502, 503, 504})


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    startup_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    tls: tuple[str, str] | None = None,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn on ``host`` and a port the OS picks, from a daemon thread; over TLS
    with ``tls`` (a certificate file and its key file).

    Yields the base URL (``http://127.0.0.1:PORT``, ``https://`` with ``tls``; no trailing slash). The
    socket is bound before the thread starts, so there is no race for the port; start-up and shutdown
    waits are bounded and a server that fails to start raises instead of hanging the test.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    server = uvicorn.Server(config)  # in a non-main thread uvicorn installs no signal handlers
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"http-double-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the HTTP double on port {port} exited during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the HTTP double on port {port} did not start in {startup_timeout}s")
            time.sleep(0.01)
        yield f"{'https' if tls else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(shutdown_timeout)
        sock.close()


@dataclass(frozen=True)
class Fault:
    """One queued misbehaviour. ``route`` limits it to requests on that route (``None``: any)."""

    kind: FaultKind
    status: int = 0
    retry_after: int | None = None
    seconds: float = 0.0
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    route: str | None = None

    def applies_to(self, route: str) -> bool:
        """``route`` is ``"METHOD /template"``; a fault may name it in full or by template alone."""
        return self.route is None or self.route in (route, route.split(" ", 1)[-1])


class FaultQueue:
    """Faults served, in order, to the next matching requests (thread-safe).

    ``push("rate_limit", times=2, retry_after=0)`` answers the next two requests with 429 and
    ``Retry-After: 0``; ``push("server_error", status=502)``; ``push("delay", seconds=3)`` holds the
    next request three seconds before handling it normally; ``push("late_answer", seconds=3)`` handles
    it at once and holds its answer three seconds; ``push("http_error", status=404,
    body={...})`` answers with that 4xx and body (the double's usual error shape when ``body`` is
    omitted). ``route`` restricts a fault to one route; requests on other routes pass it by.
    ``fired`` lists, in order, the faults that were served.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self.fired: list[tuple[str, Fault]] = []

    def push(
        self,
        kind: FaultKind,
        *,
        times: int = 1,
        status: int | None = None,
        retry_after: int | None = 1,
        seconds: float = 5.0,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        route: str | None = None,
    ) -> None:
        """Queue ``times`` copies of a fault. ``retry_after`` (whole seconds, ``None`` for no header)
        applies to ``rate_limit`` only; give other faults extra headers through ``headers``."""
        if kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {kind!r}; one of {get_args(FaultKind)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if kind == "rate_limit":
            fault = Fault(kind, 429, retry_after, body=body, headers=dict(headers or {}), route=route)
        elif kind == "server_error":
            code = 503 if status is None else status
            if code not in _SERVER_ERRORS:
                raise ValueError(f"server_error status must be one of {sorted(_SERVER_ERRORS)}")
            fault = Fault(kind, code, None, body=body, headers=dict(headers or {}), route=route)
        elif kind == "http_error":
            if status is None or not 300 <= status < 500:
                raise ValueError("http_error needs a 3xx (a redirect: give its Location) or 4xx status")
            fault = Fault(kind, status, None, body=body, headers=dict(headers or {}), route=route)
        else:
            if seconds <= 0:
                raise ValueError(f"a {kind} needs seconds > 0")
            fault = Fault(kind, 0, None, seconds=seconds, route=route)
        with self._lock:
            self._queue.extend([fault] * times)

    def take(self, route: str) -> Fault | None:
        """The first queued fault that applies to ``route``, removed from the queue."""
        with self._lock:
            for i, fault in enumerate(self._queue):
                if fault.applies_to(route):
                    del self._queue[i]
                    self.fired.append((route, fault))
                    return fault
        return None

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the double received it (before any fault). ``route`` is ``"METHOD /template"``."""

    method: str
    path: str
    route: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    fault: FaultKind | None
    received_at: float = field(default_factory=time.monotonic, compare=False)
    """``time.monotonic()`` when the request arrived: comparable with the test's own clock."""


class HttpDouble:
    """Base of the doubles: a FastAPI ``app`` with fault injection and a request log.

    Use ``with double.serve() as base_url: ...`` (``double.url`` is the same string while serving),
    ``double.faults.push(...)``, ``double.count("POST /v2/enqueue")`` (or by template alone),
    ``double.requests()`` and ``double.routes()`` (the route keys faults and counters use).
    """

    def __init__(self, *, title: str) -> None:
        self._lock = threading.RLock()
        self._log: list[RecordedRequest] = []
        self._closing = False
        self._url: str | None = None
        self.faults = FaultQueue()
        self.app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
        self.app.add_middleware(_Intercept, double=self)

    # -- serving ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self, *, tls: tuple[str, str] | None = None) -> Iterator[str]:
        """Serve from a background thread (over TLS with ``tls``: a certificate and its key file);
        yields the base URL."""
        self._closing = False
        with serve_in_thread(self.app, tls=tls) as url:
            self._url = url
            try:
                yield url
            finally:
                self._closing = True  # cuts injected delays short so shutdown stays quick
                self._url = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the double is not being served; use `with double.serve():`")
        return self._url

    # -- inspection -------------------------------------------------------------------------------------

    def requests(self, route: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._log if route is None or route in (r.route, r.route.split(" ", 1)[-1])]

    def count(self, route: str | None = None) -> int:
        """Requests received on ``route`` (all requests when ``None``), faulted ones included."""
        return len(self.requests(route))

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.route for r in self._log)

    def routes(self) -> list[str]:
        return [key for route in self.app.router.routes for key in _route_keys(route)]

    # -- hooks for the subclasses ------------------------------------------------------------------------

    def fault_headers(self, fault: Fault) -> dict[str, str]:
        """The headers of a fault's answer: its own, and a 429's ``Retry-After`` (a double of a service
        that says it otherwise overrides this)."""
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers.setdefault("Retry-After", str(fault.retry_after))
        return headers

    def error_body(self, status: int) -> Any:
        """The body a fault with this status carries when the test gave none (the API's error shape)."""
        return {"error": status}

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._closing and (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.05))

    def _snapshot(self, value: Any) -> Any:
        with self._lock:
            return copy.deepcopy(value)

    def _route_of(self, scope: Scope) -> str:
        partial: str | None = None
        for route in self.app.router.routes:
            match, _ = route.matches(scope)
            path = getattr(route, "path", None)
            if match is Match.FULL and path is not None:
                return f"{scope['method']} {path}"
            if match is Match.PARTIAL and path is not None and partial is None:
                partial = f"{scope['method']} {path}"
        return partial or f"{scope['method']} {scope['path']}"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._log.append(request)


def _route_keys(route: BaseRoute) -> list[str]:
    path = getattr(route, "path", None)
    methods = getattr(route, "methods", None) or ()
    return [f"{m} {path}" for m in sorted(methods) if m != "HEAD"] if path else []


class _Intercept:
    """Records every HTTP request and serves queued faults (see :class:`FaultQueue`)."""

    def __init__(self, app: ASGIApp, double: HttpDouble) -> None:
        self.app = app
        self.double = double

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        route = self.double._route_of(scope)
        fault = self.double.faults.take(route)
        self.double._record(
            RecordedRequest(
                method=scope["method"],
                path=scope["path"],
                route=route,
                query=scope.get("query_string", b"").decode("latin-1"),
                headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
                body=body,
                fault=None if fault is None else fault.kind,
            )
        )
        if fault is None:
            await self.app(scope, replay, send)
            return
        if fault.kind == "delay":
            await self.double._sleep(fault.seconds)
            await self.app(scope, replay, send)
            return
        if fault.kind == "late_answer":
            await self.app(scope, replay, _held(send, self.double, fault.seconds))
            return
        await _fault_response(self.double, fault)(scope, replay, send)


def _held(send: Send, double: HttpDouble, seconds: float) -> Send:
    """``send``, holding the answer ``seconds`` once the handler has done its work (a client that gave up
    meanwhile has closed the connection: what is sent after is lost, as it would be)."""
    held = False

    async def late(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and not held:
            held = True
            await double._sleep(seconds)
        await send(message)

    return late


def _fault_response(double: HttpDouble, fault: Fault) -> Response:
    headers = double.fault_headers(fault)
    body = double.error_body(fault.status) if fault.body is None else fault.body
    if isinstance(body, str | bytes):
        return PlainTextResponse(body, status_code=fault.status, headers=headers)
    return JSONResponse(body, status_code=fault.status, headers=headers)
