"""DialNexa envelopes: every sample, every documented name drift, every bad-input class, merging."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.ingest import limits
from handoff.ingest.envelope import (
    ENVELOPE_ADAPTER,
    Call,
    CallEvent,
    EventName,
    InvalidWebhook,
    MalformedWebhook,
    OversizedWebhook,
    Ping,
    UnknownEvent,
    execution_name,
    merge_calls,
    parse_webhook,
    starts_execution,
)

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "dialnexa"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def variant_a(event_type: str = "call_ended", **fields: Any) -> bytes:
    """A Variant A body whose call has an id plus ``fields``."""
    return body({"event_type": event_type, "payload": {"call": {"id": "call_T1", **fields}}})


def call_of(raw: bytes) -> Call:
    envelope = parse_webhook(raw)
    assert isinstance(envelope, CallEvent)
    return envelope.call


# --------------------------------------------------------------------------- the samples


@pytest.mark.parametrize(
    ("filename", "variant", "event", "call_id", "caller_phone"),
    [
        (
            "variant-a_call-ended_completed_inbound_billing-dispute-invoice.json",
            "A",
            EventName.CALL_ENDED,
            "call_2Vd8Nw4pYs6K",
            "15555550187",
        ),
        (
            "variant-a_call-ended_completed_inbound_damaged-item-transferred.json",
            "A",
            EventName.CALL_ENDED,
            "call_5Lr3Gt8wQz1M",
            "15555550131",
        ),
        (
            "variant-a_call-ended_completed_inbound_no-identifying-data.json",
            "A",
            EventName.CALL_ENDED,
            "call_3Ym6Hb2dWe9F",
            "15555550123",
        ),
        (
            "variant-a_call-ended_completed_inbound_price-availability-buying-intent.json",
            "A",
            EventName.CALL_ENDED,
            "call_8Ck4Rf1vJp7T",
            "15555550156",
        ),
        (
            "variant-a_call-ended_completed_inbound_reschedule-booking.json",
            "A",
            EventName.CALL_ENDED,
            "call_7Hq2mXk9RtB4",
            "15555550142",
        ),
        (
            "variant-a_call-ended_hangup_outbound-batch_no-answer.json",
            "A",
            EventName.CALL_ENDED,
            "call_6Pz9Sa5nKc2D",
            "15555550199",  # outbound: the caller we care about is the number dialled
        ),
        ("variant-b_call-analysis-ready.json", "B", EventName.ANALYSIS_READY, "sess_9Jm3Xc6R", "+15555550164"),
    ],
)
def test_every_call_sample_parses_to_its_envelope(
    filename: str, variant: str, event: EventName, call_id: str, caller_phone: str
) -> None:
    envelope = parse_webhook(sample(filename))
    assert isinstance(envelope, CallEvent)
    assert (envelope.variant, envelope.event, envelope.call.call_id) == (variant, event, call_id)
    assert envelope.call.caller_phone == caller_phone == envelope.call.caller_phone_raw
    assert envelope.call.last_event == event.value
    assert envelope.starts_execution


def test_the_ping_sample_is_a_ping() -> None:
    assert parse_webhook(sample("ping_verification-request.json")) == Ping(
        message="DialNexa webhook verification", timestamp=datetime(2025, 6, 10, 14, 0, tzinfo=UTC)
    )


def test_completed_sample_carries_every_documented_field() -> None:
    call = call_of(sample("variant-a_call-ended_completed_inbound_billing-dispute-invoice.json"))
    assert call.direction == "inbound"
    assert call.type == "phone_call"
    assert call.status == "completed"
    assert (call.from_number, call.to_number) == ("15555550187", "15555550100")
    assert call.agent_id == "agent_5Ns8pQ2vLm31"
    assert call.initiated_at == datetime(2025, 6, 10, 16, 40, 52, 19000, tzinfo=UTC)
    assert call.duration_seconds == 241
    assert call.hangup_reason == "agent_disconnected"
    assert call.transcript is not None and call.transcript.startswith("Agent: Thanks for calling")
    assert call.summary is not None and call.summary.startswith("Marcus Greene disputes")
    assert call.recording_url is not None and call.recording_url.startswith("https://recordings.example.com/")
    assert call.transfer is None


def test_analysis_drops_not_provided_values_and_keeps_false_and_numbers() -> None:
    call = call_of(sample("variant-a_call-ended_completed_inbound_billing-dispute-invoice.json"))
    assert call.analysis == {
        "intent": "billing_dispute",
        "customer_name": "Marcus Greene",
        "customer_email": "marcus.greene@example.com",
        "customer_phone": "555-555-0187",
        "invoice_number": "INV-2025-0917",
        "amount_disputed": 349.0,
        "buying_intent": False,
        "resolved": False,
        "follow_up_required": True,
    }


def test_hangup_sample_keeps_batch_category_and_reason_without_duration() -> None:
    call = call_of(sample("variant-a_call-ended_hangup_outbound-batch_no-answer.json"))
    assert (call.status, call.category, call.category_id) == ("hangup", "batch", "batch_7Fk2Lp9Qx3Vm")
    assert call.hangup_reason == "user_did_not_pick_up"
    assert call.duration_seconds is None
    assert call.transcript is None
    assert call.analysis == {}


def test_transferred_sample_keeps_the_transfer() -> None:
    call = call_of(sample("variant-a_call-ended_completed_inbound_damaged-item-transferred.json"))
    assert call.transfer == {
        "destination": "+15555550177",
        "status": "connected",
        "destination_id": "transfer_9Qw2Ek7Hn4Bc",
    }


def test_variant_b_sample_reads_the_flat_fields() -> None:
    call = call_of(sample("variant-b_call-analysis-ready.json"))
    assert call.workspace_id == "ws_4Tq8Vd2N"
    assert call.agent_id == "agent_5Ns8pQ2vLm31"
    assert call.initiated_at == datetime(2025, 6, 12, 17, 20, 44, tzinfo=UTC)
    assert call.analysis["booking_id"] == "BK-48377"
    assert call.status is None


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("variant-*.json")), ids=lambda p: p.name)
def test_a_stored_call_validates_back_to_itself(path: Path) -> None:
    call = call_of(path.read_bytes())
    assert Call.model_validate(call.model_dump(mode="json")) == call
    assert Call.model_validate(call.model_dump()) == call


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_a_dumped_envelope_validates_back_to_itself(path: Path) -> None:
    envelope = parse_webhook(path.read_bytes())
    assert ENVELOPE_ADAPTER.validate_python(envelope.model_dump(mode="json")) == envelope


# --------------------------------------------------------------------------- the call summary


def test_summary_carries_the_compact_call_without_the_transcript() -> None:
    call = call_of(sample("variant-a_call-ended_completed_inbound_damaged-item-transferred.json"))
    summary = call.to_summary(analysis_grace_seconds=30)
    assert summary.call_id == "call_5Lr3Gt8wQz1M"
    assert summary.event == "call.ended"
    assert summary.caller_phone == "15555550131"
    assert summary.transferred_to == "+15555550177"
    assert summary.has_transcript is True
    assert summary.analysis_grace_seconds == 30
    assert summary.call_url is None
    assert "Thanks for calling" not in summary.model_dump_json()  # the transcript never travels


def test_summary_of_a_call_without_transcript_says_so() -> None:
    summary = call_of(sample("variant-a_call-ended_hangup_outbound-batch_no-answer.json")).to_summary()
    assert summary.has_transcript is False
    assert summary.analysis_grace_seconds == 0


def test_summary_stays_small_whatever_the_call_carries() -> None:
    huge = "x" * 50_000
    call = Call.model_validate(
        {
            "call_id": "call_T1",
            "summary": huge,
            "transcript": huge,
            "post_call_analysis": {f"k{i}": huge for i in range(200)},
        }
    )
    summary = call.to_summary()
    assert summary.summary is not None and len(summary.summary) == limits.STATE_SUMMARY_BYTES
    assert len(summary.analysis) == limits.MAX_ANALYSIS_KEYS
    assert all(len(v) == limits.STATE_ANALYSIS_VALUE_BYTES for v in summary.analysis.values())
    assert len(summary.model_dump_json()) < 40_000


def test_summary_leaves_out_large_nested_analysis_values() -> None:
    call = call_of(variant_a(analysis={"small": {"a": 1}, "large": {"items": ["y" * 400] * 10}}))
    assert call.to_summary().analysis == {"small": {"a": 1}}


# --------------------------------------------------------------------------- drifting names


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        ({"direction": "inbound"}, "direction", "inbound"),
        ({"call_direction": "outbound"}, "direction", "outbound"),
        ({"direction": "INBOUND"}, "direction", "inbound"),
        ({"direction": "sideways"}, "direction", "sideways"),  # unknown values are kept
        ({"inbound": True}, "direction", "inbound"),
        ({"inbound": False}, "direction", "outbound"),
        ({"duration": 42}, "duration_seconds", 42.0),
        ({"duration_seconds": 42}, "duration_seconds", 42.0),
        ({"duration_sec": 42.5}, "duration_seconds", 42.5),
        ({"duration_ms": 42_000}, "duration_seconds", 42.0),
        ({"call_length": 0.7}, "duration_seconds", pytest.approx(42.0)),
        ({"duration": "42"}, "duration_seconds", 42.0),
        ({"duration": "abc"}, "duration_seconds", None),
        ({"duration": -5}, "duration_seconds", None),
        ({"duration": True}, "duration_seconds", None),
        ({"duration": "abc", "duration_ms": 3000}, "duration_seconds", 3.0),
        ({"hangup_reason": "user_busy"}, "hangup_reason", "user_busy"),
        ({"end_reason": "voicemail_detected"}, "hangup_reason", "voicemail_detected"),
        ({"disconnection_reason": "network_failure"}, "hangup_reason", "network_failure"),
        ({"hangup_reason": "user_busy", "disconnection_reason": "unknown"}, "hangup_reason", "user_busy"),
        ({"status": "did_not_pick"}, "status", "did_not_pick"),
        ({"status": "brand_new_status"}, "status", "brand_new_status"),
        ({"status": 5}, "status", None),
        ({"direction": ["inbound"]}, "direction", None),
        ({"summary": {"text": "x"}}, "summary", None),
        ({"summary": "  Short summary.  "}, "summary", "Short summary."),
        ({"recording_url": "javascript:alert(1)"}, "recording_url", None),
        ({"recording_url": "https://r.example.com/a.mp3"}, "recording_url", "https://r.example.com/a.mp3"),
        ({"agent_id": "agt_1"}, "agent_id", "agt_1"),
        ({"agent_id": "1234"}, "agent_id", "1234"),  # id prefixes are never validated
        ({"category": "batch", "category_id": "batch_1"}, "category_id", "batch_1"),
        ({"type": "phone_call"}, "type", "phone_call"),
    ],
)
def test_drifting_field_names_and_wrong_types(fields: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(call_of(variant_a(**fields)), attribute) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"initiated_at": "2025-05-02T10:21:15.945Z"}, datetime(2025, 5, 2, 10, 21, 15, 945000, tzinfo=UTC)),
        ({"createdAt": "2025-05-02T10:21:15Z"}, datetime(2025, 5, 2, 10, 21, 15, tzinfo=UTC)),
        ({"created_at": "2025-05-02T10:21:15Z"}, datetime(2025, 5, 2, 10, 21, 15, tzinfo=UTC)),
        ({"timestamp": "2025-05-02T10:21:15Z"}, datetime(2025, 5, 2, 10, 21, 15, tzinfo=UTC)),
        ({"initiated_at": "2025-05-02T10:21:15"}, datetime(2025, 5, 2, 10, 21, 15, tzinfo=UTC)),  # naive = UTC
        (
            {"initiated_at": "2025-05-02T12:21:15+02:00"},
            datetime(2025, 5, 2, 12, 21, 15, tzinfo=timezone(timedelta(hours=2))),
        ),
        ({"initiated_at": 1746181275}, datetime(2025, 5, 2, 10, 21, 15, tzinfo=UTC)),  # epoch seconds
        ({"initiated_at": 1746181275000}, datetime(2025, 5, 2, 10, 21, 15, tzinfo=UTC)),  # epoch milliseconds
        ({"initiated_at": "yesterday"}, None),
        ({"initiated_at": 10**30}, None),
        ({"initiated_at": None, "created_at": "2025-05-02T10:21:15Z"}, datetime(2025, 5, 2, 10, 21, 15, tzinfo=UTC)),
    ],
)
def test_timestamp_variants(fields: dict[str, Any], expected: datetime | None) -> None:
    initiated_at = call_of(variant_a(**fields)).initiated_at
    assert initiated_at == expected
    assert initiated_at is None or initiated_at.tzinfo is not None


@pytest.mark.parametrize("key", ["post_call_analysis", "analysis", "json_output", "extracted_data", "call_analysis"])
def test_analysis_is_read_from_every_documented_key(key: str) -> None:
    fields: dict[str, Any] = {key: {"intent": "booking"}}
    assert call_of(variant_a(**fields)).analysis == {"intent": "booking"}


def test_analysis_prefers_the_first_non_empty_documented_key() -> None:
    call = call_of(variant_a(post_call_analysis={"intent": ""}, analysis={"intent": "complaint"}))
    assert call.analysis == {"intent": "complaint"}


def test_analysis_values_are_cleaned_and_bounded() -> None:
    call = call_of(
        variant_a(
            analysis={
                "blank": "   ",
                "none": None,
                "empty_list": [],
                "long": "y" * (limits.MAX_ANALYSIS_STRING_BYTES + 10),
                "nested": {"inner": "", "kept": " v "},
                "list": [1, "", None, "a"],
                "k" * (limits.MAX_ANALYSIS_KEY_BYTES + 1): "dropped",
                "zero": 0,
            }
        )
    )
    assert call.analysis == {
        "long": "y" * limits.MAX_ANALYSIS_STRING_BYTES,
        "nested": {"kept": "v"},
        "list": [1, "a"],
        "zero": 0,
    }


def test_analysis_keeps_at_most_max_keys_in_body_order() -> None:
    call = call_of(variant_a(analysis={f"field_{i:03}": i for i in range(limits.MAX_ANALYSIS_KEYS + 20)}))
    assert list(call.analysis) == [f"field_{i:03}" for i in range(limits.MAX_ANALYSIS_KEYS)]


def test_analysis_drops_values_nested_deeper_than_the_limit() -> None:
    deep: Any = "bottom"
    for _ in range(limits.MAX_ANALYSIS_DEPTH + 2):
        deep = {"d": deep}
    assert call_of(variant_a(analysis={"deep": deep, "flat": 1})).analysis == {"flat": 1}


@pytest.mark.parametrize(
    ("transcript", "expected"),
    [
        ("Agent: Hi\nUser: Hello", "Agent: Hi\nUser: Hello"),
        ([{"role": "agent", "text": "Hi"}, {"role": "user", "text": "Hello"}], "agent: Hi\nuser: Hello"),
        (
            [{"speaker": "Agent", "message": "Hi"}, {"speaker": "Caller", "content": "Hello"}],
            "Agent: Hi\nCaller: Hello",
        ),
        ([{"user": "assistant", "text": "Hi", "time": 0.5}], "assistant: Hi"),  # Bland-style role key
        ([{"text": "no role"}, {"role": "agent"}, 5, None], "no role"),
        (["Agent: Hi", "User: Hello"], "Agent: Hi\nUser: Hello"),
        ({"Agent": "Hi", "User": "Hello"}, "Agent: Hi\nUser: Hello"),
        ({"Agent": ["Hi", "Bye"], "User": "Hello"}, "Agent: Hi\nAgent: Bye\nUser: Hello"),
        ({" ": "Hi", "User": " Hello "}, "Hi\nUser: Hello"),
        ([], None),
        ("   ", None),
        (42, None),
    ],
)
def test_transcript_shapes_become_text(transcript: Any, expected: str | None) -> None:
    assert call_of(variant_a(transcript=transcript)).transcript == expected


def test_a_role_keyed_transcript_cannot_grow_past_its_byte_cap() -> None:
    # Each one-letter part costs 5 body bytes but becomes "<100-letter role>: x\n" when joined.
    role = "agent" * 20
    transcript = call_of(variant_a(transcript={role: ["x"] * 40_000})).transcript
    assert transcript is not None
    assert limits.MAX_TRANSCRIPT_BYTES - 200 < limits.utf8_len(transcript) <= limits.MAX_TRANSCRIPT_BYTES
    assert transcript.startswith(f"{role}: x")


def test_a_transcript_is_capped_in_bytes_never_inside_a_character() -> None:
    cut = limits.clip_utf8("日本語" * 10, 10)
    assert cut == "日本語" and limits.utf8_len(cut) == 9


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"direction": "inbound", "from_number": "15550001", "to_number": "15550002"}, "15550001"),
        ({"direction": "outbound", "from_number": "15550001", "to_number": "15550002"}, "15550002"),
        ({"call_direction": "outbound", "from_number": "15550001", "to_number": "15550002"}, "15550002"),
        ({"from_number": "15550001", "to_number": "15550002"}, None),  # direction unknown: no guess
        ({"direction": "inbound", "from_number": 15555550187}, "15555550187"),  # a number sent as JSON int
        ({"direction": "inbound", "from": "+15550001"}, "+15550001"),
        ({"direction": "inbound", "from_number": "  15550001 "}, "15550001"),
    ],
)
def test_caller_phone_follows_the_direction_and_stays_raw(fields: dict[str, Any], expected: str | None) -> None:
    assert call_of(variant_a(**fields)).caller_phone == expected


# --------------------------------------------------------------------------- variants


@pytest.mark.parametrize(
    ("raw_event", "event"),
    [
        ("call.started", EventName.CALL_STARTED),
        ("call.ended", EventName.CALL_ENDED),
        ("call.transcript_ready", EventName.TRANSCRIPT_READY),
        ("call.analysis_ready", EventName.ANALYSIS_READY),
    ],
)
def test_variant_b_events_use_the_session_id(raw_event: str, event: EventName) -> None:
    envelope = parse_webhook(
        body({"event": raw_event, "session_id": "sess_1", "phone_number": "+15550001234", "workspace_id": "ws_1"})
    )
    assert isinstance(envelope, CallEvent)
    assert (envelope.variant, envelope.event, envelope.raw_event) == ("B", event, raw_event)
    assert (envelope.call.call_id, envelope.call.caller_phone) == ("sess_1", "+15550001234")


def test_variant_b_transcript_ready_carries_the_transcript() -> None:
    call = call_of(body({"event": "call.transcript_ready", "session_id": "sess_1", "transcript": "Agent: Hi"}))
    assert call.transcript == "Agent: Hi"


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda c: {"call": c}, id="call"),
        pytest.param(lambda c: {"payload": {"call": c}}, id="payload.call"),
        pytest.param(lambda c: {"data": c}, id="data"),
        pytest.param(lambda c: {**{("call_id" if k == "id" else k): v for k, v in c.items()}}, id="root"),
    ],
)
@pytest.mark.parametrize(
    ("raw_event", "status"),
    [("call.completed", "completed"), ("call.failed", "failed"), ("call.no_answer", "no_answer")],
)
def test_variant_c_subscription_events_find_the_call_anywhere(shape: Any, raw_event: str, status: str) -> None:
    envelope = parse_webhook(body({"event": raw_event, **shape({"id": "call_C1", "direction": "inbound"})}))
    assert isinstance(envelope, CallEvent)
    assert (envelope.variant, envelope.event, envelope.call.call_id) == ("C", EventName.CALL_ENDED, "call_C1")
    assert envelope.call.direction == "inbound"
    assert envelope.call.status == status  # inferred from the subscription name when the body has none


def test_an_explicit_status_wins_over_the_one_implied_by_the_event_name() -> None:
    assert call_of(body({"event": "call.failed", "call": {"id": "c", "status": "busy"}})).status == "busy"


def test_call_initiated_without_status_is_initiated() -> None:
    envelope = parse_webhook(body({"event_type": "call_initiated", "payload": {"call": {"id": "c"}}}))
    assert isinstance(envelope, CallEvent)
    assert (envelope.event, envelope.call.status) == (EventName.CALL_STARTED, "initiated")
    assert not envelope.starts_execution


def test_transfer_completed_reads_the_transfer_next_to_the_call() -> None:
    envelope = parse_webhook(
        body(
            {
                "event_type": "transfer_completed",
                "payload": {"call": {"id": "c"}, "call_transfer": {"destination": "+15550001", "status": "connected"}},
            }
        )
    )
    assert isinstance(envelope, CallEvent)
    assert envelope.event == EventName.TRANSFER_COMPLETED
    assert envelope.call.transfer == {"destination": "+15550001", "status": "connected"}


def test_third_party_flat_shape_is_a_finished_call() -> None:
    envelope = parse_webhook(
        body(
            {
                "call_id": "call_F1",
                "status": "completed",
                "summary": "s",
                "transcript": "Agent: Hi",
                "extracted_data": {"order_id": "NW-1"},
                "duration": 30,
                "metadata": {"x": 1},
                "billing": {"credits": 2},
            }
        )
    )
    assert isinstance(envelope, CallEvent)
    assert (envelope.variant, envelope.event, envelope.raw_event) == ("flat", EventName.CALL_ENDED, None)
    assert envelope.call.analysis == {"order_id": "NW-1"}
    assert envelope.call.duration_seconds == 30


def test_flat_shape_with_initiated_status_is_a_start() -> None:
    envelope = parse_webhook(body({"call_id": "call_F1", "status": "initiated"}))
    assert isinstance(envelope, CallEvent) and envelope.event == EventName.CALL_STARTED


def test_event_names_are_matched_case_insensitively() -> None:
    envelope = parse_webhook(variant_a(event_type="CALL_ENDED"))
    assert isinstance(envelope, CallEvent)
    assert (envelope.event, envelope.raw_event) == (EventName.CALL_ENDED, "CALL_ENDED")


def test_a_root_id_is_never_taken_as_the_call_id() -> None:
    with pytest.raises(MalformedWebhook, match="call id"):
        parse_webhook(body({"event": "call.ended", "id": "delivery_1"}))


def test_unknown_fields_are_ignored() -> None:
    call = call_of(variant_a(brand_new_field={"x": 1}, sentiment="positive", cost=0.12))
    assert call.call_id == "call_T1"


def test_call_id_is_stripped() -> None:
    assert call_of(body({"event_type": "call_ended", "payload": {"call": {"id": " call_1 "}}})).call_id == "call_1"


@pytest.mark.parametrize(
    "raw_event",
    [
        "alert.triggered",
        "campaign.completed",
        "campaign.paused",
        "workflow.lead.completed",
        "call.function_error",
        "order.paid",
    ],
)
def test_other_named_events_are_unknown_events(raw_event: str) -> None:
    envelope = parse_webhook(body({"event": raw_event, "session_id": "sess_1", "anything": [1, 2]}))
    assert envelope == UnknownEvent(raw_event=raw_event, call_id="sess_1")


@pytest.mark.parametrize(
    "extra", [{}, {"session_id": 12}, {"call": {"id": ""}}], ids=["no-id", "wrong-type-id", "empty-id"]
)
def test_unknown_events_never_fail_on_their_call_id(extra: dict[str, Any]) -> None:
    assert parse_webhook(body({"event": "alert.triggered", **extra})) == UnknownEvent(raw_event="alert.triggered")


def test_a_message_without_timestamp_is_still_the_ping() -> None:
    assert parse_webhook(body({"message": "hello"})) == Ping(message="hello")


def test_a_ping_with_an_unreadable_timestamp_keeps_the_message() -> None:
    assert parse_webhook(body({"message": "hello", "timestamp": "soon"})) == Ping(message="hello")


@pytest.mark.parametrize(
    ("event", "starts"),
    [
        (EventName.CALL_ENDED, True),
        (EventName.ANALYSIS_READY, True),
        (EventName.CALL_STARTED, False),
        (EventName.TRANSCRIPT_READY, False),
        (EventName.TRANSFER_COMPLETED, False),
        ("call.ended", True),
        ("call_ended", False),  # raw names must be normalised first
    ],
)
def test_only_end_and_analysis_events_start_the_pipeline(event: EventName | str, starts: bool) -> None:
    assert starts_execution(event) is starts


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"not json", "body is not valid JSON: Expecting value at line 1 column 1", id="not-json"),
        pytest.param(b"", "body is not valid JSON", id="empty"),
        pytest.param(b'{"event_type": "call_ended",', "body is not valid JSON", id="truncated"),
        pytest.param(b"[]", "body must be a JSON object, got array", id="array"),
        pytest.param(b'"call_ended"', "body must be a JSON object, got string", id="string"),
        pytest.param(b"42", "body must be a JSON object, got number", id="number"),
        pytest.param(b"null", "body must be a JSON object, got null", id="null"),
        pytest.param(b"\xff\xfe{}", "body is not valid UTF-8: invalid byte at offset 0", id="not-utf8"),
        pytest.param(b'{"message": "\xe9"}', "body is not valid UTF-8", id="latin1"),
        pytest.param(b'{"a": NaN}', "body is not valid JSON: non-standard constant NaN", id="nan"),
        pytest.param(b'{"a": "\\ud800"}', "unpaired surrogate", id="lone-surrogate"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "body is not valid JSON", id="nested-too-deeply"),
        pytest.param(b"{}", "body has no event name (event_type or event), no call object", id="empty-object"),
        pytest.param(
            b'{"event_type": "call_ended", "payload": {"call": {}}}', "payload.call.id is missing", id="missing-id"
        ),
        pytest.param(
            b'{"event_type": "call_ended", "payload": {}}',
            "payload.call.id is missing",
            id="missing-call-object",
        ),
        pytest.param(
            b'{"event_type": "call_ended", "payload": {"call": {"id": 123}}}',
            "payload.call.id must be a string, got number",
            id="numeric-id",
        ),
        pytest.param(
            b'{"event_type": "call_ended", "payload": {"call": {"id": {"v": 1}}}}',
            "payload.call.id must be a string, got object",
            id="object-id",
        ),
        pytest.param(
            b'{"event_type": "call_ended", "payload": {"call": {"id": "  "}}}',
            "payload.call.id is empty",
            id="blank-id",
        ),
        pytest.param(
            variant_a(id="c" * (limits.MAX_CALL_ID_BYTES + 1)),
            f"payload.call.id is longer than {limits.MAX_CALL_ID_BYTES} bytes (UTF-8)",
            id="long-id",
        ),
        pytest.param(b'{"event": "call.ended"}', "call id (call_id or session_id) is missing", id="b-missing-id"),
        pytest.param(
            b'{"event": "call.ended", "session_id": true}', "session_id must be a string, got boolean", id="b-bool-id"
        ),
        pytest.param(b'{"event_type": 7}', "event_type must be a string, got number", id="numeric-event-name"),
    ],
)
def test_malformed_bodies_are_refused_with_a_message_naming_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedWebhook) as caught:
        parse_webhook(raw)
    assert message in str(caught.value)


def test_oversized_body_is_refused_before_parsing() -> None:
    raw = b"\xff" * (limits.MAX_BODY_BYTES + 1)  # not even UTF-8: size is checked first
    with pytest.raises(OversizedWebhook, match=f"body is {limits.MAX_BODY_BYTES + 1} bytes; the limit is"):
        parse_webhook(raw)


def test_a_body_of_exactly_the_limit_is_accepted() -> None:
    raw = variant_a()
    raw = raw + b" " * (limits.MAX_BODY_BYTES - len(raw))
    assert len(raw) == limits.MAX_BODY_BYTES
    assert isinstance(parse_webhook(raw), CallEvent)


def test_the_limit_is_256_kib() -> None:
    assert limits.MAX_BODY_BYTES == 256 * 1024


def test_a_leading_byte_order_mark_is_tolerated() -> None:
    assert isinstance(parse_webhook(b"\xef\xbb\xbf" + variant_a()), CallEvent)


def test_refusals_are_value_errors_and_distinct() -> None:
    assert issubclass(MalformedWebhook, InvalidWebhook) and issubclass(OversizedWebhook, InvalidWebhook)
    assert issubclass(InvalidWebhook, ValueError)
    assert not issubclass(OversizedWebhook, MalformedWebhook)
    assert not issubclass(MalformedWebhook, OversizedWebhook)


# --------------------------------------------------------------------------- merging


def call(**fields: Any) -> Call:
    return Call.model_validate({"call_id": "call_M1", **fields})


@pytest.mark.parametrize(
    ("existing", "update", "expected"),
    [
        ("initiated", "completed", "completed"),
        ("completed", "initiated", "completed"),
        ("hangup", "initiated", "hangup"),
        ("hangup", "completed", "hangup"),  # the first terminal status stays
        ("completed", None, "completed"),
        (None, "initiated", "initiated"),
        ("ongoing", "initiated", "ongoing"),  # unknown statuses count as in progress
        ("initiated", "ongoing", "ongoing"),
        ("ongoing", "failed", "failed"),
    ],
)
def test_merge_never_moves_status_backwards(existing: str | None, update: str | None, expected: str | None) -> None:
    assert merge_calls(call(status=existing), call(status=update)).status == expected


def test_a_late_call_initiated_only_fills_gaps() -> None:
    ended = call_of(sample("variant-a_call-ended_completed_inbound_billing-dispute-invoice.json"))
    late_start = Call.model_validate(
        {"call_id": ended.call_id, "status": "initiated", "summary": "stale", "hangup_reason": "x", "last_event": "s"}
    )
    merged = merge_calls(ended, late_start)
    assert merged.status == "completed"
    assert merged.summary == ended.summary
    assert merged.hangup_reason == "agent_disconnected"


def test_later_analysis_merges_keys_with_newer_non_empty_values_winning() -> None:
    merged = merge_calls(
        call(analysis={"intent": "other", "order_id": "NW-1"}),
        call(analysis={"intent": "complaint", "order_id": "", "resolved": False}),
    )
    assert merged.analysis == {"intent": "complaint", "order_id": "NW-1", "resolved": False}


def test_merge_keeps_the_transcript_when_the_update_has_none() -> None:
    assert merge_calls(call(transcript="Agent: Hi"), call(status="completed")).transcript == "Agent: Hi"


def test_merge_takes_a_transcript_that_arrives_later() -> None:
    assert merge_calls(call(status="completed"), call(transcript="Agent: Hi")).transcript == "Agent: Hi"


def test_merge_keeps_the_earliest_initiation_time() -> None:
    early, late = "2025-06-12T10:00:00Z", "2025-06-12T10:05:00Z"
    assert merge_calls(call(initiated_at=late), call(initiated_at=early)).initiated_at == datetime(
        2025, 6, 12, 10, tzinfo=UTC
    )
    assert merge_calls(call(initiated_at=early), call(initiated_at=late)).initiated_at == datetime(
        2025, 6, 12, 10, tzinfo=UTC
    )


def test_merge_keeps_the_first_caller_identity() -> None:
    merged = merge_calls(
        call(direction="inbound", from_number="15550001"), call(phone_number="+15559999", direction="outbound")
    )
    assert (merged.caller_phone, merged.direction) == ("15550001", "inbound")


def test_a_caller_number_backed_by_a_direction_replaces_an_ambiguous_one() -> None:
    analysis_first = call_of(
        body({"event": "call.analysis_ready", "session_id": "call_T1", "phone_number": "+15550100"})
    )
    ended = call_of(variant_a(direction="inbound", from_number="15550001", to_number="15550100"))
    assert merge_calls(analysis_first, ended).caller_phone == "15550001"


def test_merge_records_the_latest_event() -> None:
    merged = merge_calls(call(last_event="call.ended"), call(last_event="call.analysis_ready"))
    assert merged.last_event == "call.analysis_ready"


def test_analysis_ready_after_call_ended_keeps_the_end_and_adds_the_analysis() -> None:
    ended = call_of(variant_a(status="completed", direction="inbound", from_number="15550001", duration=40))
    analysis = call_of(
        body({"event": "call.analysis_ready", "session_id": "call_T1", "analysis": {"intent": "booking"}})
    )
    merged = merge_calls(ended, analysis)
    assert (merged.status, merged.duration_seconds, merged.caller_phone) == ("completed", 40, "15550001")
    assert merged.analysis == {"intent": "booking"}
    assert merged.last_event == EventName.ANALYSIS_READY


def test_merging_two_different_calls_is_refused() -> None:
    with pytest.raises(ValueError, match="different calls"):
        merge_calls(call(), Call.model_validate({"call_id": "other"}))


# --------------------------------------------------------------------------- execution names

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


@pytest.mark.parametrize("call_id", ["call_2Vd8Nw4pYs6K", "sess_9Jm3Xc6R", "1234", "a" * 80, "call-with-dash"])
def test_valid_call_ids_are_their_own_execution_name(call_id: str) -> None:
    assert execution_name(call_id) == call_id


@pytest.mark.parametrize("call_id", ["a" * 81, "call:abc/def", "call id", "ünïcødé", "日本", "c" * 256, "..."])
def test_other_call_ids_map_to_a_valid_stable_name(call_id: str) -> None:
    name = execution_name(call_id)
    assert _NAME.fullmatch(name)
    assert name == execution_name(call_id)
    assert name != call_id


def test_ids_that_clean_to_the_same_text_get_different_names() -> None:
    assert execution_name("a:b") != execution_name("a/b")
    assert execution_name("a" * 81) != execution_name("a" * 82)


# --------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
CALL_KEYS = [
    "direction",
    "call_direction",
    "type",
    "status",
    "category",
    "category_id",
    "from_number",
    "to_number",
    "from",
    "to",
    "phone_number",
    "caller_phone",
    "agent_id",
    "workspace_id",
    "initiated_at",
    "createdAt",
    "created_at",
    "timestamp",
    "duration",
    "duration_seconds",
    "duration_sec",
    "duration_ms",
    "call_length",
    "hangup_reason",
    "end_reason",
    "disconnection_reason",
    "transcript",
    "transcripts",
    "summary",
    "recording_url",
    "call_transfer",
    "transfer",
    "post_call_analysis",
    "analysis",
    "json_output",
    "extracted_data",
    "call_analysis",
    "inbound",
    "last_event",
]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_ever_raise_the_refusal_errors(raw: bytes) -> None:
    with contextlib.suppress(InvalidWebhook):
        parse_webhook(raw)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_only_ever_raises_the_refusal_errors(value: Any) -> None:
    with contextlib.suppress(InvalidWebhook):
        parse_webhook(json.dumps(value).encode())


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["call_ended", "call_initiated", "transfer_completed"]),
    st.dictionaries(st.sampled_from(CALL_KEYS), json_values, max_size=12),
)
def test_any_field_values_in_a_call_with_a_valid_id_still_parse(event_type: str, fields: dict[str, Any]) -> None:
    envelope = parse_webhook(variant_a(event_type, **fields))
    assert isinstance(envelope, CallEvent)
    assert envelope.call.call_id == "call_T1"
    assert Call.model_validate(envelope.call.model_dump(mode="json")) == envelope.call
    envelope.call.to_summary()


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(CALL_KEYS), json_values, max_size=8))
def test_variant_b_bodies_with_any_field_values_parse(fields: dict[str, Any]) -> None:
    envelope = parse_webhook(body({**fields, "event": "call.analysis_ready", "session_id": "sess_1"}))
    assert isinstance(envelope, CallEvent)
    assert envelope.call.call_id == "sess_1"


STATUSES = [
    None,
    "created",
    "initiated",
    "ongoing",
    "in_progress",
    "completed",
    "hangup",
    "failed",
    "no_answer",
    "busy",
]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=6))
def test_folding_events_in_any_order_never_leaves_a_terminal_status(statuses: list[str | None]) -> None:
    merged = call(status=statuses[0])
    for status in statuses[1:]:
        merged = merge_calls(merged, call(status=status))
    first_terminal = next((s for s in statuses if call(status=s).is_terminal), None)
    if first_terminal is not None:
        assert merged.status == first_terminal
    elif any(s is not None for s in statuses):
        assert merged.status is not None
