"""Scoring tiers, evidence, ambiguity and failed lookups, against the sandbox people."""

from __future__ import annotations

from typing import Any

import pytest

from handoff.match.identity import CallerIdentity, build_identity
from handoff.match.normalise import IdKind
from handoff.match.scoring import ScoringConfig, score_record, score_records
from handoff.match.sources import RecordRef, SourceRecord, match_call
from handoff.models import CallSummary, MatchStatus, RecordKind, Tool
from handoff_dev.match_seed import BrokenSource, HangingSource, InMemorySource, seed_sources

CONFIG = ScoringConfig()
RESERVATION = SourceRecord(
    tool=Tool.PLANYO,
    kind=RecordKind.RESERVATION,
    record_id="48213",
    emails=["elena.marsh@example.com"],
    phones=["5555550142"],
    names=["Elena Marsh"],
    ids=[RecordRef(kind=IdKind.RESERVATION, value="48213", field="reservation_id")],
)


def identity(**analysis: Any) -> CallerIdentity:
    return build_identity(CallSummary(call_id="c", event="call.ended", analysis=analysis))


def test_source_record_normalises_its_contact_fields() -> None:
    assert RESERVATION.phones == ["+15555550142"]
    record = SourceRecord(tool=Tool.BILLIT, kind=RecordKind.CUSTOMER, record_id="1", emails=["X@Example.com", "bad"])
    assert record.emails == ["x@example.com"]


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        ({"booking_id": "BK-48213", "customer_email": "elena.marsh@example.com", "customer_phone": "5555550142"}, 0.98),
        ({"booking_id": "BK-48213", "customer_email": "elena.marsh@example.com"}, CONFIG.id_and_contact),
        ({"booking_id": "BK-48213", "customer_phone": "555 555 0142"}, CONFIG.id_and_contact),
        ({"booking_id": "BK-48213"}, CONFIG.id_only),
        ({"customer_email": "elena.marsh@example.com", "customer_phone": "5555550142"}, CONFIG.email_and_phone),
        ({"customer_email": "elena.marsh@example.com"}, CONFIG.email_only),
        ({"customer_phone": "5555550142"}, CONFIG.phone_only),
        ({"customer_phone": "5555550142", "customer_email": "someone.else@example.com"}, CONFIG.phone_only * 0.5),
        ({"customer_name": "Elena Marsh"}, CONFIG.name_exact_only),
        ({"customer_name": "Elana Marsch"}, CONFIG.name_fuzzy_only),
    ],
)
def test_tiers(analysis: dict[str, Any], expected: float) -> None:
    candidate = score_record(identity(**analysis), RESERVATION)
    assert candidate is not None
    assert candidate.confidence == pytest.approx(expected)


def test_a_name_adds_a_little_to_an_anchored_match() -> None:
    with_name = score_record(
        identity(customer_email="elena.marsh@example.com", customer_name="Elena Marsh"), RESERVATION
    )
    assert with_name is not None and with_name.confidence == pytest.approx(CONFIG.email_only + CONFIG.name_bonus)


def test_nothing_in_common_is_no_candidate() -> None:
    assert score_record(identity(customer_email="nobody@example.com"), RESERVATION) is None


def test_evidence_names_the_call_field_and_the_record_field() -> None:
    candidate = score_record(identity(booking_id="BK-48213", customer_email="elena.marsh@example.com"), RESERVATION)
    assert candidate is not None
    pairs = {(e.call_field, e.record_field, e.strength) for e in candidate.evidence}
    assert ("analysis.booking_id", "planyo.reservation.reservation_id", "strong") in pairs
    assert ("analysis.customer_email", "planyo.reservation.email", "medium") in pairs


def test_an_uncorroborated_id_is_medium_evidence() -> None:
    candidate = score_record(identity(booking_id="BK-48213"), RESERVATION)
    assert candidate is not None and candidate.evidence[0].strength == "medium"


