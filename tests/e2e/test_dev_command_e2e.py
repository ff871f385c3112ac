"""`handoff dev` as a user runs it: it says where everything is, shows its side effects, and stops on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from handoff_dev.cli import app

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _start_dev() -> subprocess.Popen[str]:
    """``handoff dev`` on free ports, in its own process, as a user starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "handoff_dev.cli", "dev", "--port", "0", "--aws-port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_dev_prints_its_addresses_serves_effects_and_stops_on_sigterm() -> None:
    process = _start_dev()
    try:
        assert process.stdout is not None
        banner = ""
        while "handoff dev effects" not in banner:
            line = process.stdout.readline()
            assert line, f"handoff dev ended before it was ready:\n{banner}"
            banner += line
        api = re.search(r"POST (http://127\.0\.0\.1:\d+)/webhooks/dialnexa", banner)
        assert api, banner
        assert "webhook secret  handoff-WebhookSecret" in banner
        assert f"{api.group(1)}/webhooks/planyo/" in banner
        assert "handoff executions list" in banner and "HANDOFF_ENDPOINT_URL=http://127.0.0.1:" in banner

        effects = requests.get(f"{api.group(1)}/_dev/effects", timeout=10)
        assert effects.status_code == 200
        assert {"billit", "planyo", "slack"} <= set(effects.json())
        shown = CliRunner().invoke(app, ["dev", "effects", "--url", api.group(1), "--json"])
        assert shown.exit_code == 0
        assert json.loads(shown.stdout) == effects.json()

        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)  # it stops by itself; how fast is the timed test below
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.timed
def test_dev_stops_within_5_seconds_of_sigterm() -> None:
    process = _start_dev()
    try:
        assert process.stdout is not None
        while "handoff dev effects" not in (line := process.stdout.readline()):
            assert line, "handoff dev ended before it was ready"
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        assert time.monotonic() - began < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_dev_effects_without_a_stack_says_how_to_start_one() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(app, ["dev", "effects", "--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 4
    assert "make dev" in result.stderr and "Traceback" not in result.stderr
