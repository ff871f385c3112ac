"""JSON Schemas of the policies, generated from the pydantic models.

AppConfig's ``JSON_SCHEMA`` validator refuses a version whose shape is wrong
before the Lambda validator (``functions/policy_validator``) runs the semantic
checks. The schemas live inline in template.yaml (CloudFormation cannot read a
file); ``handoff policy schema --write-template`` rewrites them there and a test
fails when the models and the template disagree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from handoff.partners.reservation_events import PartnerPolicy
from handoff.route.policy import Policy

Kind = Literal["routing", "partners"]
MODELS: dict[Kind, type[BaseModel]] = {"routing": Policy, "partners": PartnerPolicy}
PROFILES: dict[Kind, str] = {"routing": "RoutingPolicyProfile", "partners": "PartnerPolicyProfile"}
DROPPED = {"description", "title", "examples"}


def json_schema(kind: Kind) -> dict[str, Any]:
    """The full schema, with descriptions (what the reference documents)."""
    schema: dict[str, Any] = MODELS[kind].model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def _strip(value: Any, parent: str = "") -> Any:
    if isinstance(value, dict):
        # "properties" maps field names to schemas: a field may itself be called "title".
        return {k: _strip(v, k) for k, v in value.items() if parent == "properties" or k not in DROPPED}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def compact_schema(kind: Kind) -> str:
    """The schema as one line without prose: what the template's validator holds (limit 32 KiB)."""
    text = json.dumps(_strip(json_schema(kind)), separators=(",", ":"), sort_keys=True)
    if len(text) > 32768:
        raise ValueError(f"{kind} policy schema is {len(text)} characters; AppConfig validators hold 32768")
    return text


def _pattern(kind: Kind) -> re.Pattern[str]:
    return re.compile(
        rf"(\n  {PROFILES[kind]}:\n(?:(?!\n  \S).)*?- Type: JSON_SCHEMA\n(?:[ ]*#[^\n]*\n)?[ ]*Content: )'([^\n]*)'\n",
        re.DOTALL,
    )


def template_schema(template_text: str, kind: Kind) -> str | None:
    """The schema the template holds for ``kind``'s profile (None when it has none)."""
    found = _pattern(kind).search(template_text)
    return found.group(2).replace("''", "'") if found else None


def with_schemas(template_text: str) -> str:
    """The template with both validators' schemas regenerated in place (nothing else changes)."""
    for kind in MODELS:
        pattern = _pattern(kind)
        if not pattern.search(template_text):
            raise ValueError(f"template.yaml: no JSON_SCHEMA validator found under {PROFILES[kind]}")
        quoted = compact_schema(kind).replace("'", "''")
        found = pattern.search(template_text)
        assert found is not None
        template_text = template_text[: found.start()] + f"{found.group(1)}'{quoted}'\n" + template_text[found.end() :]
    return template_text


def write_template(path: Path) -> bool:
    """Rewrite the schemas in ``path``; True when something changed."""
    before = path.read_text(encoding="utf-8")
    after = with_schemas(before)
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before
