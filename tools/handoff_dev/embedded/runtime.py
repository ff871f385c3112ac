"""One Lambda execution environment: a fresh interpreter that runs one function, one event at a time.

The embedded stack starts this file as its own process (``python -I runtime.py
FD``) with exactly the environment Lambda would give the function, and talks to
it over the socket ``FD`` with ``multiprocessing.connection`` messages. It is
the stand-in for Lambda's runtime interface client: it imports the handler
(the init phase, timed and reported back as the cold start), then answers
invocations with the handler's result or with the error payload Lambda reports
(``errorType`` / ``errorMessage`` / ``stackTrace``).

Only the standard library is imported before the handler, so the function's
own imports are what the cold start measures, as on Lambda.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any


class LambdaContext:
    """The context object of the Python runtime (attribute names as awslambdaric sets them)."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # awslambdaric reads it from the environment: a string, as on AWS.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        region = os.environ.get("AWS_REGION", "us-east-1")
        account = os.environ.get("HANDOFF_EMBEDDED_ACCOUNT_ID", "123456789012")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{self.function_name}"
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """What Lambda's Python runtime returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": [line.rstrip("\n") for line in traceback.format_tb(exc.__traceback__)],
    }


def _decimal(value: Any) -> Any:
    """awslambdaric's JSON fallback: Decimal becomes a number, anything else is a marshal error."""
    import decimal

    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Unable to marshal response: {value!r} is not JSON serializable")


def load_handler(spec: str) -> Any:
    module_name, _, attribute = spec.rpartition(".")
    module = importlib.import_module(module_name.replace("/", "."))
    return getattr(module, attribute)


def _preload(hook: str) -> None:
    """Import a test hook: a module name, or a .py file run as a module (fault injection)."""
    if not hook.endswith(".py"):
        importlib.import_module(hook)
        return
    spec = importlib.util.spec_from_file_location(f"embedded_preload_{abs(hash(hook))}", hook)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load preload hook {hook}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def main(fd: int) -> None:
    conn = Connection(fd)
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    started = time.perf_counter()
    try:
        # Test-only hooks (the embedded stack's fault injection); never set by the template.
        for hook in filter(None, os.environ.pop("HANDOFF_EMBEDDED_PRELOAD", "").split(os.pathsep)):
            _preload(hook)
        handler = load_handler(os.environ["_HANDLER"])
    except Exception as exc:  # noqa: BLE001 - reported as Lambda reports an init failure
        traceback.print_exc()
        sys.stdout.flush()
        error_type = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else f"Runtime.{type(exc).__name__}"
        conn.send_bytes(json.dumps({"init_error": error_payload(exc, error_type)}).encode())
        return
    conn.send_bytes(json.dumps({"ready": True, "init_ms": (time.perf_counter() - started) * 1000}).encode())
    while True:
        try:
            message = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        context = LambdaContext(message["request_id"], int(message["deadline_ms"]))
        print(f"START RequestId: {context.aws_request_id} Version: {context.function_version}", flush=True)
        if message.get("trace_id"):
            os.environ["_X_AMZN_TRACE_ID"] = message["trace_id"]
        answer: dict[str, Any]
        cpu_started = time.process_time()
        try:
            result = handler(message["event"], context)
            try:
                answer = {"payload": json.loads(json.dumps(result, default=_decimal))}
            except (TypeError, ValueError) as exc:
                answer = {"error": error_payload(exc, "Runtime.MarshalError")}
        except Exception as exc:  # noqa: BLE001 - reported as Lambda reports it
            payload = error_payload(exc)
            payload["requestId"] = context.aws_request_id
            print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
            answer = {"error": payload}
        answer["cpu_ms"] = (time.process_time() - cpu_started) * 1000
        sys.stderr.flush()
        print(f"END RequestId: {context.aws_request_id}", flush=True)
        conn.send_bytes(json.dumps(answer).encode())


def zygote(fd: int, preload: list[str]) -> None:
    """Import ``preload`` once, then fork one environment per request (tests only: fast cold starts).

    Each request on the socket ``fd`` carries the environment's variables and two
    file descriptors (its control socket and its log pipe). The child takes them
    as its stdin-less stdout/stderr and its connection, replaces ``os.environ``
    with exactly the variables sent, and runs ``main``: the handler is imported
    after the fork, so module state is still the environment's own. Only the
    third-party libraries in ``preload`` are shared, and the init time reported
    no longer includes importing them.
    """
    import signal
    import socket

    for name in preload:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    control = socket.socket(fileno=fd)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 20, 2)
        except OSError:
            return
        if not data:
            return
        request = json.loads(data)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            control.close()
            os.dup2(fds[1], 1)
            os.dup2(fds[1], 2)
            os.close(fds[1])
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.environ.clear()
            os.environ.update(request["env"])
            try:
                main(fds[0])
            finally:
                sys.stdout.flush()
                os._exit(0)
        for descriptor in fds:
            os.close(descriptor)
        control.sendall(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    if sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]), sys.argv[3:])
    else:
        main(int(sys.argv[1]))
