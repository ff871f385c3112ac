"""The one Planyo user -> Billit customer mapping, its hashes and its diff (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from handoff.connectors.billit import BillitCustomer
from handoff.connectors.planyo import PlanyoUser
from handoff.partners.customer_sync import (
    ASSUMPTIONS,
    before_hash,
    billit_customer_from_planyo,
    billit_idempotency_key,
    field_changes,
    fields_hash,
    patch_for,
    split_street,
)


def user(**overrides: Any) -> PlanyoUser:
    fields: dict[str, Any] = {
        "user_id": 700131,
        "email": "sofia.alvarez@example.com",
        "first_name": "Sofia",
        "last_name": "Alvarez",
        "phone": "+15555550131",
        "address": "301 Maple Street",
        "postal_code": "01105",
        "city": "Springfield",
        "country": "US",
        "state": "MA",
        "language": "EN",
    }
    return PlanyoUser.model_validate({**fields, **overrides})


def test_assumptions_are_listed_in_one_place() -> None:
    assert ASSUMPTIONS and all(isinstance(a, str) and a for a in ASSUMPTIONS)


@pytest.mark.parametrize(
    ("address", "street", "number"),
    [
        ("301 Maple Street", "Maple Street", "301"),
        ("Kouter 17", "Kouter", "17"),
        ("Rue de la Loi 16B", "Rue de la Loi", "16B"),
        ("12a, Alder Lane", "Alder Lane", "12a"),
        ("Hauptstrasse 5-7", "Hauptstrasse", "5-7"),
        ("The Old Mill", "The Old Mill", None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_one_address_line_splits_into_street_and_number(
    address: str | None, street: str | None, number: str | None
) -> None:
    assert split_street(address) == (street, number)


def test_a_planyo_user_maps_to_the_billit_customer_fields() -> None:
    customer = billit_customer_from_planyo(user())
    assert customer.model_dump(exclude_none=True) == {
        "name": "Sofia Alvarez",
        "email": "sofia.alvarez@example.com",
        "phone": "+15555550131",
        "language": "EN",
        "street": "Maple Street",
        "street_number": "301",
        "postal_code": "01105",
        "city": "Springfield",
        "country_code": "US",
    }


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"language": "es"}, "language", None),
        ({"language": "fr"}, "language", "FR"),
        ({"country": "be"}, "country_code", "BE"),
        ({"country": "Belgium"}, "country_code", None),
        ({"phone": None, "mobile": "+32470123456"}, "phone", "+32470123456"),
        ({"phone": "555-0131"}, "phone", None),
        ({"first_name": None, "last_name": None}, "name", "sofia.alvarez"),
    ],
)
def test_values_billit_cannot_take_are_normalised_or_left_out(
    overrides: dict[str, Any], field: str, expected: str | None
) -> None:
    assert getattr(billit_customer_from_planyo(user(**overrides)), field) == expected


@pytest.mark.parametrize("email", [None, "not-an-email"])
def test_a_user_without_a_usable_e_mail_cannot_be_a_billit_customer(email: str | None) -> None:
    with pytest.raises(ValidationError):
        billit_customer_from_planyo(user(email=email))


def test_the_fields_hash_ignores_case_and_spaces_but_not_values() -> None:
    base = fields_hash(billit_customer_from_planyo(user()))
    assert fields_hash(billit_customer_from_planyo(user(city=" springfield "))) == base
    assert fields_hash(billit_customer_from_planyo(user(city="Shelbyville"))) != base


def existing(**overrides: Any) -> BillitCustomer:
    fields: dict[str, Any] = {
        "customer_id": 778802,
        "name": "Sofia Alvarez",
        "email": "sofia.alvarez@example.com",
        "phone": "+15555550131",
        "language": "EN",
        "street": "Maple Street",
        "street_number": "301",
        "postal_code": "01105",
        "city": "Springfield",
        "country_code": "US",
        "vat_number": None,
    }
    return BillitCustomer.model_validate({**fields, **overrides})


def test_a_customer_that_already_matches_has_no_changes() -> None:
    assert field_changes(existing(), billit_customer_from_planyo(user())) == []


def test_changes_record_old_and_new_values() -> None:
    changes = field_changes(existing(phone="+15555550000"), billit_customer_from_planyo(user()))
    assert [(c.field, c.old, c.new) for c in changes] == [("phone", "+15555550000", "+15555550131")]


def test_a_changed_address_part_sends_the_whole_address_and_nothing_else() -> None:
    wanted = billit_customer_from_planyo(user(city="Shelbyville"))
    patch = patch_for(field_changes(existing(), wanted), wanted)
    assert patch.model_dump(exclude_none=True) == {
        "street": "Maple Street",
        "street_number": "301",
        "postal_code": "01105",
        "city": "Shelbyville",
        "country_code": "US",
    }


def test_the_billit_key_changes_with_the_change_and_with_what_billit_held_before() -> None:
    wanted = billit_customer_from_planyo(user())
    key = {"planyo_user_id": 1, "fields": fields_hash(wanted), "billit_before": before_hash(None, wanted)}
    same = billit_idempotency_key(dict(key))
    assert billit_idempotency_key(key) == same
    assert billit_idempotency_key({**key, "billit_before": before_hash(existing(city="X"), wanted)}) != same
    assert billit_idempotency_key({**key, "planyo_user_id": 2}) != same
