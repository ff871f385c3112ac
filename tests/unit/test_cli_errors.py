"""Every bad input testers found ends in one line that names the problem and the fix, never a traceback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from handoff_dev.cli import app
from handoff_dev.cli_errors import HandoffGroup, describe

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "dialnexa" / "ping_verification-request.json"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line(stderr: str, *words: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("handoff: ") and " -- " in lines[0], "problem -- fix"
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """An AWS endpoint that answers (and has no Handoff resources)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.parametrize(
    "command",
    [["executions", "list"], ["executions", "show", "call_x"], ["review", "list"], ["events", "tail", "--idle", "1"]],
)
def test_an_endpoint_that_does_not_answer_fails_in_seconds_with_one_line(closed_port: int, command: list[str]) -> None:
    began = time.monotonic()
    code, _, stderr = run(*command, "--endpoint-url", f"http://127.0.0.1:{closed_port}")
    assert code == 4
    assert_one_line(stderr, "cannot reach", "make dev")
    assert time.monotonic() - began < 10


def test_an_endpoint_that_is_not_a_url_says_what_a_url_looks_like() -> None:
    code, _, stderr = run("executions", "list", "--endpoint-url", "notaurl")
    assert code == 2
    assert_one_line(stderr, "'notaurl' is not a URL", "http://127.0.0.1:5000")


@pytest.mark.parametrize("command", [["events", "tail", "--type"], ["events", "schema"]])
def test_an_unknown_detail_type_is_bad_input_naming_the_known_ones(command: list[str]) -> None:
    code, _, stderr = run(*command, "call.nope")
    assert code == 2
    assert_one_line(stderr, "unknown detail type 'call.nope'", "call.lifecycle_signal")


def test_no_region_says_how_to_set_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "HANDOFF_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    code, _, stderr = run("executions", "list")
    assert code == 4
    assert_one_line(stderr, "no AWS region", "--region")


def test_a_secret_that_does_not_exist_is_named(moto_endpoint: str) -> None:
    code, _, stderr = run("connectors", "check", "--secret-id", "planyo=nope", "--endpoint-url", moto_endpoint)
    assert code == 1
    assert_one_line(stderr, "no secret 'nope' (for planyo)", "--secret-id planyo=", "PlanyoSecretArn")


def test_a_secret_id_without_its_partner_says_each_partner_has_its_own_secret() -> None:
    code, _, stderr = run("connectors", "check", "--secret-id", "arn:aws:secretsmanager:us-east-1:1:secret:partners")
    assert code == 2
    assert_one_line(stderr, "names no partner", "TOOL=SECRET_ID", "--stack")


def test_a_secret_id_for_an_unknown_partner_lists_the_partners() -> None:
    code, _, stderr = run("connectors", "check", "--secret-id", "stripe=x", "--secret-id", "planyo=y")
    assert code == 2
    assert_one_line(stderr, "unknown partner 'stripe'", "billit, bookingmood, ocrwebservice, planyo, plisio, slack")


def test_a_stack_that_does_not_exist_is_named(moto_endpoint: str) -> None:
    code, _, stderr = run("connectors", "check", "--stack", "no-such-stack", "--endpoint-url", moto_endpoint)
    assert code == 1
    assert_one_line(stderr, "cannot read stack 'no-such-stack'", "--stack")


def test_a_missing_partner_config_is_named(tmp_path: Path) -> None:
    code, _, stderr = run("connectors", "check", "--partner-config", str(tmp_path / "absent.json"))
    assert code == 2
    assert_one_line(stderr, "absent.json", "No such file")


def test_a_malformed_partner_config_gives_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "partners.json"
    bad.write_text('{"planyo": {\n  "api_key": }\n')
    code, _, stderr = run("route", "explain", str(SAMPLE), "--partner-config", str(bad))
    assert code == 2
    assert_one_line(stderr, "partners.json is not valid JSON", "line 2", "partners.example.json")


def test_a_partner_config_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "partners.json"
    bad.write_text("[]")
    code, _, stderr = run("connectors", "check", "--partner-config", str(bad))
    assert code == 2
    assert_one_line(stderr, "must be a JSON object")


def test_a_malformed_policy_is_one_line_with_file_and_line() -> None:
    from handoff.route.policy import PolicyError, parse_policy

    with pytest.raises(PolicyError) as raised:
        parse_policy("version: 1\nrules: [\n", source="policy.yaml")
    failure = describe(raised.value)
    assert failure.exit_code == 2
    assert "\n" not in failure.line() and "policy.yaml" in failure.line()


def test_dev_on_a_busy_port_exits_2_at_once() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        began = time.monotonic()
        code, _, stderr = run("dev", "--port", "0", "--aws-port", str(port))
    assert code == 2
    assert_one_line(stderr, f"port {port}", "--aws-port", "AWS_PORT")
    assert time.monotonic() - began < 10


def test_json_callers_get_the_error_as_an_object_on_stdout(closed_port: int) -> None:
    import json

    code, stdout, _ = run("review", "list", "--endpoint-url", f"http://127.0.0.1:{closed_port}", "--json")
    assert code == 4
    payload = json.loads(stdout)
    assert payload["ok"] is False and payload["exit_code"] == 4 and "cannot reach" in payload["error"]


def _crashing_app() -> typer.Typer:
    crashing = typer.Typer(cls=HandoffGroup)

    @crashing.callback()
    def root(debug: bool = typer.Option(False, "--debug")) -> None:
        """Root."""

    @crashing.command()
    def boom() -> None:
        raise RuntimeError("the disk is on fire\nsecond line")

    return crashing


def test_an_unexpected_error_is_one_line_that_points_at_debug() -> None:
    result = CliRunner().invoke(_crashing_app(), ["boom"])
    assert result.exit_code == 1
    assert_one_line(result.stderr, "unexpected RuntimeError: the disk is on fire", "--debug")


def test_debug_lets_the_traceback_through() -> None:
    result = CliRunner().invoke(_crashing_app(), ["--debug", "boom"])
    assert isinstance(result.exception, RuntimeError)


def test_version_prints_the_package_version() -> None:
    code, stdout, _ = run("--version")
    assert code == 0 and stdout.startswith("handoff ")
