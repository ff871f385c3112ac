"""docs/partners.md lists every UNCONFIRMED assumption the code relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff_dev.assumptions import assumptions

README = (Path(__file__).resolve().parents[2] / "docs" / "partners.md").read_text(encoding="utf-8")
CASES = [(label, item) for label, _, items in assumptions() for item in items]


def test_every_module_with_assumptions_has_some() -> None:
    assert all(items for _, _, items in assumptions())


@pytest.mark.parametrize(("label", "item"), CASES, ids=[f"{label}:{i}" for i, (label, _) in enumerate(CASES)])
def test_the_readme_lists_the_assumption(label: str, item: str) -> None:
    assert f"- {item}" in README, f"docs/partners.md lacks a {label} assumption (assumptions --update)"
