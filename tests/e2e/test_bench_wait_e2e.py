"""`make bench` never waits minutes for a call that cannot settle: it names the call and why."""

from __future__ import annotations

import time
from typing import Any

import pytest

from handoff_dev.bench.embedded import AwsRequestCounter, _wait_all

pytestmark = pytest.mark.e2e


def test_a_refused_post_is_not_waited_for_and_a_missing_execution_is_named_with_its_record_state(stack: Any) -> None:
    began = time.monotonic()
    why = _wait_all(
        stack,
        AwsRequestCounter(),
        ["call_bench_refused", "call_bench_never"],
        timeout=2.0,
        statuses={"call_bench_refused": 401, "call_bench_never": 202},
    )
    assert why == {
        "call_bench_refused": "POST answered HTTP 401",
        "call_bench_never": "no execution (no call record)",
    }
    assert time.monotonic() - began < 30
