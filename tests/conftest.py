"""Fixtures shared by every test layer."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SAMPLES = EVENTS / "dialnexa"

# Tests never reach a real AWS account: fake credentials, a fixed region.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def samples() -> dict[str, bytes]:
    """Every DialNexa sample body, exact bytes, by file name."""
    return {p.name: p.read_bytes() for p in sorted(SAMPLES.glob("*.json"))}


@pytest.fixture(scope="session")
def rekeyed(samples: dict[str, bytes]) -> Callable[[str, str], bytes]:
    """A sample body re-keyed to a fresh call id, so tests sharing one stack stay apart."""

    def build(name: str, call_id: str) -> bytes:
        body = json.loads(samples[name])
        if "payload" in body:
            body["payload"]["call"]["id"] = call_id
        else:
            body["session_id"] = call_id
        return json.dumps(body, indent=2).encode() + b"\n"

    return build


@pytest.fixture(scope="module")
def stack() -> Iterator[object]:
    """The embedded stack (real template on moto, sandboxes on loopback), one per test module.

    moto keeps one set of backends per process, so two stacks cannot run side by
    side: a module's stack starts after the previous one stopped. Each function's
    environments start on first use and stay warm for the module's later tests.
    The analysis grace period is overridden to 0 so calls without analysis do not
    wait the template's 30 s; a test of the real wait starts its own stack.
    """
    from handoff_dev.embedded.stack import EmbeddedStack, StackOptions

    options = StackOptions(
        port=0,
        aws_port=0,
        previous_webhook_secret="whsec_previous_dev_secret",
        schedules=False,
        parameter_overrides={"AnalysisGraceSeconds": "0"},
        prefork=True,
    )
    with EmbeddedStack(options) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_powertools_providers() -> None:
    """Powertools caches one boto client per parameter provider for the process.

    In Lambda that is right; in one test process it would carry a client bound to
    an earlier test's endpoint (a stopped embedded stack, an ended moto mock).
    """
    from aws_lambda_powertools.utilities.parameters import base

    base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]
