"""The policy commands' logic: check a file, find the live version, diff rule by rule, push.

A policy file is YAML (comments, line numbers for every problem); what is
stored in AppConfig is the same document as JSON, so AppConfig's JSON Schema
validator can check it and the functions parse it with the same models. The
``kind`` of a file (``routing`` or ``partners``) is its profile name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from handoff.policy_source import parse_kind
from handoff.route.policy import PolicyError, PolicyProblem

KINDS = ("routing", "partners")
PARTNER_KEYS = {"status_changes", "timed_notifications", "customer_sync_review"}


def kind_of(text: str, file_name: str = "") -> str:
    """``partners`` for a partner policy (its sections say so, or its name), else ``routing``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and PARTNER_KEYS & set(data):
        return "partners"
    if isinstance(data, dict) and "intents" in data:
        return "routing"
    return "partners" if "partner" in file_name else "routing"


def check_text(text: str, source: str, kind: str | None = None) -> tuple[str, Any, list[PolicyProblem]]:
    """(kind, policy or None, problems): every problem with its line, never an exception for bad input."""
    kind = kind or kind_of(text, source)
    try:
        return kind, parse_kind(kind, text, source), []
    except PolicyError as exc:
        return kind, None, exc.problems


def content_for(file: Path, kind: str | None = None) -> bytes:
    """The JSON AppConfig stores for a valid file; ``PolicyError`` (every problem, with lines) otherwise."""
    text = file.read_text(encoding="utf-8")
    _, _, problems = check_text(text, file.name, kind)
    if problems:
        raise PolicyError(file.name, problems)
    return json.dumps(yaml.safe_load(text), indent=2, sort_keys=False).encode()


def version_of(file: Path) -> str:
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    return str(data.get("version", "?")) if isinstance(data, dict) else "?"


