"""The README's five-minute walkthrough, every command, against the embedded stack: it stays true.

The block between ``<!-- walkthrough:start -->`` and ``<!-- walkthrough:end -->`` is
read as a user would paste it: ``export`` lines set the environment, ``handoff``
lines run the CLI (globs expanded), ``curl`` lines fetch. The stack runs on
random ports; the README's :3000 and :3001 are rewritten to them.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from handoff_dev.cli import app
from handoff_dev.demo import sample_bodies, wait_settled

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def walkthrough() -> list[str]:
    block = README.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    code = block.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_the_walkthrough_has_the_commands_a_newcomer_needs() -> None:
    lines = walkthrough()
    assert lines[0].startswith("export HANDOFF_ENDPOINT_URL=")
    for needed in ("replay", "executions show", "review approve", "dev effects", "invoke", "--queue notifications"):
        assert any(needed in line for line in lines), needed
    assert "make dev" in README and "make demo" in README and "make test" in README


def test_every_walkthrough_command_succeeds_on_the_embedded_stack(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api_port, aws_port = str(stack.api_url.rsplit(":", 1)[1]), str(stack.options.aws_port)
    monkeypatch.chdir(ROOT)
    env: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for line in walkthrough():
        line = line.replace("127.0.0.1:3000", f"127.0.0.1:{api_port}").replace(
            "127.0.0.1:3001", f"127.0.0.1:{aws_port}"
        )
        words = shlex.split(line)
        if words[0] == "export":
            env.update(word.partition("=")[::2] for word in words[1:])
            continue
        if words[0] == "curl":
            answer = requests.get(words[-1], timeout=10)
            assert answer.status_code == 200, line
            outputs[line] = answer.text
            continue
        assert words[0] == ".venv/bin/handoff", f"unexpected command in the walkthrough: {line}"
        args = [expanded for word in words[1:] for expanded in (sorted(glob.glob(word)) if "*" in word else [word])]
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, f"{line}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        assert "Traceback" not in result.stdout + result.stderr
        outputs[line] = result.stdout
        if args[0] == "replay":
            _wait_for_sample_calls(stack)
    approve = next(text for line, text in outputs.items() if "review approve" in line)
    assert "approved, nothing to do" in approve
    effects = json.loads(next(text for line, text in outputs.items() if line.startswith("curl")))
    assert effects["planyo"].get("modify_reservation") == 1, "the reschedule acted once in Planyo"


def _wait_for_sample_calls(stack: Any) -> None:
    """A person reads the replay table before typing on; the test waits for the calls to settle."""
    ids: list[str] = []
    for path in sample_bodies():
        body = json.loads(path.read_bytes())
        call_id = (body.get("payload") or {}).get("call", {}).get("id") or body.get("session_id")
        if call_id and re.match(r"^[A-Za-z0-9_]+$", str(call_id)):
            ids.append(str(call_id))
    views = wait_settled(stack, ids)
    assert all(v.settled for v in views.values())
