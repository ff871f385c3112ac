"""The one place where the embedded stack fills in what moto does not deliver.

moto emulates the AWS APIs, but three deliveries that AWS performs are not
there without Docker: a Lambda invoke running the function, an EventBridge rule
invoking a Lambda target (with the target's retry policy and dead-letter
queue), and a scheduled rule firing. One gap is a moto bug: SendTaskFailure
drops its ``cause``. Each shim below is small, tested in
tests/integration/test_embedded_shims.py, and installed only by the embedded
stack; function code never knows about them.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from handoff_dev.embedded.lambdas import FunctionRegistry

_installed: dict[str, Any] = {}
EMBEDDED_MAX_RETRIES = 5


class EventDelivery:
    """Delivers EventBridge events to Lambda targets asynchronously, like AWS does."""

    def __init__(self, registry: FunctionRegistry, max_retry_delay: float = 0.5) -> None:
        self.registry = registry
        self.max_retry_delay = max_retry_delay
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="eventbridge")
        self.pending: set[Future[None]] = set()
        self.lock = threading.Lock()
        self.dead_lettered: list[dict[str, Any]] = []

    def submit(self, target: dict[str, Any], event: dict[str, Any], rule_arn: str) -> None:
        future = self.pool.submit(self._deliver, target, event, rule_arn)
        with self.lock:
            self.pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self.lock:
            self.pending.discard(future)

    def _deliver(self, target: dict[str, Any], event: dict[str, Any], rule_arn: str) -> None:
        policy = target.get("RetryPolicy") or {}
        # AWS retries with exponential backoff for up to a day; locally a few quick tries
        # show the same behaviour (retry, then the target's dead-letter queue) in seconds.
        attempts = 1 + min(int(policy.get("MaximumRetryAttempts", 185)), EMBEDDED_MAX_RETRIES)
        max_age = float(policy.get("MaximumEventAgeInSeconds", 86400))
        started = time.monotonic()
        payload = _lambda_event(event)
        error: str | None = None
        for attempt in range(attempts):
            _, error = self.registry.invoke(target["Arn"].rsplit(":", 1)[-1], payload)
            if error is None:
                return
            if time.monotonic() - started > max_age:
                break
            time.sleep(min(self.max_retry_delay, 0.05 * 2**attempt))
        self._dead_letter(target, payload, rule_arn, error)

    def _dead_letter(self, target: dict[str, Any], payload: dict[str, Any], rule_arn: str, error: str | None) -> None:
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        record = {"target": target["Arn"], "rule": rule_arn, "error": error, "event": payload}
        self.dead_lettered.append(record)
        if not dlq:
            return
        from moto.sqs.models import sqs_backends

        region, account, name = dlq.split(":")[3], dlq.split(":")[4], dlq.split(":")[5]
        backend = sqs_backends[account][region]
        backend.send_message(
            name,
            json.dumps(payload, default=str),
            message_attributes={
                "RULE_ARN": {"DataType": "String", "StringValue": rule_arn},
                "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
                "ERROR_CODE": {"DataType": "String", "StringValue": str(error)},
            },
        )

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                pending = list(self.pending)
            if not pending:
                return True
            for future in pending:
                # A failed delivery is dead-lettered by _deliver, never raised here.
                with contextlib.suppress(Exception):
                    future.result(timeout=max(0.0, deadline - time.monotonic()))
        return False


def _lambda_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a Lambda target receives it (ISO time, string fields)."""
    payload = copy.deepcopy(event)
    when = payload.get("time")
    if isinstance(when, int | float):
        payload["time"] = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return payload


def install(registry: FunctionRegistry, delivery: EventDelivery) -> None:
    """Patch moto so Lambda invokes and EventBridge Lambda targets run in process."""
    from moto.awslambda.models import LambdaFunction
    from moto.events.models import Rule

    _installed["registry"] = registry
    _installed["delivery"] = delivery
    if _installed.get("patched"):
        return

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes | str:
        reg: FunctionRegistry = _installed["registry"]
        event = json.loads(body) if body else {}
        if request_headers.get("x-amz-invocation-type") == "Event":
            threading.Thread(target=reg.invoke, args=(self.function_name, event), daemon=True).start()
            return ""
        payload, error = reg.invoke(self.function_name, event)
        if error:
            response_headers["x-amz-function-error"] = error
        return json.dumps(payload, default=str).encode()

    original_send = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        lambda_targets = [t for t in self.targets if ":lambda:" in t["Arn"]]
        others = [t for t in self.targets if ":lambda:" not in t["Arn"]]
        for target in lambda_targets:
            _installed["delivery"].submit(target, dict(original_event), self.arn)
        if others:
            clone = copy.copy(self)
            clone.targets = others
            original_send(clone, original_event, transform_input)

    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        """moto's SendTaskFailure drops ``cause``; AWS keeps it (a reviewer's rejection reason)."""
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    _installed["patched"] = True


class Scheduler:
    """Fires the template's Schedule events (rate expressions) while the stack runs."""

    def __init__(self, registry: FunctionRegistry) -> None:
        self.registry = registry
        self.jobs: list[tuple[str, float]] = []
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, function_name: str, expression: str) -> None:
        self.jobs.append((function_name, parse_rate(expression)))

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        next_run = {name: time.monotonic() + period for name, period in self.jobs}
        while not self.stop_event.wait(1.0):
            now = time.monotonic()
            for name, period in self.jobs:
                if now >= next_run[name]:
                    next_run[name] = now + period
                    self.fire(name)

    def fire(self, function_name: str) -> Any:
        event = {
            "version": "0",
            "id": "scheduled",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [],
            "detail": {},
        }
        payload, _ = self.registry.invoke(function_name, event)
        return payload

    def stop(self) -> None:
        self.stop_event.set()


def parse_rate(expression: str) -> float:
    """Seconds between runs for ``rate(N unit)``; cron expressions are not run locally."""
    inner = expression.strip()
    if not inner.startswith("rate(") or not inner.endswith(")"):
        raise ValueError(f"only rate() schedules run on the embedded stack, got {expression!r}")
    amount, unit = inner[5:-1].split()
    seconds = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}[unit]
    return int(amount) * seconds
