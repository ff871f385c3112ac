"""Embedded throughput, acknowledgement times, and the call profile the cost model needs.

200 mixed signed sample calls (every call sample, each re-keyed to a fresh call
id) are posted through the embedded stack's HTTP API by a few concurrent
senders; the run ends when every execution is terminal or waiting for review.
While it runs, every AWS request any code makes (the functions, Powertools, the
Step Functions interpreter's service integrations) is counted per service and
operation where it reaches the stack's AWS endpoint (the functions run in their
own processes); the harness's own polling, signed with its administrator key, is
excluded. State transitions are counted from each execution's
history, retries included.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from handoff.ingest.envelope import CallEvent, parse_webhook
from handoff_dev import ops
from handoff_dev.embedded.stack import PROJECT_ROOT, EmbeddedStack, StackOptions
from handoff_dev.webhooks import post_signed

SAMPLES = PROJECT_ROOT / "events" / "dialnexa"
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


# --------------------------------------------------------------------------- DynamoDB item sizes
def attribute_bytes(value: dict[str, Any]) -> int:
    """The size DynamoDB bills for one typed attribute value (AWS "Item sizes and formats").

    Strings and binaries by their bytes, numbers by about one byte per two digits plus one,
    maps and lists 3 bytes plus their elements (1 byte each plus the element), names included.
    """
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        return (len(str(inner).lstrip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
    if kind == "B":
        return len(inner) * 3 // 4 if isinstance(inner, str) else len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_bytes({kind[0]: v}) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_bytes(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + attribute_bytes(v) for v in inner)
    return 1


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + attribute_bytes(value) for name, value in item.items())


@dataclass(frozen=True)
class ItemWrite:
    """One item written: its table and key, the size of the item a Put sent, and a transaction's double price."""

    table: str
    key: str
    put_bytes: int = 0
    factor: int = 1


def item_writes(operation: str, request: Any) -> list[ItemWrite]:
    """The items one DynamoDB write request writes (read from moto's view of the request)."""
    try:
        body = json.loads(request.body if isinstance(request.body, str | bytes) else request.raw_body)
    except (AttributeError, TypeError, ValueError):
        return []

    def one(table: str, spec: dict[str, Any], factor: int = 1) -> ItemWrite:
        item = spec.get("Item")
        key = spec.get("Key") or {k: v for k, v in (item or {}).items() if k in ("pk", "sk")}
        return ItemWrite(table, json.dumps(key, sort_keys=True), item_bytes(item) if item else 0, factor)

    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [one(str(body.get("TableName", "")), body)]
    if operation == "TransactWriteItems":
        out = []
        for entry in body.get("TransactItems") or []:
            for kind in ("Put", "Update", "Delete"):
                if kind in entry:
                    out.append(one(str(entry[kind].get("TableName", "")), entry[kind], factor=2))
        return out
    if operation == "BatchWriteItem":
        return [
            one(table, entry.get("PutRequest") or entry.get("DeleteRequest") or {})
            for table, entries in (body.get("RequestItems") or {}).items()
            for entry in entries
        ]
    return []


def write_units(writes: list[ItemWrite], final_bytes: dict[tuple[str, str], int]) -> float:
    """Write request units: each write by the larger of the item before and after, in 1 KB steps.

    The item after the run stands in for "before or after" of an update (a call record only
    grows); a Put is billed by what it sent when larger; an item gone by the end (a claim
    deleted) by its largest Put, else 1 KB.
    """
    largest_put: dict[tuple[str, str], int] = {}
    for w in writes:
        largest_put[(w.table, w.key)] = max(largest_put.get((w.table, w.key), 0), w.put_bytes)
    units = 0.0
    for w in writes:
        size = max(final_bytes.get((w.table, w.key), 0), largest_put[(w.table, w.key)])
        units += w.factor * max(1, math.ceil(size / 1024))
    return units


