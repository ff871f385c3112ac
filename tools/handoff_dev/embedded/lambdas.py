"""Run the template's Lambda functions in this process.

The embedded stack has no Docker, so a function is its handler module loaded
from ``CodeUri`` + ``Handler`` and called with a Lambda-shaped context. An
exception becomes what Lambda reports: ``FunctionError`` and a payload with
``errorType`` / ``errorMessage``, which Step Functions matches in Retry/Catch.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass
class LambdaContext:
    """The attributes Powertools and handlers read from the real context."""

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
    _module: ModuleType | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> Callable[[Any, Any], Any]:
        module_name, _, attribute = self.handler.rpartition(".")
        with self._lock:
            if self._module is None:
                path = self.code_dir / f"{module_name}.py"
                unique = f"handoff_function_{self.logical_id}"
                spec = importlib.util.spec_from_file_location(unique, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load handler module {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[unique] = module
                spec.loader.exec_module(module)
                self._module = module
        handler: Callable[[Any, Any], Any] = getattr(self._module, attribute)
        return handler


@dataclass
class Invocation:
    function: str
    ok: bool
    duration_ms: float
    error_type: str | None = None


class FunctionRegistry:
    """Functions by physical name, with a record of every invocation."""

    def __init__(self) -> None:
        self.functions: dict[str, LocalFunction] = {}
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self.last_events: dict[str, Any] = {}

    def add(self, function: LocalFunction) -> None:
        self.functions[function.name] = function

    def by_logical_id(self, logical_id: str) -> LocalFunction:
        for function in self.functions.values():
            if function.logical_id == logical_id:
                return function
        raise KeyError(logical_id)

    def invoke(self, name: str, event: Any) -> tuple[Any, str | None]:
        """Call the handler; return (payload, function_error) exactly as Lambda would."""
        function = self.functions.get(name) or self.functions.get(name.rsplit(":", 1)[-1])
        if function is None:
            raise KeyError(f"no embedded function named {name!r}")
        self.last_events[function.logical_id] = event
        context = LambdaContext(function.name, function.memory, function.timeout)
        started = time.perf_counter()
        try:
            handler = function.load()
            payload = handler(event, context)
            error: str | None = None
            record = Invocation(function.logical_id, True, (time.perf_counter() - started) * 1000)
        except Exception as exc:  # noqa: BLE001 - reported as Lambda reports it
            payload = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-3:],
            }
            error = "Unhandled"
            record = Invocation(function.logical_id, False, (time.perf_counter() - started) * 1000, type(exc).__name__)
        with self._lock:
            self.invocations.append(record)
        return payload, error

