"""What Handoff costs per call on AWS, beside what automation hosts charge for the same work.

Why a model and not a bill: a new user has no AWS account yet, so the cost is
computed from the template (memory, architecture), a *call profile* measured on
the embedded stack by ``make bench`` (durations, state transitions counted from
real execution histories with their retries, AWS requests counted per service)
and list prices recorded below with their date. Prices change; every price is in
one table with the date it was read, and the vendor figures that could not be
confirmed from a primary page are listed in ``ASSUMPTIONS``.

Pure: no I/O except :func:`load_profile`, which reads ``benchmarks/results.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = PROJECT_ROOT / "benchmarks" / "results.json"

REGION = "us-east-1"
AWS_PRICES_AS_OF = "2025-06-01"
HOSTED_PRICES_AS_OF = "2025-06-01"

# Lambda: 1,769 MB is one vCPU; below it CPU is allotted in proportion to memory.
LAMBDA_MB_PER_VCPU = 1769
TEMPLATE_MEMORY_MB = 256
TEMPLATE_ARCHITECTURE = "arm64"
SECRETS_IN_TEMPLATE = 7  # WebhookSecret and one per partner (Planyo, Bookingmood, Plisio, Billit, OCR, Slack)
# Dead letters, event delivery, Slack configuration, failed executions, API 5xx, sweep errors, policy unavailable
ALARMS_IN_TEMPLATE = 7


@dataclass(frozen=True)
class Price:
    """One list price: ``usd`` per ``per`` units of ``unit``."""

    usd: float
    per: float
    unit: str
    source: str

    @property
    def each(self) -> float:
        return self.usd / self.per


# AWS list prices, us-east-1, read on AWS_PRICES_AS_OF (free tiers ignored on purpose).
AWS_PRICES: dict[str, Price] = {
    "lambda_gb_second_arm64": Price(0.0000133334, 1, "GB-second (arm64)", "aws.amazon.com/lambda/pricing"),
    "lambda_request": Price(0.20, 1_000_000, "request", "aws.amazon.com/lambda/pricing"),
    "sfn_transition": Price(0.025, 1_000, "state transition (Standard)", "aws.amazon.com/step-functions/pricing"),
    "ddb_write_unit": Price(0.625, 1_000_000, "write request unit (on-demand)", "aws.amazon.com/dynamodb/pricing"),
    "ddb_read_unit": Price(0.125, 1_000_000, "read request unit (on-demand)", "aws.amazon.com/dynamodb/pricing"),
    "ddb_storage_gb_month": Price(0.25, 1, "GB-month stored", "aws.amazon.com/dynamodb/pricing"),
    "ddb_pitr_gb_month": Price(0.20, 1, "GB-month backed up (PITR)", "aws.amazon.com/dynamodb/pricing"),
    "eventbridge_event": Price(1.00, 1_000_000, "custom event published", "aws.amazon.com/eventbridge/pricing"),
    "eventbridge_archive_gb": Price(0.10, 1, "GB archived", "aws.amazon.com/eventbridge/pricing"),
    "sqs_request": Price(0.40, 1_000_000, "request (standard queue)", "aws.amazon.com/sqs/pricing"),
    "http_api_request": Price(1.00, 1_000_000, "HTTP API request (<=512 KB)", "aws.amazon.com/api-gateway/pricing"),
    "secrets_api_call": Price(0.05, 10_000, "API call", "aws.amazon.com/secrets-manager/pricing"),
    "secret_month": Price(0.40, 1, "secret per month", "aws.amazon.com/secrets-manager/pricing"),
    "xray_trace": Price(5.00, 1_000_000, "trace recorded", "aws.amazon.com/xray/pricing"),
    "logs_ingest_gb": Price(0.50, 1, "GB of logs ingested", "aws.amazon.com/cloudwatch/pricing"),
    "alarm_month": Price(0.10, 1, "standard alarm per month", "aws.amazon.com/cloudwatch/pricing"),
}


@dataclass(frozen=True)
class HostedPlan:
    """An automation host's plan, and how many of its billing units one Handoff call would use there."""

    vendor: str
    plan: str
    monthly_usd: float
    included_units: int
    unit: str
    units_per_call: float
    why_units: str
    source: str

    @property
    def unit_price(self) -> float:
        return self.monthly_usd / self.included_units

    @property
    def per_call(self) -> float:
        return self.unit_price * self.units_per_call


