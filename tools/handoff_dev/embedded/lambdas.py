"""Run the template's Lambda functions as Lambda does: one event at a time per execution environment.

Each function gets a pool of environments, each its own process started from
``runtime.py`` with exactly the function's environment (the template's
variables, resolved, plus what Lambda itself sets). An environment starts on
demand (a cold start: timed, logged, counted), handles one invocation at a
time, and is reused while it stays healthy. A pool never grows beyond the
function's reserved concurrency (or ``DEFAULT_CONCURRENCY``); further
invocations wait for a free environment. An invocation that outlives the
function's ``Timeout`` is killed with its environment and reported as Lambda
reports it (``Sandbox.Timedout``); an exception becomes ``FunctionError`` and
an ``errorType`` / ``errorMessage`` payload, which Step Functions matches in
Retry/Catch.

Each environment's stdout and stderr are its log stream: kept per function
(``FunctionRegistry.logs``) and copied to this process's current
``sys.stdout``, as CloudWatch Logs would show them.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import os
import signal
import socket
import subprocess  # nosec B404 - starts our own runtime.py with a fixed argv
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

RUNTIME = Path(__file__).with_name("runtime.py")
DEFAULT_CONCURRENCY = 2
# Lambda gives the init phase 10 s; a loaded laptop importing boto3 and Powertools needs more slack.
INIT_TIMEOUT_SECONDS = 60.0
LOG_LINES_KEPT = 20_000
END_MARK = "END RequestId: "


@dataclass
class LambdaContext:
    """A Lambda-shaped context for tests that call a handler directly, in this process."""

    function_name: str
    memory_limit_in_mb: int = 256
    timeout_seconds: int = 30
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default_factory=lambda: 0.0)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    concurrency: int = DEFAULT_CONCURRENCY
    # Test-only: modules or .py files imported in each new environment before the handler (fault injection).
    preload: list[str] = field(default_factory=list)


@dataclass
class Invocation:
    function: str
    ok: bool
    duration_ms: float
    error_type: str | None = None
    request_id: str = ""
    cold_start_ms: float | None = None
    environment: int = 0
    cpu_ms: float = 0.0


@dataclass
class ColdStart:
    function: str
    environment: int
    init_ms: float
    total_ms: float


class LogSink:
    """Every environment's output: kept per function, and copied to the current ``sys.stdout``."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.lines: dict[str, collections.deque[str]] = {}
        self._lock = threading.Lock()

    def write(self, function: str, line: str) -> None:
        with self._lock:
            self.lines.setdefault(function, collections.deque(maxlen=LOG_LINES_KEPT)).append(line)
        # Embedded-metric-format lines become CloudWatch metrics on AWS, and START/END lines are
        # the runtime's bookkeeping: kept in the function's log, not echoed to the terminal.
        if self.echo and not line.startswith(('{"_aws"', END_MARK, "START RequestId: ")):
            with contextlib.suppress(ValueError, OSError):  # a capture that has ended
                sys.stdout.write(line + "\n")
                sys.stdout.flush()

    def of(self, function: str) -> list[str]:
        with self._lock:
            return list(self.lines.get(function, ()))


# Third-party libraries a zygote imports once before forking environments (StackOptions.prefork).
PREFORK_MODULES = [
    "boto3",
    "botocore.session",
    "pydantic",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.parameters",
    "aws_lambda_powertools.utilities.idempotency",
]


_shared: list[Zygote] = []
_shared_lock = threading.Lock()


class ForkedProcess:
    """An environment forked by the zygote: not our child, so it is watched and killed by pid."""

    def __init__(self, pid: int, stdout: Any) -> None:
        self.pid = pid
        self.stdout = stdout

    def poll(self) -> int | None:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return -1
        return None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)


class Zygote:
    """One process that imported PREFORK_MODULES and forks environments from itself (tests: fast cold starts)."""

    def __init__(self, modules: list[str]) -> None:
        self.modules = modules
        self.process: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None
        self.lock = threading.Lock()

    def _start(self) -> socket.socket:
        parent, child = socket.socketpair()
        try:
            self.process = subprocess.Popen(  # noqa: S603  # nosec B603 - our runtime, no shell
                [sys.executable, "-I", "-u", str(RUNTIME), "--zygote", str(child.fileno()), *self.modules],
                env={"PATH": os.defpath, "LANG": "C.UTF-8"},
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        finally:
            child.close()
        self.control = parent
        return parent

    def fork(self, env: dict[str, str]) -> tuple[ForkedProcess, Connection]:
        conn_parent, conn_child = socket.socketpair()
        read, write = os.pipe()
        try:
            with self.lock:
                control = self.control or self._start()
                socket.send_fds(control, [json.dumps({"env": env}).encode()], [conn_child.fileno(), write])
                reply = control.recv(4096)
        finally:
            conn_child.close()
            os.close(write)
        if not reply:
            os.close(read)
            conn_parent.close()
            raise InitError({"errorType": "Runtime.ExitError", "errorMessage": "the embedded zygote exited"})
        pid = int(json.loads(reply)["pid"])
        return ForkedProcess(pid, os.fdopen(read, "rb")), Connection(conn_parent.detach())

    @classmethod
    def shared(cls) -> Zygote:
        """One zygote per process, shared by every stack it starts (it holds nothing stack-specific)."""
        with _shared_lock:
            if not _shared:
                zygote = cls(PREFORK_MODULES)
                atexit.register(zygote.close)
                _shared.append(zygote)
            return _shared[0]

    def close(self) -> None:
        with self.lock:
            if self.control is not None:
                self.control.close()
                self.control = None
            if self.process is not None:
                self.process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=5)
                self.process = None


