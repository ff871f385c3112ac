"""The embedded stack runs each function as Lambda does: its own environments, variables, role and timeout.

A tiny template (tests/fixtures/embedded) with a probe function that reports
its process, its environment and how many invocations overlap in it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from handoff_dev.embedded.stack import EmbeddedStack, StackOptions

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "embedded" / "template.yaml"
LAMBDA_SET = {
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_EXECUTION_ENV",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "LANG",
    "TZ",
    "PATH",
    "AWS_SAM_LOCAL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "_X_AMZN_TRACE_ID",
    "LC_CTYPE",  # set by the interpreter itself when it coerces a C locale (PEP 538)
}


@pytest.fixture(scope="module", params=[False, True], ids=["spawned", "preforked"])
def probe_stack(request: pytest.FixtureRequest) -> Iterator[EmbeddedStack]:
    """Environments as handoff dev starts them (a fresh interpreter each) and as the test suite does (forked)."""
    announced: list[str] = []
    options = StackOptions(
        port=0,
        aws_port=0,
        sandboxes=False,
        schedules=False,
        log_level="INFO",
        prefork=request.param,
        publish_policies=False,
    )
    options.announce = announced.append
    with EmbeddedStack(options, template_path=FIXTURE) as stack:
        stack.announced = announced  # type: ignore[attr-defined]
        yield stack


def invoke(stack: EmbeddedStack, logical_id: str, event: dict[str, Any]) -> tuple[Any, str | None]:
    return stack.registry.invoke(stack.physical(logical_id), event)


def test_each_environment_runs_one_event_at_a_time_up_to_the_reserved_concurrency(probe_stack: EmbeddedStack) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: invoke(probe_stack, "AlphaFunction", {"sleep": 0.3}), range(6)))
    payloads = [payload for payload, error in answers if error is None]
    assert len(payloads) == 6
    assert {p["overlapping"] for p in payloads} == {1}  # never two events in one environment
    assert len({p["pid"] for p in payloads}) <= 2  # ReservedConcurrentExecutions: 2


def test_module_state_lives_as_long_as_its_environment(probe_stack: EmbeddedStack) -> None:
    first, _ = invoke(probe_stack, "AlphaFunction", {})
    again, _ = invoke(probe_stack, "AlphaFunction", {})
    other, _ = invoke(probe_stack, "BetaFunction", {})
    if again["pid"] == first["pid"]:
        assert again["invocations"] == first["invocations"] + 1
    assert other["pid"] not in (first["pid"], again["pid"])


def test_an_environment_busy_during_a_recycle_serves_no_further_event(probe_stack: EmbeddedStack) -> None:
    """A recycle (a test installing a fault hook) must not hand a later event to an environment from before it."""
    pool = probe_stack.registry.pool("AlphaFunction")
    with ThreadPoolExecutor(max_workers=1) as runner:
        busy = runner.submit(invoke, probe_stack, "AlphaFunction", {"sleep": 1.0})
        deadline = time.monotonic() + 10
        while not (pool.all and not pool.idle) and time.monotonic() < deadline:  # the event is in an environment
            time.sleep(0.01)
        pool.recycle()
        before, _ = busy.result(timeout=10)
    after, _ = invoke(probe_stack, "AlphaFunction", {})
    assert after["pid"] != before["pid"] and after["invocations"] == 1


def test_a_cold_start_is_timed_and_announced(probe_stack: EmbeddedStack) -> None:
    invoke(probe_stack, "AlphaFunction", {})
    starts = [c for c in probe_stack.registry.cold_starts if c.function == "AlphaFunction"]
    assert starts and all(c.init_ms > 0 for c in starts)
    announced = probe_stack.announced  # type: ignore[attr-defined]
    line = re.compile(r"cold start AlphaFunction \d+ ms \(environment \d+(, preforked)?\)")
    assert any(line.fullmatch(text) for text in announced)


def test_the_environment_holds_the_functions_variables_and_what_lambda_sets_nothing_else(
    probe_stack: EmbeddedStack,
) -> None:
    alpha, _ = invoke(probe_stack, "AlphaFunction", {})
    beta, _ = invoke(probe_stack, "BetaFunction", {})
    assert set(alpha["environment"]) - LAMBDA_SET == {"POWERTOOLS_SERVICE_NAME", "PROBE_GREETING", "PROBE_TABLE"}
    assert set(beta["environment"]) - LAMBDA_SET == {"POWERTOOLS_SERVICE_NAME", "PROBE_TABLE"}
    assert alpha["environment"]["PROBE_GREETING"] == "hello"  # a parameter's default, resolved
    assert alpha["environment"]["AWS_LAMBDA_FUNCTION_NAME"] == probe_stack.physical("AlphaFunction")
    assert alpha["memory"] == "512"  # MemorySize (Globals), a string as in Lambda's Python runtime
    assert 0 < alpha["remaining_ms"] <= 5000  # Timeout (Globals)
    assert alpha["environment"]["AWS_ACCESS_KEY_ID"] != beta["environment"]["AWS_ACCESS_KEY_ID"]


def test_an_invocation_past_the_timeout_is_killed_and_reported_as_lambda_reports_it(
    probe_stack: EmbeddedStack,
) -> None:
    before, _ = invoke(probe_stack, "BetaFunction", {})
    started = time.monotonic()
    payload, error = invoke(probe_stack, "BetaFunction", {"sleep": 30})
    assert time.monotonic() - started < 10
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    after, _ = invoke(probe_stack, "BetaFunction", {})
    assert after["pid"] != before["pid"] or after["invocations"] == 1  # the timed-out environment is gone


def test_an_exception_is_reported_with_its_type_and_message(probe_stack: EmbeddedStack) -> None:
    payload, error = invoke(probe_stack, "AlphaFunction", {"fail": "no such booking"})
    assert error == "Unhandled"
    assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "no such booking"


def test_each_function_calls_aws_with_its_own_role(probe_stack: EmbeddedStack) -> None:
    _, error = invoke(probe_stack, "AlphaFunction", {"read": True})
    assert error is None  # DynamoDBReadPolicy allows GetItem
    payload, error = invoke(probe_stack, "AlphaFunction", {"write": True})
    assert error == "Unhandled" and "dynamodb:PutItem" in payload["errorMessage"]  # ...but not PutItem
    payload, error = invoke(probe_stack, "BetaFunction", {"read": True})
    assert error == "Unhandled" and "dynamodb:GetItem" in payload["errorMessage"]  # no policy at all


def test_log_lines_carry_the_name_of_the_function_that_wrote_them(probe_stack: EmbeddedStack) -> None:
    """Powertools keeps one logger per service: functions sharing a process swapped names under load."""
    functions = ["AlphaFunction", "BetaFunction"] * 12
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda f: invoke(probe_stack, f, {"marker": f, "sleep": 0.02}), functions))
    for logical_id in ("AlphaFunction", "BetaFunction"):
        records = [json.loads(line) for line in probe_stack.registry.logs.of(logical_id) if line.startswith("{")]
        probes = [r for r in records if r.get("message") == "probe" and r.get("marker")]
        assert len(probes) >= 12
        for record in probes:
            assert record["marker"] == logical_id
            assert record["function_name"] == probe_stack.physical(logical_id)


def test_a_step_functions_task_token_reaches_the_function_and_its_answer_resumes_the_execution(
    probe_stack: EmbeddedStack,
) -> None:
    sfn = probe_stack.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=probe_stack.physical("Machine"), input=json.dumps({"value": 21}))[
        "executionArn"
    ]
    status: dict[str, Any] = sfn.describe_execution(executionArn=arn)
    deadline = time.monotonic() + 60
    while status["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = sfn.describe_execution(executionArn=arn)
    assert status["status"] == "SUCCEEDED", status
    assert json.loads(status["output"]) == {"doubled": 42}