# The same work on an automation host: webhook trigger, signature check (code step),
# look the caller up in one tool, decide (filter/paths), one write, one note, one Slack message.
HOSTED_PLANS: tuple[HostedPlan, ...] = (
    HostedPlan(
        "Zapier",
        "Professional, 750 tasks/month, billed monthly",
        29.99,
        750,
        "task",
        5,
        "trigger and filters are free; code, search, write, note and Slack steps are a task each",
        "zapier.com/pricing",
    ),
    HostedPlan(
        "Make",
        "Core, 10,000 operations/month, billed monthly",
        10.59,
        10_000,
        "operation",
        7,
        "every module run is an operation, the webhook trigger included",
        "make.com/en/pricing",
    ),
    HostedPlan(
        "n8n cloud",
        "Starter, 2,500 executions/month, billed monthly",
        24.00,
        2_500,
        "execution",
        1,
        "one workflow run is one execution whatever its node count",
        "n8n.io/pricing",
    ),
    HostedPlan(
        "Pipedream",
        "Basic, 2,000 credits/month, billed annually",
        29.00,
        2_000,
        "credit",
        1,
        "one credit per 30 s of compute at 256 MB; a call's workflow runs well under 30 s",
        "pipedream.com/pricing",
    ),
)

# UNCONFIRMED: figures that could not be read from a primary page when recorded; re-check before quoting.
ASSUMPTIONS: tuple[str, ...] = (
    "AWS list prices are us-east-1 as recorded on AWS_PRICES_AS_OF; DynamoDB on-demand uses the November 2024 "
    "price cut ($0.625 per million writes, $0.125 per million reads). Free tiers are ignored.",
    "Hosted plan prices and included units are the vendors' published list prices as recorded on "
    "HOSTED_PRICES_AS_OF, not re-read from the live pages here (no web access); Zapier's task counting and its "
    "1.25x overage rate are confirmed by its help centre. All four change often.",
    "Pipedream's Basic plan price and included credits are UNCONFIRMED (the stored docs do not state them).",
    "Units per call on the hosts are our count of the steps the same flow needs there, not a measurement.",
    "Lambda at 256 MB gets 256/1769 of a vCPU: each handler's measured thread CPU time is scaled by that share; "
    "its waiting time (AWS and partner round trips, measured on a loaded 2-core machine) is billed as measured.",
    "A call is one X-Ray trace (Tracing: Active), every call sampled (an upper bound: X-Ray's default rule "
    "records the first request each second and 5% of the rest). One, not three: in Lambda botocore sends "
    "_X_AMZN_TRACE_ID as the X-Amzn-Trace-Id header, Step Functions continues the trace StartExecution carries "
    "(StartExecution API reference, traceHeader) and EventBridge passes the trace of a PutEvents request on to its "
    "targets (EventBridge user guide, 'EventBridge integration with X-Ray').",
    "DynamoDB writes are billed per 1 KB of the larger of the old and new item, reads per 4 KB. make bench "
    "measures write units item by item (each write's item as the run left it, or as a Put sent it, whichever is "
    "larger: an upper bound for a record that grows); reads are priced at the call record's size.",
    "Lambda bills the INIT phase of on-demand ZIP functions on managed runtimes since 2025-08-01 (AWS Compute "
    "blog, 'AWS Lambda standardizes billing for INIT phase'). The init duration is the Lambda-like cold start "
    "measured by make bench, billed as measured (init runs unthrottled, at up to two vCPUs, whatever the memory); "
    "COLD_START_SHARE of invocations are assumed cold (AWS: usually under 1% on busy functions; a few hundred calls "
    "a day leaves environments idle long enough to be recycled far more often).",
    "The path mix (handoff_dev.bench.paths.MIX) is an assumption stated there; each path's states are walked from "
    "the state machine definition, and FAULT_SHARE of calls are assumed to meet a partner fault and pay the retried "
    "attempts the faulty bench run measured.",
)

COLD_START_SHARE = 0.05
"""Share of invocations that start a new execution environment (an assumption, see ASSUMPTIONS)."""
FAULT_SHARE = 0.10
"""Share of calls assumed to meet a partner fault (5xx, 429, timeout) and be retried by the state machine."""


@dataclass(frozen=True)
class FunctionUse:
    """One function's share of a call: invocations per call, median CPU ms and median waiting ms.

    On Lambda the CPU part runs on the memory's share of a vCPU (scaled up); the
    waiting part (AWS and partner round trips) is billed as measured.
    """

    invocations: float
    cpu_ms: float
    wait_ms: float = 0.0