class InitError(Exception):
    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage", "init failed"))
        self.payload = payload


class Environment:
    """One execution environment: a process running runtime.py for one function."""

    def __init__(
        self, function: LocalFunction, env: dict[str, str], number: int, sink: LogSink, zygote: Zygote | None = None
    ) -> None:
        self.function = function
        self.zygote = zygote
        self.number = number
        self.sink = sink
        self.env = env
        self.process: subprocess.Popen[bytes] | ForkedProcess | None = None
        self.conn: Connection | None = None
        self.init_ms = 0.0
        self.last_cpu_ms = 0.0
        self._ends: dict[str, threading.Event] = {}

    def start(self) -> float:
        """Start the process and import the handler; the init duration in ms (raises InitError)."""
        env = dict(self.env)
        if self.function.preload:
            env["HANDOFF_EMBEDDED_PRELOAD"] = os.pathsep.join(self.function.preload)
        if self.zygote is not None:
            self.process, self.conn = self.zygote.fork(env)
        else:
            parent, child = socket.socketpair()
            try:
                self.process = subprocess.Popen(  # noqa: S603  # nosec B603 - our runtime, no shell
                    [sys.executable, "-I", "-u", str(RUNTIME), str(child.fileno())],
                    env=env,
                    pass_fds=(child.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    cwd=self.function.code_dir,
                )
            finally:
                child.close()
            self.conn = Connection(parent.detach())
        threading.Thread(target=self._relay, name=f"logs-{self.function.logical_id}", daemon=True).start()
        if not self.conn.poll(INIT_TIMEOUT_SECONDS):
            self.kill()
            raise InitError({"errorType": "Runtime.InitTimeout", "errorMessage": "init phase timed out"})
        try:
            message = json.loads(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.kill()
            exited = {"errorType": "Runtime.ExitError", "errorMessage": "environment exited during init"}
            raise InitError(exited) from None
        if "init_error" in message:
            self.kill()
            raise InitError(message["init_error"])
        self.init_ms = float(message["init_ms"])
        return self.init_ms

    def _relay(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.sink.write(self.function.logical_id, line)
            if line.startswith(END_MARK):
                done = self._ends.pop(line[len(END_MARK) :].strip(), None)
                if done is not None:
                    done.set()
        for done in list(self._ends.values()):
            done.set()

    def invoke(self, event: Any, request_id: str, timeout: float) -> tuple[Any, str | None, bool]:
        """(payload, function_error, environment still usable); the handler's CPU ms in ``last_cpu_ms``."""
        self.last_cpu_ms = 0.0
        assert self.conn is not None
        deadline_ms = int((time.time() + timeout) * 1000)
        message = {"request_id": request_id, "deadline_ms": deadline_ms, "event": event}
        # The runtime writes "END RequestId: <id>" after the invocation's output, as Lambda does:
        # waiting for it means every line the invocation printed is in the log before we return.
        ended = self._ends[request_id] = threading.Event()
        try:
            self.conn.send_bytes(json.dumps(message, default=str).encode())
            if not self.conn.poll(timeout):
                self.kill()
                # What Lambda returns for a timed-out invocation (FunctionError "Unhandled"):
                # docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts
                return (
                    {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
                    },
                    "Unhandled",
                    False,
                )
            answer = json.loads(self.conn.recv_bytes())
        except (EOFError, OSError):
            code = self.process.poll() if self.process else None
            self.kill()
            return (
                {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}",
                },
                "Unhandled",
                False,
            )
        ended.wait(timeout=5)
        self.last_cpu_ms = float(answer.get("cpu_ms") or 0.0)
        if "error" in answer:
            return answer["error"], "Unhandled", True
        return answer.get("payload"), None, True

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        if isinstance(self.process, ForkedProcess):
            with contextlib.suppress(OSError):
                self.process.stdout.close()
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()


class FunctionPool:
    """A function's environments: started lazily, one invocation each at a time, at most ``concurrency``."""

    def __init__(
        self,
        function: LocalFunction,
        environment: Callable[[], dict[str, str]],
        sink: LogSink,
        on_cold: Any,
        zygote: Zygote | None = None,
    ) -> None:
        self.function = function
        self.zygote = zygote
        self.environment = environment
        self.sink = sink
        self.on_cold = on_cold
        self.idle: list[Environment] = []
        self.all: set[Environment] = set()
        self.starting = 0
        self.numbers = 0
        self.generation = 0
        """Bumped by ``recycle``: an environment of an older generation is never reused."""
        self.generations: dict[Environment, int] = {}
        self.cond = threading.Condition()
        self.closed = False

    def acquire(self) -> tuple[Environment, ColdStart | None]:
        with self.cond:
            while True:
                if self.closed:
                    raise RuntimeError(f"{self.function.logical_id}: the embedded stack has stopped")
                while self.idle:
                    env = self.idle.pop()
                    if env.alive():
                        return env, None
                    self.all.discard(env)
                    self.generations.pop(env, None)
                if len(self.all) + self.starting < max(1, self.function.concurrency):
                    self.starting += 1
                    self.numbers += 1
                    number, generation = self.numbers, self.generation
                    break
                self.cond.wait()
        env = Environment(self.function, self.environment(), number, self.sink, self.zygote)
        started = time.perf_counter()
        try:
            init_ms = env.start()
        except BaseException:
            with self.cond:
                self.starting -= 1
                self.cond.notify()
            raise
        cold = ColdStart(self.function.logical_id, number, init_ms, (time.perf_counter() - started) * 1000)
        with self.cond:
            self.starting -= 1
            self.all.add(env)
            self.generations[env] = generation
        self.on_cold(cold)
        return env, cold

    def release(self, env: Environment, reusable: bool) -> None:
        with self.cond:
            current = self.generations.get(env) == self.generation
            if reusable and current and env.alive() and not self.closed:
                self.idle.append(env)
            else:
                self.all.discard(env)
                self.generations.pop(env, None)
                env.kill()
            self.cond.notify()

    def recycle(self) -> None:
        """Drop every environment (the next invocations start fresh ones, e.g. after a code change).

        Idle ones are killed now; busy ones finish their invocation and are killed when released, so no
        environment started before the recycle (without a new preload hook, say) serves another event.
        """
        with self.cond:
            self.generation += 1
            idle, self.idle = self.idle, []
            for env in idle:
                self.all.discard(env)
                self.generations.pop(env, None)
        for env in idle:
            env.kill()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            envs = list(self.all)
            self.all.clear()
            self.idle.clear()
            self.generations.clear()
            self.cond.notify_all()
        for env in envs:
            env.kill()


class FunctionRegistry:
    """Functions by physical name, their environment pools, and a record of every invocation."""

    def __init__(
        self, echo_logs: bool = True, announce: Callable[[str], None] | None = None, prefork: bool = False
    ) -> None:
        self.zygote = Zygote.shared() if prefork else None
        self.functions: dict[str, LocalFunction] = {}
        self.pools: dict[str, FunctionPool] = {}
        self.invocations: list[Invocation] = []
        self.cold_starts: list[ColdStart] = []
        self.logs = LogSink(echo=echo_logs)
        self.announce = announce
        self.environment_for: Callable[[LocalFunction], dict[str, str]] = lambda f: dict(f.environment)
        self._lock = threading.Lock()
        self.last_events: dict[str, Any] = {}

    def add(self, function: LocalFunction) -> None:
        self.functions[function.name] = function
        self.pools[function.name] = FunctionPool(
            function, lambda: self.environment_for(function), self.logs, self._cold_start, self.zygote
        )

    def by_logical_id(self, logical_id: str) -> LocalFunction:
        for function in self.functions.values():
            if function.logical_id == logical_id:
                return function
        raise KeyError(logical_id)

    def pool(self, logical_id: str) -> FunctionPool:
        return self.pools[self.by_logical_id(logical_id).name]

    def _cold_start(self, cold: ColdStart) -> None:
        with self._lock:
            self.cold_starts.append(cold)
        if self.announce is not None:
            how = ", preforked" if self.zygote is not None else ""
            self.announce(f"cold start {cold.function} {cold.init_ms:.0f} ms (environment {cold.environment}{how})")

    def invoke(self, name: str, event: Any) -> tuple[Any, str | None]:
        """Run one invocation in a free environment; (payload, function_error) exactly as Lambda returns them."""
        function = self.functions.get(name) or self.functions.get(name.rsplit(":", 1)[-1])
        if function is None:
            raise KeyError(f"no embedded function named {name!r}")
        self.last_events[function.logical_id] = event
        pool = self.pools[function.name]
        request_id = str(uuid.uuid4())
        try:
            env, cold = pool.acquire()
        except InitError as exc:
            payload = {**exc.payload, "requestId": request_id}
            self._record(Invocation(function.logical_id, False, 0.0, str(payload.get("errorType")), request_id))
            return payload, "Unhandled"
        invoked = time.perf_counter()
        payload, error, reusable = env.invoke(event, request_id, float(function.timeout))
        pool.release(env, reusable)
        record = Invocation(
            function.logical_id,
            error is None,
            (time.perf_counter() - invoked) * 1000,
            None if error is None else str((payload or {}).get("errorType")),
            request_id,
            cold.total_ms if cold else None,
            env.number,
            env.last_cpu_ms,
        )
        self._record(record)
        return payload, error

    def _record(self, record: Invocation) -> None:
        with self._lock:
            self.invocations.append(record)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
