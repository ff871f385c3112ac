"""Shared machinery for the partner sandboxes (developer tooling, never deployed).

Each sandbox is a real HTTP server on a random loopback port that speaks its
partner's wire format over in-memory state. This base gives every sandbox the
same four things: a threaded server bound to 127.0.0.1, per-operation side
effect counters (so a test can assert "exactly once"), fault injection (5xx,
429 with Retry-After, slow answers, dropped connections), and opt-in rate
limits (:meth:`Sandbox.limit_rates`: a token bucket per key answering 429 with
``Retry-After`` past its burst, off unless a test or the burst bench asks).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """A parsed incoming request, whatever the partner's encoding."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        ctype = self.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in ctype:
            return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}
        return {}

    @property
    def params(self) -> dict[str, str]:
        """Query string and form body merged (form wins), as PHP-style APIs read them."""
        return {**self.query, **self.form}

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, default=str).encode()


@dataclass
class FaultPlan:
    """What to break. ``first_n`` fails the first n matching requests; ``rate`` a random share."""

    rate: float = 0.0
    first_n: int = 0
    kinds: tuple[str, ...] = ("5xx",)
    retry_after: float = 0.05
    slow_seconds: float = 15.0
    only_operations: tuple[str, ...] = ()
    seed: int | None = None
    _served: int = 0
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._rng.seed(self.seed)

    def pick(self, operation: str) -> str | None:
        if self.only_operations and operation not in self.only_operations:
            return None
        self._served += 1
        if self._served <= self.first_n or (self.rate and self._rng.random() < self.rate):
            return self._rng.choice(self.kinds)
        return None


@dataclass(frozen=True)
class RateLimit:
    """A partner's request limit as a token bucket: ``rate`` requests per second, ``burst`` at once."""

    rate: float
    burst: int
    source: str
    """Where the figure comes from, or why it is an assumption."""


ASSUMED_PARTNER_LIMIT = RateLimit(
    rate=10.0,
    burst=20,
    source="ASSUMED: Planyo, Bookingmood, Billit, Plisio and OCRWebService publish no request limits (UNCONFIRMED "
    "in each partner's reference page); 10 requests/s per account with bursts of 20, answered 429 + Retry-After",
)
"""The one place the unpublished partner limits are assumed (docs/capacity.md cites it)."""


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; a request takes one or learns how long to wait.

    The clock is injectable so a test can move time instead of sleeping.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> float:
        """0.0 when a token was taken; otherwise the seconds until the next token (nothing taken)."""
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class Sandbox:
    """Base class: subclasses implement ``operation_for`` and ``handle``."""

    name: ClassVar[str] = "sandbox"
    RATE_LIMIT: ClassVar[RateLimit] = ASSUMED_PARTNER_LIMIT
    """The limit :meth:`limit_rates` applies by default; a partner with published limits overrides it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.effects: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.faults: FaultPlan | None = None
        self.lock = threading.RLock()
        self.active_limit: RateLimit | None = None
        self.throttled: Counter[str] = Counter()
        self._buckets: dict[str, TokenBucket] = {}
        self._clock: Callable[[], float] = time.monotonic
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _serve(self) -> None:
                sandbox._dispatch(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815

        server_class = type("SandboxServer", (ThreadingHTTPServer,), {"request_queue_size": 128})
        self._server = server_class((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test hooks --------------------------------------------------------
    def inject(self, plan: FaultPlan | None) -> None:
        self.faults = plan

    def limit_rates(
        self, limit: RateLimit | None = None, *, on: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Answer 429 + ``Retry-After`` past the partner's limit (``RATE_LIMIT`` unless given); ``on=False`` stops."""
        with self.lock:
            self.active_limit = (limit or self.RATE_LIMIT) if on else None
            self._buckets.clear()
            self._clock = clock

    def rate_key(self, request: Request, operation: str) -> str | None:
        """Which bucket a request draws from (None: not limited). One per account unless a partner says otherwise."""
        return "account"

    def rate_limited_answer(self, retry_after: int) -> Response:
        """The partner's answer past its limit."""
        return Response(429, {"error": "rate limited"}, {"Retry-After": str(retry_after)})

    def _over_limit(self, request: Request, operation: str) -> int | None:
        """Whole seconds to wait when the request's bucket is empty (``Retry-After`` is delta-seconds), else None."""
        limit = self.active_limit
        if limit is None:
            return None
        key = self.rate_key(request, operation)
        if key is None:
            return None
        with self.lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(limit.rate, limit.burst, self._clock)
            wait = bucket.take()
            if wait <= 0:
                return None
            self.throttled[key] += 1
        return max(1, math.ceil(wait))

    def effect(self, operation: str) -> None:
        """Count one side effect (a write that changed state)."""
        with self.lock:
            self.effects[operation] += 1

    def config(self) -> dict[str, Any]:
        """The connector configuration that points at this sandbox."""
        raise NotImplementedError

    # -- subclass API ------------------------------------------------------
    def operation_for(self, request: Request) -> str:
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    # -- plumbing ----------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        request = Request(
            method=h.command,
            path=split.path,
            query={k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
        )
        try:
            operation = self.operation_for(request)
        except Exception:  # noqa: BLE001 - unknown routes answer 404 below
            operation = "unknown"
        with self.lock:
            self.requests[operation] += 1
        fault = self.faults.pick(operation) if self.faults else None
        if fault == "drop":
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "slow":
            time.sleep(self.faults.slow_seconds if self.faults else 15.0)
        if fault == "5xx":
            self._write(h, Response(503, {"error": "injected fault"}))
            return
        if fault == "429":
            retry_after = self.faults.retry_after if self.faults else 1
            self._write(h, Response(429, {"error": "rate limited"}, {"Retry-After": f"{retry_after:g}"}))
            return
        wait = self._over_limit(request, operation)
        if wait is not None:
            self._write(h, self.rate_limited_answer(wait))
            return
        try:
            with self.lock:
                response = self.handle(request)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must show as a 500, not hang the client
            response = Response(500, {"error": f"sandbox error: {type(exc).__name__}: {exc}"})
        self._write(h, response)

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, response: Response) -> None:
        payload = response.encode()
        headers = {"Content-Type": "application/json", **response.headers, "Content-Length": str(len(payload))}
        head = f"HTTP/1.1 {response.status} {_reason(response.status)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        # One write: separate header and body writes cost ~40 ms each with delayed ACKs.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            h.wfile.write(head.encode("latin-1") + payload)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
