"""Tracer is opt-in: without HANDOFF_TRACE_SUBSEGMENTS the X-Ray SDK is never imported (cold start)."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys; from handoff.handlers import function_tracer;"
    "h = function_tracer().capture_lambda_handler(lambda e, c: 'ran');"
    "print(h({}, None), 'aws_xray_sdk' in sys.modules)"
)


def _probe(**env: str) -> list[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if k != "HANDOFF_TRACE_SUBSEGMENTS"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_without_the_switch_the_handler_runs_untraced_and_the_xray_sdk_stays_unloaded() -> None:
    assert _probe() == ["ran", "False"]


def test_with_the_switch_the_handler_is_traced_by_powertools() -> None:
    assert _probe(HANDOFF_TRACE_SUBSEGMENTS="true", POWERTOOLS_TRACE_DISABLED="true") == ["ran", "True"]
