"""The call record is counted in UTF-8 bytes and always fits a DynamoDB item."""

from __future__ import annotations

import json
import random

import pytest

from handoff.ingest import limits
from handoff.ingest.envelope import CallEvent, parse_webhook
from handoff.store import TRUNCATION_NOTE, decode_call, encode_call, stored_call_bytes
from handoff_dev.large_bodies import call_body


def _plain(attrs: dict[str, dict[str, object]]) -> dict[str, object]:
    return {name: next(iter(value.values())) for name, value in attrs.items()}


def test_a_small_call_is_stored_as_readable_utf8_json_without_escapes() -> None:
    attrs = encode_call({"call_id": "c1", "summary": "Перенести бронь"})
    assert attrs == {"call_json": {"S": '{"call_id":"c1","summary":"Перенести бронь"}'}}


def test_a_large_call_is_compressed_and_reads_back_identical() -> None:
    call = {"call_id": "c1", "transcript": "user: здравствуйте\n" * 10_000}
    attrs = encode_call(call)
    assert "call_z" in attrs and stored_call_bytes(attrs) < 10_000
    assert decode_call(_plain(attrs)) == call


@pytest.mark.parametrize("script", ["cyrillic", "japanese", "emoji", "greek", "arabic"])
@pytest.mark.parametrize("kind", ["natural", "random"])
def test_a_call_from_any_accepted_body_fits_the_record_untruncated(script: str, kind: str) -> None:
    envelope = parse_webhook(call_body("c1", script, limits.MAX_BODY_BYTES, kind))  # type: ignore[arg-type]
    assert isinstance(envelope, CallEvent)
    call = envelope.call.model_dump(mode="json")
    attrs = encode_call(call)
    assert stored_call_bytes(attrs) <= limits.CALL_RECORD_MAX_BYTES
    assert decode_call(_plain(attrs)) == call


def test_a_merged_call_larger_than_the_record_keeps_a_visibly_cut_transcript() -> None:
    rng = random.Random(3)
    noise = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(200_000))  # 600 KB, incompressible
    attrs = encode_call({"call_id": "c1", "transcript": noise, "analysis": {"booking_id": "BK-1"}})
    assert stored_call_bytes(attrs) <= limits.CALL_RECORD_MAX_BYTES
    kept = decode_call(_plain(attrs))
    assert kept["transcript"].endswith(TRUNCATION_NOTE) and noise.startswith(kept["transcript"][:1000])
    assert kept["analysis"] == {"booking_id": "BK-1"}


@pytest.mark.parametrize("script", ["cyrillic", "japanese", "emoji"])
def test_the_state_summary_stays_small_in_any_script(script: str) -> None:
    envelope = parse_webhook(call_body("c1", script, limits.MAX_BODY_BYTES))
    assert isinstance(envelope, CallEvent)
    summary = envelope.call.to_summary().model_dump(mode="json")
    assert len(json.dumps(summary).encode()) <= limits.STATE_SUMMARY_MAX_BYTES  # ASCII-escaped: the worst case
    assert summary["summary"] and summary["analysis"]


def test_a_state_summary_of_many_long_non_ascii_analysis_values_is_bounded() -> None:
    envelope = parse_webhook(
        json.dumps(
            {
                "event_type": "call_ended",
                "payload": {
                    "call": {
                        "id": "c1",
                        "summary": "ж" * 8000,
                        "post_call_analysis": {f"k{i}": "ж" * 2000 for i in range(50)},
                    }
                },
            },
            ensure_ascii=False,
        ).encode()
    )
    assert isinstance(envelope, CallEvent)
    summary = envelope.call.to_summary()
    assert len(summary.model_dump_json().encode()) < 40_000
    assert len(json.dumps(summary.model_dump(mode="json")).encode()) <= limits.STATE_SUMMARY_MAX_BYTES
