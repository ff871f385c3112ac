"""Execution and redrive names are injective over call ids: two calls never share an execution.

The colliding pairs are the ones an adversarial test found: an id that already is
a valid name equal to another id's cleaned-and-hashed name, an id that looks like
another call's redrive, and long ids that share their first 70 characters.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.ingest.envelope import execution_name, redrive_execution_name

NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


def test_a_valid_id_equal_to_another_ids_hashed_name_gets_its_own_execution() -> None:
    hashed = execution_name("call:abc")
    assert hashed != "call:abc" and NAME.fullmatch(hashed)
    assert execution_name(hashed) != hashed  # the look-alike is hashed too, into another name


def test_an_id_that_looks_like_a_redrive_of_another_call_is_not_that_redrive() -> None:
    assert execution_name("call_1-redrive-1") != redrive_execution_name(execution_name("call_1"), 1)


def test_long_ids_sharing_their_first_70_characters_get_different_names_and_redrive_names() -> None:
    first, second = "x" * 70 + "-first-call-id", "x" * 70 + "-second-call-id"
    assert execution_name(first) != execution_name(second)
    for attempt in (1, 2, 12):
        a = redrive_execution_name(execution_name(first), attempt)
        b = redrive_execution_name(execution_name(second), attempt)
        assert a != b and NAME.fullmatch(a) and NAME.fullmatch(b)


def test_an_80_character_id_has_distinct_valid_redrive_names() -> None:
    base = execution_name("c" * 80)
    names = {redrive_execution_name(base, n) for n in range(1, 30)}
    assert len(names) == 29 and all(NAME.fullmatch(n) for n in names)


def test_short_redrive_names_stay_readable() -> None:
    assert redrive_execution_name("call_1", 2) == "call_1-redrive-2"


ids = st.text(alphabet=st.sampled_from("ab-_:/é0r1edriv"), min_size=1, max_size=90)


@given(ids, ids)
def test_different_ids_never_share_an_execution_name(a: str, b: str) -> None:
    if a != b:
        assert execution_name(a) != execution_name(b)


@given(ids, ids, st.integers(1, 200))
def test_no_redrive_name_is_another_calls_execution_name(a: str, b: str, attempt: int) -> None:
    assert redrive_execution_name(execution_name(a), attempt) != execution_name(b)


@given(ids, ids, st.integers(1, 200), st.integers(1, 200))
def test_redrive_names_of_different_calls_or_attempts_differ(a: str, b: str, m: int, n: int) -> None:
    if (a, m) != (b, n):
        assert redrive_execution_name(execution_name(a), m) != redrive_execution_name(execution_name(b), n)


@pytest.mark.parametrize("call_id", ["call_2Vd8Nw4pYs6K", "a" * 80, "call-with-dash"])
def test_ordinary_ids_are_still_their_own_name(call_id: str) -> None:
    assert execution_name(call_id) == call_id
