"""Read template.yaml the way CloudFormation would, for the embedded stack.

Only what Handoff's own template uses is supported: Parameters with defaults,
Globals.Function, Ref / Fn::GetAtt / Fn::Sub and the pseudo parameters. An
intrinsic or resource type the loader does not know raises, so a template
change that the embedded stack cannot honour fails loudly instead of drifting.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags into their long form."""


def _tag(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _short, _long in {
    "!Ref": "Ref",
    "!GetAtt": "Fn::GetAtt",
    "!Sub": "Fn::Sub",
    "!Join": "Fn::Join",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!GetAZs": "Fn::GetAZs",
}.items():
    _CfnLoader.add_constructor(_short, _tag(_long))


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506  # nosec B506 - a SafeLoader subclass
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: not a CloudFormation template")
    return loaded


@dataclass
class PhysicalResource:
    logical_id: str
    type: str
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Template:
    """A loaded template with physical names assigned for one embedded stack."""

    path: Path
    body: dict[str, Any]
    stack_name: str
    parameters: dict[str, str]
    region: str = REGION
    account_id: str = ACCOUNT_ID
    physical: dict[str, PhysicalResource] = field(default_factory=dict)
    queue_endpoint: str = "http://localhost:5000"

    @classmethod
    def load(
        cls,
        path: Path,
        stack_name: str = "handoff",
        overrides: dict[str, str] | None = None,
        queue_endpoint: str = "http://localhost:5000",
    ) -> Template:
        body = load_template(path)
        params: dict[str, str] = {}
        for name, spec in (body.get("Parameters") or {}).items():
            if "Default" in spec:
                params[name] = str(spec["Default"])
        params.update(overrides or {})
        template = cls(path, body, stack_name, params, queue_endpoint=queue_endpoint)
        template._assign_physical_ids()
        return template

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.body.get("Resources") or {}
        return resources

    def function_properties(self, logical_id: str) -> dict[str, Any]:
        """A function's properties with Globals.Function merged in, as SAM does."""
        globals_fn = copy.deepcopy((self.body.get("Globals") or {}).get("Function") or {})
        own = copy.deepcopy(self.resources[logical_id].get("Properties") or {})
        merged = {**globals_fn, **own}
        env_vars = {
            **((globals_fn.get("Environment") or {}).get("Variables") or {}),
            **((own.get("Environment") or {}).get("Variables") or {}),
        }
        merged["Environment"] = {"Variables": env_vars}
        return merged

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def _assign_physical_ids(self) -> None:
        for logical_id, resource in self.resources.items():
            kind = resource["Type"]
            name = f"{self.stack_name}-{logical_id}"
            props = resource.get("Properties") or {}
            if kind == "AWS::DynamoDB::Table":
                phys = PhysicalResource(logical_id, kind, name, {"Arn": self._arn("dynamodb", f"table/{name}")})
            elif kind == "AWS::SQS::Queue":
                url = f"{self.queue_endpoint}/{self.account_id}/{name}"
                phys = PhysicalResource(
                    logical_id, kind, url, {"Arn": self._arn("sqs", name), "QueueName": name, "QueueUrl": url}
                )
            elif kind == "AWS::SecretsManager::Secret":
                phys = PhysicalResource(logical_id, kind, name, {"Id": name})
            elif kind == "AWS::Events::EventBus":
                bus = self.resolve(props.get("Name", name)) if "Name" in props else name
                phys = PhysicalResource(logical_id, kind, str(bus), {"Arn": self._arn("events", f"event-bus/{bus}")})
            elif kind == "AWS::Serverless::Function":
                phys = PhysicalResource(logical_id, kind, name, {"Arn": self._arn("lambda", f"function:{name}")})
            elif kind == "AWS::Serverless::StateMachine":
                arn = self._arn("states", f"stateMachine:{name}")
                phys = PhysicalResource(logical_id, kind, arn, {"Arn": arn, "Name": name})
            elif kind == "AWS::Serverless::HttpApi":
                phys = PhysicalResource(logical_id, kind, "embedded", {})
            else:
                phys = PhysicalResource(logical_id, kind, name, {})
            self.physical[logical_id] = phys

    # -- intrinsic functions ------------------------------------------------
    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }.get(name)

    def condition(self, name: str) -> bool:
        """A template condition, evaluated on this stack's parameters (Fn::Equals/Not/And/Or, Condition)."""
        conditions: dict[str, Any] = self.body.get("Conditions") or {}
        if name not in conditions:
            raise KeyError(f"template.yaml: unknown condition {name!r}")
        return self._holds(conditions[name])

    def _holds(self, expression: Any) -> bool:
        ((key, arg),) = expression.items()
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._holds(arg[0])
        if key == "Fn::And":
            return all(self._holds(v) for v in arg)
        if key == "Fn::Or":
            return any(self._holds(v) for v in arg)
        if key == "Condition":
            return self.condition(arg)
        raise NotImplementedError(f"template.yaml: {key} in a condition is not supported by the embedded stack")

    def ref(self, name: str) -> str:
        pseudo = self.pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name].ref
        raise KeyError(f"template.yaml: Ref to unknown name {name!r}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.physical[logical_id].attributes[attribute]
        except KeyError:
            raise KeyError(
                f"template.yaml: GetAtt {logical_id}.{attribute} is not known to the embedded stack"
            ) from None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return None if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::GetAtt":
                return self.get_att(arg[0], arg[1])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"template.yaml: {key} is not supported by the embedded stack")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in extra:
                return str(self.resolve(extra[token]))
            if "." in token and not token.startswith("AWS::"):
                logical_id, attribute = token.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(token))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def state_machine_definition(self, logical_id: str) -> str:
        """The definition file with DefinitionSubstitutions applied, as SAM deploys it."""
        props = self.resources[logical_id]["Properties"]
        text: str = (self.path.parent / str(props["DefinitionUri"])).read_text(encoding="utf-8")
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + key + "}", str(self.resolve(value)))
        leftover = re.findall(r"\$\{(\w+)\}", text)
        if leftover:
            raise ValueError(f"{props['DefinitionUri']}: no substitution for {sorted(set(leftover))}")
        return text