# --------------------------------------------------------------------------- counting AWS requests
class AwsRequestCounter:
    """Counts (service, operation) of every request that reaches the embedded stack, except the harness's.

    Functions run in their own processes, so the count is taken where every
    request arrives: the stack's AWS endpoint. Requests signed with the
    harness's (administrator) key are the benchmark's own polling and are left
    out; the functions' and the Step Functions interpreter's (their roles') count.
    """

    SERVICE_NAMES = {"states": "stepfunctions"}

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.enabled = False
        self.harness_key = ""
        self._lock = threading.Lock()
        self.item_writes: list[ItemWrite] = []
        """Every DynamoDB item write (a transaction's items included), to bill it by its item's real size."""

    def _observed(self, service: str, operation: str, access_key: str, request: Any = None) -> None:
        if not self.enabled or access_key == self.harness_key:
            return
        writes = item_writes(operation, request) if service == "dynamodb" and operation in WRITES else []
        with self._lock:
            self.counts[(self.SERVICE_NAMES.get(service, service), operation)] += 1
            self.item_writes.extend(writes)

    def install(self) -> None:
        from handoff_dev.embedded import iam

        iam.observe(self._observed)

    def uninstall(self) -> None:
        from handoff_dev.embedded import iam

        iam.unobserve(self._observed)

    @contextmanager
    def harness(self) -> Iterator[None]:
        """Kept for callers: the harness's requests are told apart by their key."""
        yield

    def total(self, service: str, operations: set[str] | None = None) -> int:
        return sum(n for (s, op), n in self.counts.items() if s == service and (operations is None or op in operations))


# --------------------------------------------------------------------------- the calls
class WrongCallAnsweredError(RuntimeError):
    """A 2xx whose body does not name the call posted: two requests crossed (the bench stops at once)."""

    def __init__(self, call_id: str, status: int, text: str) -> None:
        super().__init__(f"POST of {call_id} answered HTTP {status} naming another call or none: {text[:200]}")


def answer_names_call(text: str, call_id: str) -> bool:
    """Whether an ingest answer's body names ``call_id`` (``{"call_id": ...}``)."""
    try:
        return bool(json.loads(text).get("call_id") == call_id)
    except (ValueError, AttributeError):
        return False


def call_bodies(count: int, prefix: str = "bench") -> list[tuple[str, bytes]]:
    """``count`` signed-ready bodies cycling through every call sample, each with its own call id."""
    samples: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(SAMPLES.glob("*.json")):
        envelope = parse_webhook(path.read_bytes())
        if isinstance(envelope, CallEvent):
            samples.append((path, json.loads(path.read_bytes())))
    bodies: list[tuple[str, bytes]] = []
    for i in range(count):
        _, body = samples[i % len(samples)]
        copy = json.loads(json.dumps(body))
        call_id = f"{prefix}_{i:04d}"
        set_call_id(copy, call_id)
        bodies.append((call_id, json.dumps(copy).encode()))
    return bodies


def set_call_id(body: dict[str, Any], call_id: str) -> None:
    """Re-key a sample body whatever its envelope variant."""
    call = (body.get("payload") or {}).get("call") if isinstance(body.get("payload"), dict) else None
    if isinstance(call, dict) and "id" in call:
        call["id"] = call_id
    elif "session_id" in body:
        body["session_id"] = call_id
    elif "call_id" in body:
        body["call_id"] = call_id
    elif isinstance(body.get("call"), dict):
        body["call"]["id" if "id" in body["call"] else "call_id"] = call_id
    else:
        raise ValueError("sample body has no call id to re-key")


@dataclass
class ExecutionFacts:
    call_id: str
    status: str
    outcome: str
    transitions: int
    retries: int


