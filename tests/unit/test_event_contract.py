"""The event contract: typed details, nothing outside the models, schemas in sync with the repo."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from pydantic import ValidationError

from handoff.events.build import outcome_event
from handoff.events.contract import (
    DETAIL_TYPES,
    EVENT_MODELS,
    SOURCE,
    CallFailed,
    CallHandedOff,
    CallReviewRejected,
    EventDetail,
    LifecycleSignal,
    PartnerRouted,
    parse_detail,
)
from handoff.events.mask import mask_summary, safe_label
from handoff.events.publish import entry
from handoff.events.schema import all_schemas, event_schema
from handoff_dev.policy_files import shipped_policy

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "events"
STATE = json.loads((ROOT / "events" / "publish" / "publish-handed-off.json").read_text())["state"]
NOW = datetime(2025, 6, 12, 9, 30, tzinfo=UTC)
CALL_OUTCOMES = [t for t in DETAIL_TYPES if t.startswith("call.") and t != "call.lifecycle_signal"]


def state_document() -> dict[str, Any]:
    """A full state document as the Publish states receive it (caller details, evidence, actions ...)."""
    document: dict[str, Any] = json.loads(json.dumps(STATE))
    return document


def document_for(detail_type: str) -> dict[str, Any]:
    document = dict(state_document())
    if detail_type == "call.review_rejected":
        document["rejection"] = {
            "Error": "Handoff.ReviewRejected",
            "Cause": json.dumps({"reviewer": "casey", "reason": "call the customer first"}),
        }
    if detail_type in ("call.failed", "call.review_escalated"):
        document["error"] = {"Error": "States.Timeout", "Cause": "elena.marsh@example.com said 4111 1111 1111 1111"}
        document["failed_state"] = "RequestReview"
    return document


def test_every_detail_type_has_one_model_and_a_committed_schema() -> None:
    assert set(DETAIL_TYPES) == {
        "call.handed_off",
        "call.review_requested",
        "call.review_rejected",
        "call.review_escalated",
        "call.nothing_to_do",
        "call.failed",
        "partner.routed",
        "call.lifecycle_signal",
    }
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(f"{t}.json" for t in DETAIL_TYPES)


def test_committed_schemas_are_what_the_models_generate() -> None:
    """Run `handoff events schema --write` after changing a model."""
    for name, text in all_schemas().items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == text, f"schemas/events/{name} is stale"


@pytest.mark.parametrize("detail_type", DETAIL_TYPES)
def test_each_schema_is_valid_draft4(detail_type: str) -> None:
    Draft4Validator.check_schema(event_schema(detail_type))


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.detail_type)
def test_every_model_forbids_fields_outside_it(model: type[EventDetail]) -> None:
    assert model.model_config.get("extra") == "forbid"
    schema = event_schema(model.detail_type)
    assert schema["definitions"][model.schema_name]["additionalProperties"] is False


@pytest.mark.parametrize("detail_type", CALL_OUTCOMES)
def test_an_outcome_event_is_built_from_typed_parts_and_validates_against_its_schema(detail_type: str) -> None:
    detail = outcome_event(detail_type, document_for(detail_type), now=NOW, policy=shipped_policy())
    event = {"source": SOURCE, "detail-type": detail_type, "detail": json.loads(entry(detail)["Detail"])}
    Draft4Validator(event_schema(detail_type)).validate(event)
    assert parse_detail(detail_type, event["detail"]) == detail


@pytest.mark.parametrize("detail_type", CALL_OUTCOMES)
def test_an_outcome_event_carries_no_caller_details_evidence_or_action_parameters(detail_type: str) -> None:
    text = entry(outcome_event(detail_type, document_for(detail_type), now=NOW, policy=shipped_policy()))["Detail"]
    for leak in (
        "elena.marsh@example.com",
        "+15555550142",
        "15555550142",
        "Elena",
        "Marsh",
        "4111",
        "signature=",
        "analysis",
        "evidence",
        "params",
        'transcript":"User',
        "requested_date",
        "total_price",
    ):
        assert leak not in text, leak


def test_a_field_outside_the_model_fails_the_event_before_it_is_published() -> None:
    detail = outcome_event("call.handed_off", state_document(), now=NOW, policy=shipped_policy())
    data = json.loads(entry(detail)["Detail"])
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CallHandedOff.model_validate({**data, "caller_email": "elena.marsh@example.com"})
    with pytest.raises(ValidationError):
        CallHandedOff.model_validate({**data, "record": {**data["record"], "display": "Elena Marsh"}})


def test_the_handed_off_event_names_owner_urgency_record_and_what_each_action_did() -> None:
    detail = outcome_event("call.handed_off", state_document(), now=NOW, policy=shipped_policy())
    assert isinstance(detail, CallHandedOff)
    assert detail.call_id == "call_7Hq2mXk9RtB4"
    assert detail.owner and detail.urgency and detail.intent == "reschedule_booking"
    assert detail.record is not None and (detail.record.tool.value, detail.record.record_id) == ("planyo", "48213")
    assert [(a.tool.value, a.operation, a.status) for a in detail.actions] == [("planyo", "modify_reservation", "done")]
    assert detail.links is not None and detail.links.dialnexa_call.endswith("call_7Hq2mXk9RtB4")


def test_the_failed_event_carries_the_error_name_never_its_message() -> None:
    detail = outcome_event("call.failed", document_for("call.failed"), now=NOW, policy=shipped_policy())
    assert isinstance(detail, CallFailed)
    assert (detail.failed_state, detail.error) == ("RequestReview", "States.Timeout")


def test_the_rejected_event_names_the_reviewer_not_their_note() -> None:
    detail = outcome_event(
        "call.review_rejected", document_for("call.review_rejected"), now=NOW, policy=shipped_policy()
    )
    assert isinstance(detail, CallReviewRejected) and detail.reviewer == "casey"
    assert "call the customer first" not in detail.model_dump_json()


def test_the_summary_is_masked() -> None:
    text = (
        "Elena Marsh (elena.marsh@example.com, +1 555-555-0142) paid $1,299.00 and 349 USD with card "
        "4111 1111 1111 1111; VAT BE0412345614; key sk_live_canary_4f3e2d1c0b9a8877. Move BK-48213 to 2025-06-14."
    )
    masked = mask_summary(text, names=["Elena Marsh"])
    for leak in ("Elena", "Marsh", "elena.marsh", "555", "1,299", "349", "4111 1111", "BE0412345614", "sk_live"):
        assert leak not in masked, leak
    assert "BK-48213" in masked and "2025-06-14" in masked


def test_labels_that_are_not_labels_are_dropped() -> None:
    assert safe_label("Harbor 3-seat sofa (slate grey)") == "Harbor 3-seat sofa (slate grey)"
    for bad in ("daniel@example.com", "$1,299 sofa", "4111111111111111", "x" * 81, "call me at 5555550142", ""):
        assert safe_label(bad) is None, bad


def test_a_lifecycle_signal_carries_exactly_its_own_part() -> None:
    base = {
        "signal_id": "c:product_interest",
        "call_id": "c",
        "occurred_at": NOW,
        "signal": "product_interest",
        "customer": {"tool": "billit", "kind": "customer", "record_id": "1"},
    }
    with pytest.raises(ValidationError, match="exactly its own part"):
        LifecycleSignal.model_validate(base)
    with pytest.raises(ValidationError, match="exactly its own part"):
        LifecycleSignal.model_validate(
            {**base, "product_interest": {"sku": "A1", "strength": "strong"}, "return_outcome": {"outcome": "returned"}}
        )
    with pytest.raises(ValidationError):
        LifecycleSignal.model_validate({**base, "product_interest": {"sku": "A1", "strength": "strong", "amount": 5}})


def test_partner_routed_has_a_model() -> None:
    assert PartnerRouted.model_config.get("extra") == "forbid"
