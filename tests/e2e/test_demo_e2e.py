"""`handoff demo` end to end: every sample call settles through the template's state machine."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from handoff_dev.demo import run_demo

pytestmark = pytest.mark.e2e


def test_the_demo_settles_every_sample_call_and_exits_zero() -> None:
    out = io.StringIO()
    code = run_demo(Console(file=out, width=200))
    text = out.getvalue()
    assert code == 0, text
    assert "call_7Hq2mXk9RtB4" in text
    assert "nothing to do" in text
    # The template's analysis grace holds in the demo, and the demo says so and how to skip it.
    assert "wait 30 s for it (AnalysisGraceSeconds, as deployed)" in text and "--analysis-grace-seconds 0" in text
    # Slack app: the demo's messages land in several channels and every review message is closed after its decision
    assert "closed in place (chat.update)" in text and "still has Approve/Reject" not in text
