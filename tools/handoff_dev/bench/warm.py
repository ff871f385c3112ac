"""Warm cost per event: CPU time per invocation with AWS answered in memory.

AWS is answered at botocore's ``before-send`` hook, so both sides still pay what
a real call costs the client (serialising, signing, parsing the answer) but no
network; botocore's Stubber answers earlier (``before-call``) and would make the
floor nearly free. The floor makes the same AWS calls (PutItem of the call record, StartExecution,
UpdateItem) through the same stubbed clients with no Handoff code around them,
so the ratio is what verification, parsing, validation, logging and metrics add
to the AWS work every ingest has to do anyway.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from handoff.ingest.signature import sign
from handoff_dev.bench.coldstart import FUNCTIONS_DIR, LAMBDA_LIKE_ENV
from handoff_dev.embedded.http_api import build_event
from handoff_dev.embedded.lambdas import LambdaContext
from handoff_dev.embedded.stack import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "events" / "dialnexa" / "variant-a_call-ended_completed_inbound_reschedule-booking.json"
SECRET = "whsec_bench_only_not_a_real_secret"  # noqa: S105 - fake key for an in-memory benchmark
MACHINE = LAMBDA_LIKE_ENV["HANDOFF_STATE_MACHINE_ARN"]


@dataclass(frozen=True)
class WarmCost:
    function: str
    cpu_ms: float
    floor_cpu_ms: float | None
    invocations: int
    body_bytes: int

    @property
    def ratio(self) -> float | None:
        return self.cpu_ms / self.floor_cpu_ms if self.floor_cpu_ms else None


def transcript(kb: int) -> str:
    """A plausible transcript of about ``kb`` KB (agent/caller turns)."""
    turns = [
        "Agent: Thanks for calling, how can I help you today?",
        "Caller: I need to move my delivery booking BK-48213 to Saturday afternoon please.",
        "Agent: Of course, can you confirm the e-mail on the booking?",
        "Caller: It is elena.marsh@example.com and my number is 555 555 0142.",
    ]
    lines: list[str] = []
    size = 0
    while size < kb * 1024:
        line = turns[len(lines) % len(turns)]
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def ingest_bodies(count: int, transcript_kb: int) -> list[bytes]:
    base = json.loads(SAMPLE.read_bytes())
    text = transcript(transcript_kb)
    bodies = []
    for i in range(count):
        body = json.loads(json.dumps(base))
        body["payload"]["call"]["id"] = f"call_bench_{i:06d}"
        body["payload"]["call"]["transcript"] = text
        bodies.append(json.dumps(body).encode())
    return bodies


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Function logs and EMF metrics go to stdout as on Lambda; here to /dev/null (the write still costs)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def lambda_env() -> Iterator[None]:
    from handoff.config import settings

    saved = {k: os.environ.get(k) for k in (*LAMBDA_LIKE_ENV, "POWERTOOLS_TRACE_DISABLED")}
    settings.cache_clear()  # settings are read once per process: re-read them here and after
    os.environ.update({k: v for k, v in LAMBDA_LIKE_ENV.items() if k != "AWS_LAMBDA_FUNCTION_NAME"})
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon here; the SDK would only log
    try:
        yield
    finally:
        settings.cache_clear()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_handler(function: str) -> ModuleType:
    layer = str(PROJECT_ROOT / "layers" / "handoff")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    name = f"handoff_bench_{function}"
    spec = importlib.util.spec_from_file_location(name, FUNCTIONS_DIR / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


@dataclass
class InMemoryAws:
    """Canned answers per JSON-protocol target, returned at ``before-send``; counts the calls."""

    secret_string: str
    calls: int = 0

    def answer(self, request: Any, **_: Any) -> AWSResponse:
        self.calls += 1
        target = (
            str(request.headers.get("X-Amz-Target", b""), "utf-8")
            if isinstance(request.headers.get("X-Amz-Target"), bytes)
            else str(request.headers.get("X-Amz-Target", ""))
        )
        operation = target.rsplit(".", 1)[-1]
        body: dict[str, Any] = {}
        if operation == "StartExecution":
            name = json.loads(request.body)["name"]
            body = {"executionArn": f"{MACHINE}:{name}", "startDate": time.time()}
        elif operation == "GetSecretValue":
            body = {"Name": "bench", "SecretString": self.secret_string}
        payload = json.dumps(body).encode()
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["Content-Length"] = str(len(payload))
        return AWSResponse(request.url, 200, headers, _Raw(payload))

    def client(self, service: str) -> Any:
        client = boto3.client(  # type: ignore[call-overload]
            service,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",  # noqa: S106
        )
        client.meta.events.register("before-send", self.answer)
        return client


def _cpu_per_call(run: Callable[[int], None], count: int, rounds: int) -> float:
    per_round: list[float] = []
    for r in range(rounds):
        started = time.process_time()
        for i in range(count):
            run(r * count + i)
        per_round.append((time.process_time() - started) * 1000 / count)
    return statistics.median(per_round)


def ingest(count: int = 200, rounds: int = 5, transcript_kb: int = 30) -> WarmCost:
    """Median CPU ms per ingest invocation vs the same three AWS calls made bare."""
    from aws_lambda_powertools.utilities.parameters import base as parameters_base
    from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider

    from handoff.ingest import wiring
    from handoff.ingest.service import IngestService, StepFunctionsStarter
    from handoff.store import DynamoCallStore

    total = count * rounds
    bodies = ingest_bodies(total + 1, transcript_kb)
    aws = InMemoryAws(json.dumps({"current": SECRET, "previous": ""}))
    with lambda_env():
        module = load_handler("ingest")
        ddb, sfn, sm = aws.client("dynamodb"), aws.client("stepfunctions"), aws.client("secretsmanager")
        parameters_base.DEFAULT_PROVIDERS["secrets"] = SecretsProvider(boto3_client=sm)  # type: ignore[attr-defined]
        wiring.use(
            IngestService(
                store=DynamoCallStore(LAMBDA_LIKE_ENV["HANDOFF_TABLE"], 30, client=ddb),
                starter=StepFunctionsStarter(MACHINE, client=sfn),
                secrets=wiring.webhook_secrets,
                analysis_grace_seconds=30,
            )
        )
        events = [
            build_event(
                "POST",
                "/webhooks/dialnexa",
                "",
                {"content-type": "application/json", "x-dialnexa-signature": sign(body, SECRET)},
                body,
                "203.0.113.9",
            )
            for body in bodies
        ]
        handler = module.handler
        statuses: set[int] = set()

        def one(i: int) -> None:
            answer = handler(events[i + 1], LambdaContext("handoff-IngestFunction"))
            statuses.add(int(answer["statusCode"]))

        with quiet_stdout():
            one(-1)  # first invocation: fetches the secret, builds the resolver's routes
            cpu = _cpu_per_call(one, count, rounds)
        if statuses != {202}:
            raise RuntimeError(f"ingest answered {sorted(statuses)} in the warm benchmark, expected only 202")

        def bare(i: int) -> None:
            body = bodies[i % len(bodies)]
            name = f"call_floor_{i:06d}"
            ddb.put_item(
                TableName="handoff-bench",
                Item={
                    "pk": {"S": f"CALL#{name}"},
                    "call_json": {"S": body.decode()},
                    "received_at": {"S": "2025-06-12T17:20:00Z"},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
            sfn.start_execution(stateMachineArn=MACHINE, name=name, input='{"call": {}}')
            ddb.update_item(
                TableName="handoff-bench",
                Key={"pk": {"S": f"CALL#{name}"}},
                UpdateExpression="SET execution_arn = :a REMOVE pending_start",
                ExpressionAttributeValues={":a": {"S": name}},
            )

        floor = _cpu_per_call(bare, count, rounds)
    return WarmCost("ingest", cpu, floor, count * rounds, len(bodies[0]))


def route(count: int = 100, rounds: int = 5) -> WarmCost:
    """Route needs no AWS: absolute CPU ms per decision for the sample state (no floor)."""
    document = json.loads((PROJECT_ROOT / "events" / "route" / "state-reschedule-booking.json").read_text())
    with lambda_env():
        module = load_handler("route")
        handler = module.handler
        with quiet_stdout():
            handler(document, LambdaContext("handoff-RouteFunction"))
            cpu = _cpu_per_call(lambda _: handler(document, LambdaContext("handoff-RouteFunction")), count, rounds)
    return WarmCost("route", cpu, None, count * rounds, len(json.dumps(document)))


@dataclass(frozen=True)
class Masking:
    """CPU per redaction: the 30 KB transcript ingest masks before storing, and a log line with nothing to mask."""

    transcript_ms: float
    transcript_bytes: int
    log_line_us: float
    clean_text_us: float
    runs: int


def masking(runs: int = 200, transcript_kb: int = 30) -> Masking:
    """Median CPU of ``redact_text`` on the bench transcript, and of one INFO log line through the filter."""
    import io
    import logging

    from aws_lambda_powertools import Logger

    from handoff.redact import install_log_redaction, redact_text

    text = transcript(transcript_kb)
    redact_text(text)  # validators imported, caches warm: a warm Lambda's state

    def per_call(fn: Callable[[], Any], batch: int) -> float:
        samples = []
        for _ in range(max(5, runs // batch)):
            start = time.process_time()
            for _ in range(batch):
                fn()
            samples.append((time.process_time() - start) / batch)
        return statistics.median(samples)

    logger = Logger(service="bench", logger_handler=logging.StreamHandler(io.StringIO()))
    install_log_redaction(logger)
    logger.append_keys(call_id="call_8f3a2b")
    extra = {"status": 202, "execution": "arn:aws:states:us-east-1:123456789012:execution:handoff:call_8f3a2b-1"}
    return Masking(
        transcript_ms=per_call(lambda: redact_text(text), 10) * 1000,
        transcript_bytes=len(text.encode()),
        log_line_us=per_call(lambda: logger.info("webhook accepted", extra=extra), 100) * 1e6,
        clean_text_us=per_call(lambda: redact_text("webhook accepted for call_8f3a2b"), 1000) * 1e6,
        runs=runs,
    )
