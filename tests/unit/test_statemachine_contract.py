"""The state machine definition and the code read the same document: no drift.

Every ``$.path`` that ``statemachine/handoff.asl.json`` reads or writes
(Choice ``Variable``, ``SecondsPath``, ``TimeoutSecondsPath``, ``ResultPath``,
``InputPath``, ``OutputPath``, ``Parameters`` ``.$`` values and the paths inside
intrinsic functions) must name a field of ``CallEnvelope``; every state name the
code uses (``StateName``: where a failure is recorded, where a redrive resumes;
the review state ops waits on) must be a state of the definition; every Lambda
Task must run a function whose handler calls its step's service.
"""

from __future__ import annotations

import ast
import json
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from handoff.models import CallEnvelope, RecordOnlyState, StateName

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "handoff" / "handoff"
ASL = json.loads((ROOT / "statemachine" / "handoff.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]
PATH_KEYS = ("Variable", "SecondsPath", "TimestampPath", "TimeoutSecondsPath", "HeartbeatSecondsPath", "InputPath")
JSON_PATH = re.compile(r"(?<![$\w])\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def _choice_rules(rules: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for rule in rules:
        yield rule
        yield from _choice_rules(rule.get("And", []) + rule.get("Or", []) + ([rule["Not"]] if "Not" in rule else []))


def _parameter_paths(node: Any) -> Iterator[str]:
    """The ``$.`` paths in ``.$`` values (context-object ``$$.`` paths are Step Functions', not ours)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith(".$") and isinstance(value, str):
                if value == "$":
                    continue
                yield from (f"${m.group(1)}" for m in JSON_PATH.finditer(value))
            else:
                yield from _parameter_paths(value)
    elif isinstance(node, list):
        for item in node:
            yield from _parameter_paths(item)


def envelope_paths() -> Iterator[tuple[str, str, str]]:
    """(state, where, path) for every path into the envelope the definition uses."""
    for name, state in STATES.items():
        for key in PATH_KEYS:
            if isinstance(state.get(key), str):
                yield name, key, state[key]
        if state.get("Type") == "Choice":
            for rule in _choice_rules(state.get("Choices", [])):
                if "Variable" in rule:
                    yield name, "Choices.Variable", rule["Variable"]
        if isinstance(state.get("ResultPath"), str):
            yield name, "ResultPath", state["ResultPath"]
        if isinstance(state.get("OutputPath"), str) and state.get("Resource") != LAMBDA_INVOKE:
            yield name, "OutputPath", state["OutputPath"]  # a Lambda's OutputPath reads the invoke result
        for catch in state.get("Catch", []):
            if isinstance(catch.get("ResultPath"), str):
                yield name, "Catch.ResultPath", catch["ResultPath"]
        for path in _parameter_paths(state.get("Parameters", {})):
            yield name, "Parameters", path


def _model_of(annotation: Any) -> type[BaseModel] | bool | None:
    """The model a field holds; True for a free-form mapping (any key goes), None for a scalar."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
        return None
    if origin is dict or annotation is dict:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def resolves(path: str, model: type[BaseModel] = CallEnvelope) -> bool:
    """Whether ``$.a.b`` names a field (by name or alias) of the model, through nested models."""
    if path == "$":
        return True
    current: type[BaseModel] | bool | None = model
    for part in path.removeprefix("$.").split("."):
        if current is True:
            return True
        if not isinstance(current, type):
            return False
        fields = {f.alias or n: f for n, f in current.model_fields.items()} | current.model_fields
        if part not in fields:
            return False
        current = _model_of(fields[part].annotation)
    return True


PATHS = sorted(set(envelope_paths()))


def test_the_definition_uses_envelope_paths() -> None:
    assert len(PATHS) >= 10  # the walk sees the definition (a broken walk would check nothing)


@pytest.mark.parametrize(("state", "where", "path"), PATHS, ids=[f"{s}:{w}:{p}" for s, w, p in PATHS])
def test_every_path_the_definition_uses_is_a_field_of_the_envelope(state: str, where: str, path: str) -> None:
    assert resolves(path), f"{state} {where} uses {path}, which CallEnvelope does not define"


def test_the_path_check_refuses_a_path_the_envelope_lacks() -> None:
    assert not resolves("$.settings.grace") and not resolves("$.decision.moode") and not resolves("$.nothing")
    assert resolves("$.error.Error") and resolves("$.call.analysis.intent") and resolves("$.decision.mode")


def test_every_state_a_failure_is_recorded_at_is_a_state_name() -> None:
    recorded = {
        s["Result"] for s in STATES.values() if s.get("Type") == "Pass" and s.get("ResultPath") == "$.failed_state"
    }
    record_only = set(typing.get_args(RecordOnlyState)) - {"PublishRejected"}  # kept for older dead letters
    assert recorded and recorded <= {n.value for n in StateName} | record_only
    assert record_only <= set(STATES)


def test_every_state_name_is_a_state_of_the_definition() -> None:
    assert {n.value for n in StateName} <= set(STATES)


def test_resume_has_one_branch_per_state_name_and_each_leads_to_a_state() -> None:
    resume = STATES[ASL["StartAt"]]
    resumed: dict[str, str] = {}
    for choice in resume["Choices"]:
        for rule in _choice_rules([choice]):
            if rule.get("Variable") == "$.resume_at" and "StringEquals" in rule:
                resumed[rule["StringEquals"]] = choice["Next"]
    assert set(resumed) == {n.value for n in StateName}
    assert all(target in STATES for target in resumed.values())
    assert all(resumed[n] == n for n in ("Match", "Route", "Act"))


def test_states_named_in_ops_and_review_code_exist() -> None:
    from handoff.review.history import REVIEW_STATE
    from handoff_dev.ops import WAITING_STATE
    from handoff_dev.ops_dlq import REDRIVE_DROPS, RESUMABLE_STATES

    assert {REVIEW_STATE, WAITING_STATE, *RESUMABLE_STATES} <= set(STATES)
    assert all(field in CallEnvelope.model_fields for field in REDRIVE_DROPS)


LAMBDA_TASKS = sorted(
    (name, state["Parameters"]["FunctionName"])
    for name, state in STATES.items()
    if state.get("Resource") == LAMBDA_INVOKE
    # Publish states send {detail_type, state} and pass the envelope on unchanged (ResultPath null):
    # their shape is checked in tests/unit/test_event_template.py.
    and state["Parameters"]["FunctionName"] != "${PublishFunctionArn}"
)


@pytest.mark.parametrize(("state", "function_ref"), LAMBDA_TASKS)
def test_every_lambda_task_runs_its_steps_service_on_the_whole_envelope(state: str, function_ref: str) -> None:
    """``${MatchFunctionArn}`` -> functions/match/app.py -> ``handoff.match.service.run``, envelope in and out."""
    found = re.fullmatch(r"\$\{(\w+)FunctionArn\}", function_ref)
    assert found, f"{state}: FunctionName {function_ref!r} is not a template function"
    step = re.sub(r"(?<!^)(?=[A-Z])", "_", found.group(1)).lower()
    app = (ROOT / "functions" / step / "app.py").read_text()
    assert f"from handoff.{step} import service" in app
    # A step that ends a path publishes its outcome itself: state_step(publishing("call.x", service.run)).
    assert re.search(r"state_step\((publishing\(\"call\.\w+\", )?service\.run\)?\)", app), app
    # Read, not imported: importing a service here would create its child logger before a stack
    # names the service, and the embedded stack's log capture would no longer see it.
    source = ast.parse((LAYER / step / "service.py").read_text())
    [run] = [n for n in source.body if isinstance(n, ast.FunctionDef) and n.name == "run"]
    first = run.args.args[0]
    assert (first.arg, ast.unparse(first.annotation or ast.Name("?"))) == ("envelope", "CallEnvelope")
    assert ast.unparse(run.returns or ast.Name("?")) == "CallEnvelope"
    assert STATES[state]["Parameters"].get("Payload.$") == "$" and STATES[state].get("OutputPath") == "$.Payload"


def test_the_document_ingest_starts_an_execution_with_is_an_envelope() -> None:
    from handoff.ingest.envelope import CallEvent, parse_webhook
    from handoff.ingest.service import IngestService
    from handoff.store import StoredCall

    started: dict[str, Any] = {}

    class Starter:
        def start(self, name: str, payload: dict[str, Any]) -> str:
            started.update(payload)
            return "arn"

    class Store:
        def mark_started(self, call_id: str, arn: str) -> None:
            pass

    body = (
        ROOT / "events" / "dialnexa" / "variant-a_call-ended_completed_inbound_reschedule-booking.json"
    ).read_bytes()
    event = parse_webhook(body)
    assert isinstance(event, CallEvent)
    stored = StoredCall(event.call.call_id, event.call.model_dump(mode="json"), [event.event], "", False, None, 1)
    IngestService(store=Store(), starter=Starter(), secrets=lambda _: []).start(stored)  # type: ignore[arg-type]
    envelope = CallEnvelope.model_validate(started)
    assert set(started) <= set(CallEnvelope.model_fields)
    assert envelope.dump()["settings"] == started["settings"]


def test_act_waits_out_a_partners_rate_limit_longer_than_a_fault() -> None:
    """A 429 is retried by its own retrier (first match wins), whose waits outlast a burst's drain."""
    from handoff.connectors.errors import RateLimitedError

    retriers = STATES["Act"]["Retry"]
    first = next(r for r in retriers if RateLimitedError.__name__ in r["ErrorEquals"])
    fault = next(r for r in retriers if "RetryableError" in r["ErrorEquals"])
    assert retriers.index(first) < retriers.index(fault)

    def longest_wait(r: dict[str, Any]) -> float:
        return sum(
            min(r["IntervalSeconds"] * r.get("BackoffRate", 2.0) ** i, r.get("MaxDelaySeconds", 1e9))
            for i in range(int(r["MaxAttempts"]))
        )

    # The burst bench's worst partner bucket took ~92 s to drain (docs/capacity.md).
    assert longest_wait(first) >= 180 > longest_wait(fault)
