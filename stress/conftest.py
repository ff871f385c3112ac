"""Fixtures for the stress suites: fake AWS credentials, the sample bodies, one embedded stack per module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.pop("AWS_PROFILE", None)

PREVIOUS_SECRET = "whsec_previous_stress_only_not_real"  # noqa: S105 - fake rotation secret for loopback tests


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    """The embedded stack (real template on moto, sandboxes on loopback) with a previous secret in rotation."""
    from handoff_dev.embedded.stack import EmbeddedStack, StackOptions

    options = StackOptions(
        port=0,
        aws_port=0,
        previous_webhook_secret=PREVIOUS_SECRET,
        schedules=False,
        parameter_overrides={"AnalysisGraceSeconds": "0"},
        prefork=True,
    )
    with EmbeddedStack(options) as running:
        yield running
