"""`handoff route explain` and `handoff connectors check --sandbox` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handoff_dev.cli import app

pytestmark = pytest.mark.e2e

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "events" / "dialnexa").glob("*.json"))
EXPECTED_MODE = {
    "ping_verification-request.json": "none",
    "variant-a_call-ended_completed_inbound_billing-dispute-invoice.json": "review",
    "variant-a_call-ended_completed_inbound_damaged-item-transferred.json": "review",
    "variant-a_call-ended_completed_inbound_no-identifying-data.json": "review",
    "variant-a_call-ended_completed_inbound_price-availability-buying-intent.json": "act",
    "variant-a_call-ended_completed_inbound_reschedule-booking.json": "act",
    "variant-a_call-ended_hangup_outbound-batch_no-answer.json": "none",
    "variant-b_call-analysis-ready.json": "act",
}


def test_route_explain_answers_every_sample_with_its_mode_and_reasons() -> None:
    result = CliRunner().invoke(app, ["route", "explain", *map(str, SAMPLES), "--json"])
    assert result.exit_code == 0, result.stdout
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {p.name: r["mode"] for p, r in zip(SAMPLES, reports, strict=True)} == EXPECTED_MODE
    assert all(r["reasons"] and r["rules_fired"] for r in reports)
    assert all(r["looked_up_in"] == "sandbox" for r in reports)


def test_route_explain_lists_the_decision_rules_checked_in_order_and_the_one_that_fired() -> None:
    hangup = next(p for p in SAMPLES if "no-answer" in p.name)
    result = CliRunner().invoke(app, ["route", "explain", str(hangup), "--json"])
    report = json.loads(result.stdout)
    assert report["decided_by"] == "no-contact"
    assert [(r["rule"], r["fired"]) for r in report["decision_rules"]] == [("no-contact", True)]
    reschedule = next(p for p in SAMPLES if "reschedule" in p.name)
    shown = CliRunner().invoke(app, ["route", "explain", str(reschedule)]).stdout
    assert "decision rules checked in order" in shown and "fired act" in shown


def test_route_explain_names_the_problem_of_a_body_ingest_would_refuse(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"event_type": "call_ended", "payload": {"call": {}}}')
    result = CliRunner().invoke(app, ["route", "explain", str(bad)])
    assert result.exit_code == 1
    assert "payload.call.id is missing" in result.stdout


def test_connectors_check_in_the_sandbox_shows_all_six_tools_healthy() -> None:
    result = CliRunner().invoke(app, ["connectors", "check", "--sandbox", "--json"])
    assert result.exit_code == 0, result.stdout
    rows = json.loads(result.stdout)
    assert {r["tool"] for r in rows} == {"planyo", "bookingmood", "plisio", "billit", "ocrwebservice", "slack"}
    assert all(r["healthy"] for r in rows)
    assert next(r for r in rows if r["tool"] == "ocrwebservice")["quota"] == "22/25 pages"


def test_connectors_check_without_configuration_says_what_to_pass() -> None:
    result = CliRunner().invoke(app, ["connectors", "check"])
    assert result.exit_code == 2
    assert "--sandbox" in result.stdout
