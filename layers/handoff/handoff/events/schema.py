"""JSON Schemas of the contract, generated from the models.

One schema per detail type, describing the whole EventBridge event a rule target
receives (``source``, ``detail-type``, ``detail``), in JSON Schema draft 4: the
dialect the EventBridge schema registry accepts beside OpenAPI 3
(``AWS::EventSchemas::Schema`` ``Type: JSONSchemaDraft4``), so subscribers can
download code bindings. The files in ``schemas/events/`` and the registry's
copies in template.yaml are this module's output; a test keeps them equal.
"""

from __future__ import annotations

import json
from typing import Any

from handoff.events.contract import EVENT_MODELS, SOURCE, EventDetail, model_for

DRAFT4 = "http://json-schema.org/draft-04/schema#"
REGISTRY = "handoff"


def _draft4(node: Any) -> Any:
    """Pydantic writes draft 2020-12; rewrite the few keywords draft 4 spells differently."""
    if isinstance(node, list):
        return [_draft4(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "const":
            out["enum"] = [value]
        elif key == "$ref" and isinstance(value, str):
            out[key] = value.replace("#/$defs/", "#/definitions/")
        elif key == "$defs":
            out["definitions"] = {name: _draft4(sub) for name, sub in value.items()}
        elif key in ("title", "default") and not isinstance(value, dict):
            if key == "default":
                out[key] = value
        else:
            out[key] = _draft4(value)
    return out


def detail_schema(model: type[EventDetail]) -> dict[str, Any]:
    schema: dict[str, Any] = _draft4(model.model_json_schema(mode="serialization"))
    return schema


def event_schema(detail_type: str) -> dict[str, Any]:
    """The schema of the whole event of one detail type."""
    model = model_for(detail_type)
    detail = detail_schema(model)
    definitions = detail.pop("definitions", {})
    detail["description"] = model.description
    return {
        "$schema": DRAFT4,
        "title": f"{REGISTRY}@{model.schema_name}",
        "description": f"{detail_type} v{model.model_fields['schema_version'].default}: {model.description}",
        "type": "object",
        "required": ["source", "detail-type", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "source": {"type": "string", "enum": [SOURCE]},
            "detail-type": {"type": "string", "enum": [detail_type]},
            "detail": {"$ref": f"#/definitions/{model.schema_name}"},
        },
        "definitions": {**definitions, model.schema_name: detail},
    }


def schema_text(detail_type: str) -> str:
    """The schema file's text (stable: sorted keys, two-space indent, final newline)."""
    return json.dumps(event_schema(detail_type), indent=2, sort_keys=True) + "\n"


def compact_schema(detail_type: str) -> str:
    """The schema as one line, as the template registers it."""
    return json.dumps(event_schema(detail_type), sort_keys=True, separators=(",", ":"))


def schema_file_name(detail_type: str) -> str:
    return f"{detail_type}.json"


def all_schemas() -> dict[str, str]:
    """File name -> text, for every detail type in the contract."""
    return {schema_file_name(m.detail_type): schema_text(m.detail_type) for m in EVENT_MODELS}