def transitions_of(sfn: Any, arn: str) -> tuple[int, int]:
    """(billable state transitions, retried task attempts) from an execution's history."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    kinds = Counter(str(e["type"]) for e in events)
    entered = sum(n for k, n in kinds.items() if k.endswith("StateEntered"))
    task_states = kinds.get("TaskStateEntered", 0)
    scheduled = kinds.get("TaskScheduled", 0) + kinds.get("LambdaFunctionScheduled", 0)
    retries = max(0, scheduled - task_states)
    return entered + retries, retries


@dataclass
class ThroughputRun:
    calls: int
    senders: int
    ack_ms: list[float]
    statuses: Counter[int]
    wall_seconds: float
    executions: list[ExecutionFacts]
    requests: Counter[tuple[str, str]]
    invocations: dict[str, list[tuple[float, float]]]  # function -> [(handler CPU ms, wall ms)]
    call_record_kb: float
    unsettled: dict[str, str] = field(default_factory=dict)
    """Calls that did not settle, each with why (HTTP status, record state, the state it stopped in)."""
    cold_starts: dict[str, list[float]] = field(default_factory=dict)  # function -> [init ms]
    log_kb_per_call: float = 0.0  # every function's log stream, START/END lines included, per call
    ddb_write_units: float = 0.0  # every item write billed by its item's size (write_units)

    @property
    def degraded(self) -> bool:
        return bool(self.unsettled)

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.wall_seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.ack_ms)
        index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
        return ordered[index]


SWEEP_AFTER_SECONDS = 20.0


def _record_state(stack: EmbeddedStack, call_id: str) -> str:
    """What the call record says (started, recorded but not started, absent), for a call that did not settle."""
    try:
        item = (
            stack.client("dynamodb")
            .get_item(TableName=stack.physical("HandoffTable"), Key={"pk": {"S": f"CALL#{call_id}"}})
            .get("Item")
        )
    except Exception as exc:  # noqa: BLE001 - a diagnosis must not fail the bench
        return f"record unreadable ({type(exc).__name__})"
    if not item:
        return "no call record"
    fields = {k: next(iter(v.values())) for k, v in item.items() if k in ("status", "state", "outcome", "started")}
    return "record " + (", ".join(f"{k}={v}" for k, v in sorted(fields.items())) or "present")


def _wait_all(
    stack: EmbeddedStack,
    counter: AwsRequestCounter,
    call_ids: list[str],
    timeout: float,
    statuses: dict[str, int] | None = None,
) -> dict[str, str]:
    """Wait until each call settles; return the calls that did not, each with why.

    A call whose POST was refused cannot settle and is not waited for. A call
    recorded but never started gets the scheduled sweep fired once (what AWS
    does every 5 minutes), then the wait goes on until ``timeout``.
    """
    statuses = statuses or {}
    refused = {c: f"POST answered HTTP {statuses[c]}" for c in call_ids if not 200 <= statuses.get(c, 200) < 300}
    with counter.harness():
        sfn = stack.client("stepfunctions")
        pending = [c for c in call_ids if c not in refused]
        not_started: set[str] = set()
        views: dict[str, Any] = {}
        began = time.monotonic()
        deadline = began + timeout
        swept = False
        while pending and time.monotonic() < deadline:
            still = []
            not_started = set()
            for call_id in pending:
                try:
                    view = ops.describe(sfn, ops.execution_arn_for(sfn, stack.state_machine_arn, call_id))
                except sfn.exceptions.ExecutionDoesNotExist:
                    still.append(call_id)
                    not_started.add(call_id)
                    continue
                views[call_id] = view
                if not view.settled:
                    still.append(call_id)
            pending = still
            if not_started and not swept and time.monotonic() - began > SWEEP_AFTER_SECONDS:
                swept = True
                stack.scheduler.fire(stack.physical("IngestFunction"))
            if pending:
                time.sleep(0.2)
        stack.delivery.wait_idle(timeout=max(1.0, deadline - time.monotonic()))
        why = dict(refused)
        for call_id in pending:
            if call_id in not_started:
                swept_note = "; the sweep ran and did not start it" if swept else ""
                why[call_id] = f"no execution ({_record_state(stack, call_id)}){swept_note}"
            else:
                view = views[call_id]
                why[call_id] = f"execution {view.status} at {view.current_state or '?'} after {timeout:.0f} s"
        return why


def run(calls: int = 200, senders: int = 8, timeout: float = 120.0, fault_rate: float = 0.0) -> ThroughputRun:
    """Post ``calls`` mixed signed calls and wait until all settle; count what AWS would bill."""
    counter = AwsRequestCounter()
    counter.install()
    try:
        with EmbeddedStack(
            StackOptions(
                port=0,
                aws_port=0,
                schedules=False,
                log_level="ERROR",
                # Throughput is work per second; the grace period is a deliberate wait for analysis.
                parameter_overrides={"AnalysisGraceSeconds": "0"},
            )
        ) as stack:
            if fault_rate:
                from handoff_dev.sandboxes.base import FaultPlan

                for sandbox in stack.sandboxes.values():
                    if sandbox.name != "slack":
                        sandbox.inject(FaultPlan(rate=fault_rate, kinds=("5xx", "429"), retry_after=0.1, seed=7))
            bodies = call_bodies(calls, prefix="bench_faulty" if fault_rate else "bench")
            url = f"{stack.api_url}/webhooks/dialnexa"
            secret = stack.options.webhook_secret
            session_local = threading.local()

            def send(item: tuple[str, bytes]) -> tuple[int, float]:
                session = getattr(session_local, "session", None)
                if session is None:
                    session = session_local.session = requests.Session()
                status, text, ack = post_signed(url, item[1], secret, session=session)
                if 200 <= status < 300 and not answer_names_call(text, item[0]):
                    raise WrongCallAnsweredError(item[0], status, text)
                return status, ack

            counter.harness_key = stack.harness_credentials["AWS_ACCESS_KEY_ID"]
            first_invocation = len(stack.registry.invocations)
            counter.enabled = True
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=senders) as pool:
                answers = list(pool.map(send, bodies))
            posted = {call_id: status for (call_id, _), (status, _) in zip(bodies, answers, strict=True)}
            unsettled = _wait_all(stack, counter, [c for c, _ in bodies], timeout, posted)
            wall = time.perf_counter() - started
            counter.enabled = False
            with counter.harness():
                sfn = stack.client("stepfunctions")
                facts = []
                for call_id, _ in bodies:
                    arn = ops.execution_arn_for(sfn, stack.state_machine_arn, call_id)
                    try:
                        view = ops.describe(sfn, arn)
                    except sfn.exceptions.ExecutionDoesNotExist:
                        facts.append(ExecutionFacts(call_id, "NOT_STARTED", "not started", 0, 0))
                        continue
                    transitions, retries = transitions_of(sfn, arn)
                    facts.append(ExecutionFacts(call_id, view.status, view.outcome, transitions, retries))
                record_kb = _mean_call_record_kb(stack, [c for c, _ in bodies])
                units = write_units(counter.item_writes, _final_item_bytes(stack, counter.item_writes))
            invocations = _invocation_timings(stack, first_invocation)
            log_bytes = _log_bytes(stack)
            return ThroughputRun(
                calls=calls,
                senders=senders,
                ack_ms=[ack for _, ack in answers],
                statuses=Counter(status for status, _ in answers),
                wall_seconds=wall,
                executions=facts,
                requests=Counter(counter.counts),
                invocations=invocations,
                call_record_kb=record_kb,
                unsettled=unsettled,
                cold_starts=_cold_starts(stack),
                log_kb_per_call=log_bytes / 1024 / max(1, calls),
                ddb_write_units=units,
            )
    finally:
        counter.uninstall()


def _invocation_timings(stack: EmbeddedStack, first: int) -> dict[str, list[tuple[float, float]]]:
    """(handler CPU ms, handler wall ms) of every invocation since ``first``, by function.

    The CPU time is measured inside the function's environment (its process), so
    the stack's own threads do not count; cold starts are reported separately.
    """
    timings: dict[str, list[tuple[float, float]]] = {}
    for invocation in stack.registry.invocations[first:]:
        timings.setdefault(invocation.function, []).append((invocation.cpu_ms, invocation.duration_ms))
    return timings


def _cold_starts(stack: EmbeddedStack) -> dict[str, list[float]]:
    """Init duration of every execution environment the run started, by function."""
    starts: dict[str, list[float]] = {}
    for cold in stack.registry.cold_starts:
        starts.setdefault(cold.function, []).append(round(cold.init_ms, 1))
    return starts


def _log_bytes(stack: EmbeddedStack) -> int:
    """Bytes every function wrote to its log stream in this stack's life (CloudWatch bills ingestion per byte)."""
    sink = stack.registry.logs
    return sum(len(line.encode()) + 1 for function in list(sink.lines) for line in sink.of(function))


