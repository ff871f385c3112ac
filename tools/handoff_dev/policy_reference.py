"""docs/policy-reference.md, generated from the policy models: every key, type, default and an example.

The examples come from the shipped files in ``policy/``. ``python -m
handoff_dev.policy_reference`` rewrites the page; a test fails when the models
and the page disagree.
"""

from __future__ import annotations

import enum
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from handoff.partners.reservation_events import PartnerPolicy
from handoff.route.policy import Policy
from handoff_dev.policy_files import PARTNER_POLICY_FILE, PROJECT_ROOT, ROUTING_POLICY_FILE

REFERENCE_FILE = PROJECT_ROOT / "docs" / "policy-reference.md"


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(names) + (" | null" if type(None) in args else "")
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(json.dumps(m.value) for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if annotation is None or annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _nested_models(a)]


def _example(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and value:
        key = next(iter(value))
        value = {key: value[key]}
    text = json.dumps(value, default=str)
    return "`" + (text if len(text) <= 70 else text[:67] + "...") + "`"


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        made = field.default_factory()
        if isinstance(made, BaseModel):
            return "all of its defaults"
        return "`" + json.dumps(made, default=str) + "`"
    if field.default is PydanticUndefined:
        return ""
    if isinstance(field.default, BaseModel):
        return "all of its defaults"
    value = field.default.value if isinstance(field.default, enum.Enum) else field.default
    return "`" + json.dumps(value, default=str) + "`"


def _constraints(field: Any) -> str:
    """Ranges, lengths and patterns the model enforces (what `policy check` reports as out of range)."""
    parts: list[str] = []
    for item in field.metadata:
        for attribute, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(item, attribute, None) is not None:
                parts.append(f"{symbol} {getattr(item, attribute)}")
        if getattr(item, "min_length", None):
            parts.append(f"at least {item.min_length} long")
        if getattr(item, "pattern", None):
            parts.append(f"matches `{item.pattern}`")
    return f" ({', '.join(parts)})" if parts else ""


def _sample_at(sample: Any, name: str) -> Any:
    """The first value of ``name`` found in the shipped file under the current section."""
    if isinstance(sample, dict):
        return sample.get(name)
    return None


def _first_entry(value: Any) -> Any:
    if isinstance(value, dict) and value:
        return next(iter(value.values()))
    if isinstance(value, list) and value:
        return value[0]
    return value


def render_model(model: type[BaseModel], sample: Any, seen: set[str], out: list[str]) -> None:
    if model.__name__ in seen:
        return
    seen.add(model.__name__)
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    out += [f"### {model.__name__}", ""]
    if doc and not doc.startswith("!!!"):
        out += [doc, ""]
    out += ["| key | type | default | description | example |", "|---|---|---|---|---|"]
    nested: list[tuple[type[BaseModel], Any]] = []
    for name, field in model.model_fields.items():
        description = re.sub(r"\s+", " ", field.description or "").replace("|", "\\|")
        example = _sample_at(sample, name)
        type_name = (_type_name(field.annotation) + _constraints(field)).replace("|", "\\|")
        shown = "" if _nested_models(field.annotation) else _example(example)
        out.append(f"| `{name}` | {type_name} | {_default(field)} | {description} | {shown} |")
        for child in _nested_models(field.annotation):
            child_sample = example if typing.get_origin(field.annotation) is None else _first_entry(example)
            if isinstance(example, dict) and child.__name__ not in ("OperationRef",):
                child_sample = example if set(child.model_fields) & set(example) else _first_entry(example)
            nested.append((child, child_sample))
    out.append("")
    for child, child_sample in nested:
        render_model(child, child_sample, seen, out)


def render() -> str:
    out = [
        "# Policy reference",
        "",
        "Generated from the pydantic models by `python -m handoff_dev.policy_reference`; a test keeps it in",
        "sync. Examples are taken from the shipped files in `policy/`. How to change a policy: [policy.md](policy.md).",
        "",
    ]
    for title, model, file in (
        ("Routing policy (`policy/routing.yaml`)", Policy, ROUTING_POLICY_FILE),
        ("Partner policy (`policy/partners.yaml`)", PartnerPolicy, PARTNER_POLICY_FILE),
    ):
        out += [f"## {title}", ""]
        render_model(model, yaml.safe_load(file.read_text(encoding="utf-8")), set(), out)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else REFERENCE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