# --- where the policy lives ----------------------------------------------------------------------
@dataclass
class PolicyHome:
    """The AppConfig ids of one deployment: from stack outputs, or found by name (``handoff-<stage>``)."""

    client: Any
    application: str
    environment: str
    profiles: dict[str, str]
    strategy: str

    @classmethod
    def discover(cls, client: Any, outputs: dict[str, str] | None = None) -> PolicyHome:
        if outputs:
            return cls(
                client,
                outputs["PolicyApplicationId"],
                outputs["PolicyEnvironmentId"],
                {"routing": outputs["RoutingPolicyProfileId"], "partners": outputs["PartnerPolicyProfileId"]},
                outputs["PolicyDeploymentStrategyId"],
            )
        apps = [a for a in client.list_applications().get("Items", []) if str(a.get("Name", "")).startswith("handoff-")]
        if len(apps) != 1:
            names = ", ".join(a["Name"] for a in apps) or "none"
            raise LookupError(f"expected one AppConfig application named handoff-<stage>, found {names}")
        app = apps[0]["Id"]
        environments = client.list_environments(ApplicationId=app).get("Items", [])
        if len(environments) != 1:
            raise LookupError(f"expected one environment in AppConfig application {apps[0]['Name']}")
        profiles = {p["Name"]: p["Id"] for p in client.list_configuration_profiles(ApplicationId=app).get("Items", [])}
        missing = [k for k in KINDS if k not in profiles]
        if missing:
            raise LookupError(f"AppConfig application {apps[0]['Name']} has no profile {', '.join(missing)}")
        strategies = [
            s for s in client.list_deployment_strategies().get("Items", []) if s["Name"] == f"{apps[0]['Name']}-policy"
        ]
        if not strategies:
            raise LookupError(f"no deployment strategy {apps[0]['Name']}-policy")
        return cls(client, app, environments[0]["Id"], profiles, strategies[0]["Id"])

    # -- the live version -----------------------------------------------------------------
    def deployments(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.client.list_deployments(
            ApplicationId=self.application, EnvironmentId=self.environment
        ).get("Items", [])
        return items

    def live(self, kind: str) -> LiveVersion | None:
        """The version clients get now: the newest deployment of the profile that was not rolled back."""
        profile = self.profiles[kind]
        for item in self.deployments():
            deployment = self.client.get_deployment(
                ApplicationId=self.application,
                EnvironmentId=self.environment,
                DeploymentNumber=item["DeploymentNumber"],
            )
            if deployment["ConfigurationProfileId"] != profile or deployment["State"] == "ROLLED_BACK":
                continue
            hosted = self.client.get_hosted_configuration_version(
                ApplicationId=self.application,
                ConfigurationProfileId=profile,
                VersionNumber=int(deployment["ConfigurationVersion"]),
            )
            content = hosted["Content"].read()
            data = json.loads(content) if content else {}
            return LiveVersion(
                kind=kind,
                appconfig_version=int(deployment["ConfigurationVersion"]),
                policy_version=str(data.get("version", "?")) if isinstance(data, dict) else "?",
                deployment=int(deployment["DeploymentNumber"]),
                state=str(deployment["State"]),
                started=str(deployment.get("StartedAt", "")),
                document=data if isinstance(data, dict) else {},
            )
        return None

    # -- push -------------------------------------------------------------------------------
    def create_version(self, kind: str, content: bytes, label: str) -> int:
        answer = self.client.create_hosted_configuration_version(
            ApplicationId=self.application,
            ConfigurationProfileId=self.profiles[kind],
            Content=content,
            ContentType="application/json",
            VersionLabel=label[:64],
        )
        return int(answer["VersionNumber"])

    def start(self, kind: str, version: int, description: str) -> int:
        answer = self.client.start_deployment(
            ApplicationId=self.application,
            EnvironmentId=self.environment,
            DeploymentStrategyId=self.strategy,
            ConfigurationProfileId=self.profiles[kind],
            ConfigurationVersion=str(version),
            Description=description[:1024],
        )
        return int(answer["DeploymentNumber"])

    def follow(
        self, number: int, on_progress: Callable[[dict[str, Any]], None], poll: float = 2.0, timeout: float = 3600
    ) -> dict[str, Any]:
        """Poll a deployment until it is complete or rolled back, reporting each state."""
        deadline = time.monotonic() + timeout
        while True:
            deployment: dict[str, Any] = self.client.get_deployment(
                ApplicationId=self.application, EnvironmentId=self.environment, DeploymentNumber=number
            )
            on_progress(deployment)
            if deployment["State"] in ("COMPLETE", "ROLLED_BACK") or time.monotonic() > deadline:
                return deployment
            time.sleep(poll)


@dataclass
class LiveVersion:
    kind: str
    appconfig_version: int
    policy_version: str
    deployment: int
    state: str
    started: str
    document: dict[str, Any] = field(default_factory=dict)


# --- diff, rule by rule ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    section: str
    key: str
    change: str  # added | removed | changed
    before: Any = None
    after: Any = None

    def line(self) -> str:
        where = f"{self.section}.{self.key}" if self.key else self.section
        if self.change == "added":
            return f"+ {where}: {_short(self.after)}"
        if self.change == "removed":
            return f"- {where}: {_short(self.before)}"
        return f"~ {where}: {_short(self.before)} -> {_short(self.after)}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def _entries(section: str, value: Any) -> dict[str, Any]:
    """A section as named entries: mappings by key, rule lists by rule name, the rest as one value."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        named: dict[str, Any] = {}
        for index, item in enumerate(value):
            name = item.get("name") or (
                f"#{item['number']} {item.get('timing') or ''}".strip() if "number" in item else None
            )
            named[str(name or index)] = item
        return named
    return {"": value}


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """What would change, per section and per named entry (owner, intent, rule, threshold...)."""
    changes: list[Change] = []
    for section in list(dict.fromkeys([*before, *after])):
        old, new = before.get(section), after.get(section)
        if old == new:
            continue
        if old is None or new is None or type(old) is not type(new) or not isinstance(new, dict | list):
            changes.append(
                Change(section, "", "added" if old is None else "removed" if new is None else "changed", old, new)
            )
            continue
        old_entries, new_entries = _entries(section, old), _entries(section, new)
        for key in list(dict.fromkeys([*old_entries, *new_entries])):
            a, b = old_entries.get(key), new_entries.get(key)
            if a == b:
                continue
            kind = "added" if key not in old_entries else "removed" if key not in new_entries else "changed"
            changes.append(Change(section, key, kind, a, b))
    return changes


def iter_problems(problems: list[PolicyProblem], source: str) -> Iterator[dict[str, Any]]:
    for problem in problems:
        yield {"file": source, "line": problem.line, "field": problem.field, "message": problem.message}