def test_candidates_are_ranked_and_the_best_is_strong() -> None:
    result = match_call(
        identity(booking_id="BK-48213", customer_email="elena.marsh@example.com", customer_name="Elena Marsh"),
        seed_sources(),
    )
    assert result.status is MatchStatus.STRONG
    assert [c.record_id for c in result.candidates][:2] == ["48213", "700142"]
    assert result.candidates[-1].record_id == "700143"  # the decoy Elena Marsh is last, weak
    assert result.confidence == result.candidates[0].confidence


def test_the_fuzzy_decoy_name_is_weak_evidence_only() -> None:
    result = match_call(identity(customer_name="Hannah Reid", customer_email="hannah.reid@example.com"), seed_sources())
    decoy = next(c for c in result.candidates if c.record_id == "ct_165")
    assert decoy.confidence < 0.2
    assert [e.strength for e in decoy.evidence] == ["weak"]


def test_a_shared_phone_does_not_hijack_a_corroborated_match() -> None:
    result = match_call(
        identity(
            invoice_number="INV-2025-0917", customer_email="marcus.greene@example.com", customer_phone="5555550187"
        ),
        seed_sources(),
    )
    assert result.status is MatchStatus.STRONG
    assert result.candidates[0].record_id == "plisio_0917"


def test_email_of_one_customer_and_phone_of_another_is_ambiguous() -> None:
    result = match_call(identity(customer_email="elena.marsh@example.com", customer_phone="5555550164"), seed_sources())
    assert result.status is MatchStatus.AMBIGUOUS
    assert result.confidence <= CONFIG.ambiguous_cap
    assert any(note.startswith("conflicting identity") for note in result.notes)


def test_two_close_candidates_are_ambiguous() -> None:
    result = match_call(identity(customer_phone="555-555-0187"), seed_sources())
    assert result.status is MatchStatus.AMBIGUOUS
    assert any(note.startswith("close candidates") for note in result.notes)


def test_records_of_one_customer_in_several_tools_are_not_ambiguous() -> None:
    result = match_call(identity(customer_email="sofia.alvarez@example.com"), seed_sources())
    assert {c.tool for c in result.candidates} == {Tool.PLANYO, Tool.BILLIT}
    assert result.status is MatchStatus.WEAK


def test_a_failed_lookup_is_recorded_and_lowers_confidence() -> None:
    sources = [s if s.tool is not Tool.BILLIT else BrokenSource(tool=Tool.BILLIT) for s in seed_sources()]
    result = match_call(identity(booking_id="BK-48213", customer_email="elena.marsh@example.com"), sources)
    failed = [r for r in result.lookups if not r.ok]
    assert [(r.tool, r.error) for r in failed] == [(Tool.BILLIT, "ConnectionError: connection refused")]
    assert result.confidence == pytest.approx(CONFIG.id_and_contact - CONFIG.failed_lookup_penalty)
    assert any("billit" in note for note in result.notes)


def test_a_slow_lookup_times_out_within_the_budget_and_never_fails_the_call() -> None:
    hanging = HangingSource(tool=Tool.PLISIO)
    try:
        sources = [*seed_sources(tools=[Tool.PLANYO]), hanging]
        result = match_call(identity(booking_id="BK-48213"), sources, budget_seconds=0.05)
    finally:
        hanging.release.set()
    report = next(r for r in result.lookups if r.tool is Tool.PLISIO)
    assert not report.ok and "timed out" in (report.error or "")
    assert result.candidates[0].record_id == "48213"


def test_without_identifying_data_no_tool_is_asked() -> None:
    source = InMemorySource(tool=Tool.PLANYO)
    result = match_call(identity(customer_name="Elena Marsh"), [source])
    assert source.calls == 0
    assert result.status is MatchStatus.NONE and result.lookups == []


def test_duplicate_records_from_two_sources_count_once() -> None:
    result = score_records(identity(booking_id="BK-48213"), [RESERVATION, RESERVATION], [])
    assert len(result.candidates) == 1


def test_no_records_is_status_none() -> None:
    result = score_records(identity(customer_email="x@example.com"), [], [])
    assert result.status is MatchStatus.NONE and result.confidence == 0.0
