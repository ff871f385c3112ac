"""Every normaliser against the messy values real calls and extractors produce."""

from __future__ import annotations

import pytest

from handoff.match.identity import build_identity
from handoff.match.normalise import (
    IdFormats,
    IdKind,
    find_emails,
    find_ids,
    find_phones,
    id_match_key,
    name_key,
    normalise_email,
    normalise_id,
    normalise_name,
    normalise_phone,
)
from handoff.models import CallSummary


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("15555550187", "+15555550187"),  # DialNexa: digits without '+'
        ("+15555550142", "+15555550142"),
        ("555-555-0187", "+15555550187"),
        ("(555) 555-0142", "+15555550142"),
        ("555.555.0142 x 12", "+15555550142"),
        ("+1 (555) 555-0142 ext. 204", "+15555550142"),
        ("tel:+1-555-555-0142;ext=1", "+15555550142"),
        ("001 555 555 0142", "+15555550142"),
        ("011 44 7911 123456", "+447911123456"),
        ("447911123456", "+447911123456"),  # international digits without '+'
        ("+44 7911 123456", "+447911123456"),
        (15555550187, "+15555550187"),
        ("12", None),
        ("", None),
        ("unknown", None),
        ("n/a", None),
        (None, None),
        ("not a number", None),
    ],
)
def test_phone_is_normalised_to_e164(raw: object, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


def test_phone_default_region_is_configurable() -> None:
    assert normalise_phone("07911 123456", default_region="GB") == "+447911123456"
    assert normalise_phone("030 1234567", default_region="DE") == "+49301234567"


def test_phones_are_found_in_free_text() -> None:
    text = "Is 555 555 0142 still the best number? Or 555-555-0187. It cost $1,299."
    assert find_phones(text) == ["+15555550142", "+15555550187"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Elena.Marsh@Example.COM ", "elena.marsh@example.com"),
        ("mailto:marcus.greene@example.com", "marcus.greene@example.com"),
        ("Elena Marsh <ELENA.MARSH@example.com>", "elena.marsh@example.com"),
        ("marcus.greene@example.com.", "marcus.greene@example.com"),
        ("elena dot marsh at example dot com", "elena.marsh@example.com"),
        ("hannah.reid (at) example (dot) com", "hannah.reid@example.com"),
        ("foo", None),
        ("a@@b.com", None),
        ("missing@tld", None),
        ("", None),
        ("none", None),
        (42, None),
    ],
)
def test_email_is_validated_and_case_folded(raw: object, expected: str | None) -> None:
    assert normalise_email(raw) == expected


def test_emails_are_found_in_free_text() -> None:
    assert find_emails("Sofia Alvarez, Sofia.Alvarez@example.com. Or sofia.alvarez@example.com") == [
        "sofia.alvarez@example.com"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  elena   marsh ", "Elena Marsh"),
        ("MARSH, ELENA", "Elena Marsh"),
        ("Mr. Daniel Okafor", "Daniel Okafor"),
        ("Dr Sofia Alvarez", "Sofia Alvarez"),
        ("José Álvarez", "José Álvarez"),
        ("Hannah O'Reid", "Hannah O'Reid"),
        ("123", None),
        ("n/a", None),
        ("elena@example.com", None),
        ("", None),
    ],
)
def test_name_is_cleaned(raw: object, expected: str | None) -> None:
    assert normalise_name(raw) == expected


def test_name_key_ignores_accents_case_and_punctuation() -> None:
    assert name_key("José  Álvarez-Pérez") == name_key("jose alvarez perez")


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("BK-48213", IdKind.BOOKING, "BK-48213"),
        ("bk48213", IdKind.BOOKING, "BK-48213"),
        ("B K 4 8 2 1 3", IdKind.BOOKING, "BK-48213"),
        ("booking #48213", IdKind.BOOKING, "BK-48213"),
        ("48213", IdKind.BOOKING, "BK-48213"),
        ("NW-77120", IdKind.BOOKING, None),  # an order id is not a booking id
        ("NW 77120", IdKind.ORDER, "NW-77120"),
        ("77120", IdKind.ORDER, "NW-77120"),
        ("order no. NW77120", IdKind.ORDER, "NW-77120"),
        ("INV-2025-0917", IdKind.INVOICE, "INV-2025-0917"),
        ("inv 2025 0917", IdKind.INVOICE, "INV-2025-0917"),
        ("INV20250917", IdKind.INVOICE, "INV-2025-0917"),
        ("I N V 2 0 2 5 0 9 1 7", IdKind.INVOICE, "INV-2025-0917"),
        ("INV-17", IdKind.INVOICE, None),
        ("48213", IdKind.RESERVATION, "48213"),
        ("BK-48213", IdKind.RESERVATION, "48213"),
        ("hb 3s slt", IdKind.SKU, "HB-3S-SLT"),
        ("HB-3S-SLT", IdKind.SKU, "HB-3S-SLT"),
        ("x", IdKind.SKU, None),
        (48213, IdKind.BOOKING, "BK-48213"),
        ("", IdKind.BOOKING, None),
        ("123", IdKind.BOOKING, None),
    ],
)
def test_id_is_canonical(raw: object, kind: IdKind, expected: str | None) -> None:
    assert normalise_id(raw, kind) == expected


