"""Template parameters on the embedded stack: the template's defaults hold unless the developer overrides them."""

from __future__ import annotations

import pytest
import typer

from handoff_dev.cli import template_overrides
from handoff_dev.embedded.stack import PROJECT_ROOT, EmbeddedStack, StackOptions
from handoff_dev.embedded.template import Template

TEMPLATE = PROJECT_ROOT / "template.yaml"


def _ingest_grace(overrides: dict[str, str]) -> str:
    template = Template.load(TEMPLATE, overrides=overrides)
    variables = template.resolve(template.function_properties("IngestFunction")["Environment"]["Variables"])
    return str(variables["HANDOFF_ANALYSIS_GRACE_SECONDS"])


def test_the_analysis_grace_period_is_the_templates_default_unless_overridden() -> None:
    defaults = EmbeddedStack(StackOptions())._overrides()
    assert "AnalysisGraceSeconds" not in defaults
    assert _ingest_grace(defaults) == "30"


def test_the_grace_flag_and_generic_parameters_override_the_template() -> None:
    overrides = template_overrides(["NotifyEmailFrom=ops@example.com"], 0)
    assert overrides == {"NotifyEmailFrom": "ops@example.com", "AnalysisGraceSeconds": "0"}
    assert _ingest_grace(EmbeddedStack(StackOptions(parameter_overrides=overrides))._overrides()) == "0"


def test_a_parameter_without_key_value_is_refused() -> None:
    with pytest.raises(typer.BadParameter, match="Key=Value"):
        template_overrides(["AnalysisGraceSeconds"], None)


def test_a_parameter_the_template_does_not_declare_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="no parameter AnalysisGrace"):
        EmbeddedStack(StackOptions(parameter_overrides={"AnalysisGrace": "0"}))._overrides()