@dataclass(frozen=True)
class CallProfile:
    """What one call uses, measured on the embedded stack (``make bench``) or the built-in defaults."""

    functions: dict[str, FunctionUse]
    transitions: float
    ddb_writes: float
    ddb_reads: float
    call_record_kb: float
    eventbridge_events: float
    sqs_requests: float
    http_api_requests: float
    secrets_calls: float
    traces: float
    log_kb: float = 8.0
    init_ms: dict[str, float] = field(default_factory=dict)
    """Each function's cold start (INIT) duration, ms, as make bench measured it Lambda-like."""
    cold_start_share: float = COLD_START_SHARE
    paths: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The path mix the profile was built from: share, transitions, Lambda invocations, events per path."""
    ddb_write_units: float | None = None
    """Write request units per call, each item write billed by its item's size (make bench); None: estimate
    as every write on the call record (``ddb_writes`` x its KB), an upper bound."""
    retention_days: int = 30
    memory_mb: int = TEMPLATE_MEMORY_MB
    measured_on: str = "built-in defaults"
    cpu_scale: float = field(default=LAMBDA_MB_PER_VCPU / TEMPLATE_MEMORY_MB)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallProfile:
        raw = dict(data)
        raw["functions"] = {k: FunctionUse(**v) for k, v in (raw.get("functions") or {}).items()}
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Measured with `make bench` on 2026-11-23 (2 shared cores); benchmarks/results.json replaces it when present.
DEFAULT_PROFILE = CallProfile(
    functions={
        "IngestFunction": FunctionUse(1.0, 9.9, 2011.0),
        "MatchFunction": FunctionUse(1.0, 10.5, 452.4),
        "RouteFunction": FunctionUse(1.0, 1.4, 0.0),
        "ActFunction": FunctionUse(0.425, 129.7, 2732.2),
        "NotifyFunction": FunctionUse(1.0, 112.3, 2160.3),
    },
    transitions=7.38,
    ddb_writes=5.0,
    ddb_reads=0.72,
    call_record_kb=2.0,
    eventbridge_events=1.0,
    sqs_requests=0.435,
    http_api_requests=1.0,
    secrets_calls=0.055,
    traces=1.0,
    measured_on="make bench 2026-11-23 (built-in copy)",
)


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: float
    unit: str
    usd: float


@dataclass(frozen=True)
class CallCost:
    lines: list[CostLine]

    @property
    def per_call(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def per_1000(self) -> float:
        return self.per_call * 1000


def lambda_billed_ms(use: FunctionUse, cpu_scale: float) -> float:
    """Lambda bills each invocation in whole milliseconds: CPU on the memory's vCPU share, plus waiting."""
    return float(math.ceil(use.cpu_ms * cpu_scale + use.wait_ms))


def call_cost(profile: CallProfile = DEFAULT_PROFILE) -> CallCost:
    """The variable cost of one call, service by service."""
    p = AWS_PRICES
    gb = profile.memory_mb / 1024
    lines: list[CostLine] = []
    gb_seconds = 0.0
    invocations = 0.0
    for use in profile.functions.values():
        gb_seconds += use.invocations * gb * lambda_billed_ms(use, profile.cpu_scale) / 1000
        invocations += use.invocations
    lines.append(CostLine("Lambda compute", gb_seconds, "GB-s", gb_seconds * p["lambda_gb_second_arm64"].each))
    init_gb_seconds = sum(
        use.invocations * profile.cold_start_share * gb * math.ceil(profile.init_ms.get(name, 0.0)) / 1000
        for name, use in profile.functions.items()
    )
    lines.append(
        CostLine(
            "Lambda init (cold starts)", init_gb_seconds, "GB-s", init_gb_seconds * p["lambda_gb_second_arm64"].each
        )
    )
    lines.append(CostLine("Lambda requests", invocations, "requests", invocations * p["lambda_request"].each))
    lines.append(
        CostLine("Step Functions", profile.transitions, "transitions", profile.transitions * p["sfn_transition"].each)
    )
    write_units = (
        profile.ddb_write_units
        if profile.ddb_write_units is not None
        else profile.ddb_writes * max(1, math.ceil(profile.call_record_kb))
    )
    read_units = profile.ddb_reads * max(1, math.ceil(profile.call_record_kb / 4))
    lines.append(CostLine("DynamoDB writes", write_units, "WRU", write_units * p["ddb_write_unit"].each))
    lines.append(CostLine("DynamoDB reads", read_units, "RRU", read_units * p["ddb_read_unit"].each))
    stored_gb_month = profile.call_record_kb / 1024 / 1024 * profile.retention_days / 30
    storage = stored_gb_month * (p["ddb_storage_gb_month"].each + p["ddb_pitr_gb_month"].each)
    lines.append(CostLine("DynamoDB storage + PITR", stored_gb_month, "GB-month", storage))
    events = profile.eventbridge_events
    archived_gb = events * 2 / 1024 / 1024  # ~2 KB per event
    lines.append(
        CostLine(
            "EventBridge events + archive",
            events,
            "events",
            events * p["eventbridge_event"].each + archived_gb * p["eventbridge_archive_gb"].each,
        )
    )
    lines.append(CostLine("SQS", profile.sqs_requests, "requests", profile.sqs_requests * p["sqs_request"].each))
    lines.append(
        CostLine(
            "API Gateway HTTP API",
            profile.http_api_requests,
            "requests",
            profile.http_api_requests * p["http_api_request"].each,
        )
    )
    lines.append(
        CostLine(
            "Secrets Manager calls", profile.secrets_calls, "calls", profile.secrets_calls * p["secrets_api_call"].each
        )
    )
    lines.append(CostLine("X-Ray traces", profile.traces, "traces", profile.traces * p["xray_trace"].each))
    log_gb = profile.log_kb / 1024 / 1024
    lines.append(CostLine("CloudWatch Logs", profile.log_kb, "KB", log_gb * p["logs_ingest_gb"].each))
    return CallCost(lines)