def test_id_prefixes_are_configurable() -> None:
    fmt = IdFormats(booking_prefix="RS", order_prefix="ORD")
    assert normalise_id("rs 1234", IdKind.BOOKING, fmt) == "RS-1234"
    assert find_ids("order O R D 5 5 6 6 7", fmt) == [(IdKind.ORDER, "ORD-55667")]


def test_booking_and_reservation_ids_compare_on_their_digits() -> None:
    assert id_match_key(IdKind.BOOKING, "BK-48213") == id_match_key(IdKind.RESERVATION, "48213")
    assert id_match_key(IdKind.ORDER, "NW-48213") != id_match_key(IdKind.BOOKING, "BK-48213")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The booking number is B K 4 8 2 1 3.", [(IdKind.BOOKING, "BK-48213")]),
        ("booking b-k four eight two one three", [(IdKind.BOOKING, "BK-48213")]),
        ("my booking is BK 48213 2 guests", [(IdKind.BOOKING, "BK-48213")]),
        ("INV-2025-0917. Three hundred forty-nine dollars", [(IdKind.INVOICE, "INV-2025-0917")]),
        ("I N V 2 0 2 5 0 9 1 7", [(IdKind.INVOICE, "INV-2025-0917")]),
        ("NW-77120. It's the oak dining table.", [(IdKind.ORDER, "NW-77120")]),
        ("N W seven seven one two zero", [(IdKind.ORDER, "NW-77120")]),
        ("SKU: hb-3s-slt please", [(IdKind.SKU, "HB-3S-SLT")]),
        ("It costs $1,299 and arrives in 7 days", []),
        ("BK-48213 and again bk48213", [(IdKind.BOOKING, "BK-48213")]),
    ],
)
def test_ids_are_found_in_transcripts_including_spelled_out(text: str, expected: list[tuple[IdKind, str]]) -> None:
    assert find_ids(text) == expected


def test_identity_prefers_analysis_and_keeps_every_source() -> None:
    call = CallSummary(
        call_id="c1",
        event="call.ended",
        caller_phone="15555550142",
        analysis={"customer_email": "Elena.Marsh@example.com", "customer_phone": "", "booking_id": "BK-48213"},
    )
    identity = build_identity(call, "Agent: Booking?\nUser: B K 4 8 2 1 3, my name is Elena Marsh.")
    assert [(o.value, o.sources) for o in identity.ids] == [("BK-48213", ("analysis.booking_id", "transcript"))]
    assert identity.emails[0].value == "elena.marsh@example.com"
    assert identity.phones[0].sources == ("call.caller_phone",)
    assert identity.first_name() == "Elena Marsh"


def test_identity_records_values_that_could_not_be_normalised() -> None:
    call = CallSummary(call_id="c1", event="call.ended", analysis={"customer_email": "elena at", "invoice_number": "x"})
    identity = build_identity(call)
    assert identity.rejected == ["analysis.customer_email", "analysis.invoice_number"]
    assert not identity.has_identifying_data


def test_identity_ignores_ids_the_agent_only_read_out_as_phones() -> None:
    call = CallSummary(call_id="c1", event="call.ended")
    identity = build_identity(call, "Agent: Call us on 555 555 0100.\nUser: Thanks.")
    assert identity.phones == []


def test_email_normalisation_needs_no_dnspython_which_the_layer_leaves_out() -> None:
    """The Makefile exports the layer without dnspython: e-mail checks must never reach it."""
    import subprocess
    import sys

    probe = (
        "import sys; sys.modules['dns'] = None; sys.modules['dns.resolver'] = None;"
        "from handoff.match.normalise import normalise_email, find_emails;"
        "print(normalise_email('Elena.Marsh@Example.com'), find_emails('write to a@b.co please'))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["elena.marsh@example.com", "['a@b.co']"]
