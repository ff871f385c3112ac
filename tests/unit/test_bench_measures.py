"""What make bench measures, checked on its own: DynamoDB item sizes, write units, answers naming their call."""

from __future__ import annotations

import pytest

from handoff_dev.bench.embedded import ItemWrite, answer_names_call, attribute_bytes, write_units


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "héllo"}, 6),  # UTF-8 bytes, not characters
        ({"N": "12345"}, 4),  # about one byte per two digits, plus one
        ({"B": "AAAA"}, 3),  # base64 on the wire, raw bytes billed
        ({"BOOL": True}, 1),
        ({"M": {"a": {"S": "xy"}}}, 3 + 1 + 1 + 2),
        ({"L": [{"S": "x"}, {"NULL": True}]}, 3 + 2 + 2),
    ],
)
def test_an_attribute_is_sized_as_dynamodb_bills_it(value: dict[str, object], size: int) -> None:
    assert attribute_bytes(value) == size


def test_each_item_write_is_billed_by_its_own_item_in_started_kilobytes() -> None:
    record, claim = ("t", "CALL#1"), ("t", "CLAIM#1")
    writes = [ItemWrite(*record, put_bytes=3000), ItemWrite(*record), ItemWrite(*claim), ItemWrite(*claim, factor=2)]
    # the record: 3 KB twice; the claim, gone by the end: 1 KB, once plain and once in a transaction
    assert write_units(writes, {record: 2500}) == 3 + 3 + 1 + 2


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"call_id": "c1", "status": "accepted"}', True),
        ('{"call_id": "c2"}', False),
        ("not json", False),
        ("[]", False),
    ],
)
def test_the_bench_accepts_an_answer_only_when_it_names_the_call_posted(text: str, named: bool) -> None:
    assert answer_names_call(text, "c1") is named