def path_costs(profile: CallProfile) -> dict[str, float]:
    """USD per 1,000 calls if every call took one path of the profile's mix (its states, Lambdas, events)."""
    step_functions = {name for path in profile.paths.values() for name in path.get("lambda_invocations", [])}
    out: dict[str, float] = {}
    for name, path in profile.paths.items():
        counts = {fn: path["lambda_invocations"].count(fn) for fn in step_functions}
        functions = {
            fn: replace(use, invocations=counts[fn]) if fn in step_functions else use
            for fn, use in profile.functions.items()
        }
        variant = replace(
            profile, functions=functions, transitions=float(path["transitions"]), eventbridge_events=path["events"]
        )
        out[name] = call_cost(variant).per_1000
    return out


def fixed_monthly() -> float:
    """What the stack costs per month with no calls at all (secrets and alarms)."""
    return SECRETS_IN_TEMPLATE * AWS_PRICES["secret_month"].each + ALARMS_IN_TEMPLATE * AWS_PRICES["alarm_month"].each


@dataclass(frozen=True)
class Comparison:
    vendor: str
    plan: str
    per_1000_calls: float
    monthly: float
    units_per_call: float
    unit: str


@dataclass(frozen=True)
class MonthlyEstimate:
    calls_per_month: int
    handoff_per_1000: float
    handoff_monthly: float
    fixed_monthly: float
    lines: list[CostLine]
    hosted: list[Comparison]
    profile: CallProfile

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls_per_month": self.calls_per_month,
            "region": REGION,
            "aws_prices_as_of": AWS_PRICES_AS_OF,
            "hosted_prices_as_of": HOSTED_PRICES_AS_OF,
            "handoff_cost_per_1000_calls_usd": round(self.handoff_per_1000, 4),
            "handoff_monthly_usd": round(self.handoff_monthly, 2),
            "fixed_monthly_usd": round(self.fixed_monthly, 2),
            "lines_per_1000_calls": [
                {"item": line.item, "quantity": line.quantity * 1000, "unit": line.unit, "usd": line.usd * 1000}
                for line in self.lines
            ],
            "hosted": [asdict(c) for c in self.hosted],
            "profile": self.profile.as_dict(),
            "assumptions": list(ASSUMPTIONS),
        }


def hosted_monthly(plan: HostedPlan, calls_per_month: int) -> float:
    """Enough plan tiers for the volume: the plan fee per block of included units (no annual discount)."""
    units = plan.units_per_call * calls_per_month
    blocks = max(1, math.ceil(units / plan.included_units))
    return blocks * plan.monthly_usd


def estimate(calls_per_month: int, profile: CallProfile = DEFAULT_PROFILE) -> MonthlyEstimate:
    if calls_per_month < 0:
        raise ValueError("calls per month cannot be negative")
    cost = call_cost(profile)
    fixed = fixed_monthly()
    hosted = [
        Comparison(
            plan.vendor,
            plan.plan,
            plan.per_call * 1000,
            hosted_monthly(plan, calls_per_month),
            plan.units_per_call,
            plan.unit,
        )
        for plan in HOSTED_PLANS
    ]
    return MonthlyEstimate(
        calls_per_month=calls_per_month,
        handoff_per_1000=cost.per_1000,
        handoff_monthly=cost.per_call * calls_per_month + fixed,
        fixed_monthly=fixed,
        lines=cost.lines,
        hosted=hosted,
        profile=profile,
    )


def load_profile(path: Path = RESULTS_FILE) -> CallProfile:
    """The call profile ``make bench`` measured, or the built-in defaults when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return DEFAULT_PROFILE
    if not isinstance(data, dict):
        return DEFAULT_PROFILE
    raw = (data.get("cost_per_1000_calls_usd") or {}).get("inputs", {}).get("profile")
    if not isinstance(raw, dict):
        return DEFAULT_PROFILE
    try:
        return CallProfile.from_dict(raw)
    except (TypeError, ValueError):
        return DEFAULT_PROFILE