def _mean_call_record_kb(stack: EmbeddedStack, call_ids: list[str]) -> float:
    ddb = stack.client("dynamodb")
    sizes = []
    for call_id in call_ids[:50]:
        item = ddb.get_item(TableName=stack.physical("HandoffTable"), Key={"pk": {"S": f"CALL#{call_id}"}}).get("Item")
        if item:
            sizes.append(item_bytes(item) / 1024)
    return statistics.mean(sizes) if sizes else 1.0


def _final_item_bytes(stack: EmbeddedStack, writes: list[ItemWrite]) -> dict[tuple[str, str], int]:
    """The size of every written item as the run left it (absent items are left out)."""
    ddb = stack.client("dynamodb")
    sizes: dict[tuple[str, str], int] = {}
    for table, key in {(w.table, w.key) for w in writes}:
        try:
            item = ddb.get_item(TableName=table, Key=json.loads(key)).get("Item")
        except Exception:  # noqa: BLE001, S112 - an unreadable key is billed by what was sent
            continue
        if item:
            sizes[(table, key)] = item_bytes(item)
    return sizes


def profile_inputs(run: ThroughputRun) -> dict[str, Any]:
    """Per-call averages the cost model consumes (``handoff_dev.cost.CallProfile`` fields)."""
    n = run.calls
    req = run.requests

    def per_call(service: str, operations: set[str] | None = None) -> float:
        return sum(v for (s, op), v in req.items() if s == service and (operations is None or op in operations)) / n

    functions = {
        name: {
            "invocations": len(timings) / n,
            "cpu_ms": statistics.median(cpu for cpu, _ in timings),
            "wait_ms": statistics.median(max(0.0, wall - cpu) for cpu, wall in timings),
        }
        for name, timings in sorted(run.invocations.items())
    }
    return {
        "functions": functions,
        "transitions": statistics.mean(e.transitions for e in run.executions),
        "ddb_writes": per_call("dynamodb", WRITES),
        "ddb_write_units": round(run.ddb_write_units / n, 2),
        "ddb_reads": per_call("dynamodb", READS),
        "call_record_kb": round(run.call_record_kb, 2),
        "eventbridge_events": per_call("events", {"PutEvents"}),
        "sqs_requests": per_call("sqs"),
        "http_api_requests": 1.0,
        "secrets_calls": per_call("secretsmanager"),
        # One trace per call: in Lambda botocore sends the function's _X_AMZN_TRACE_ID as the
        # X-Amzn-Trace-Id header (botocore.handlers.add_recursion_detection_header), Step Functions
        # continues the trace StartExecution carries and EventBridge passes a PutEvents trace on to its
        # targets, so ingest, the execution and notify share the trace ingest started.
        "traces": 1.0,
        "log_kb": round(run.log_kb_per_call, 2),
    }
