"""AWS AppConfig on the embedded stack: what moto lacks, served through the same client calls.

moto 5 emulates AppConfig applications, configuration profiles and hosted
configuration versions, but not environments, deployment strategies,
deployments, validators or the data plane (``appconfigdata``
StartConfigurationSession / GetLatestConfiguration) that Powertools' AppConfig
provider calls. This module adds them to moto's own server (extra URL routes on
the ``appconfig`` service, which is also the signing name of ``appconfigdata``)
so functions, the CLI and ``handoff policy push`` use the real boto3 calls.

Differences from AWS, listed in docs/embedded-stack.md: a deployment serves the
new version to every client at once (AWS grows it per the strategy), the
strategy's minutes pass as ``HANDOFF_APPCONFIG_MINUTE_SECONDS`` seconds (0.1 by
default), and alarm monitors are not watched (StopDeployment rolls back).
Validators run as on AWS when a deployment starts: the JSON Schema with
``jsonschema``, the Lambda validator through the embedded Lambda invoke.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import BaseResponse

MINUTE_ENV = "HANDOFF_APPCONFIG_MINUTE_SECONDS"
DEFAULT_MINUTE_SECONDS = 0.1
PREDEFINED_STRATEGIES = {
    "AppConfig.AllAtOnce": (0, 100.0, "LINEAR", 10),
    "AppConfig.Linear50PercentEvery30Seconds": (1, 50.0, "LINEAR", 1),
    "AppConfig.Linear20PercentEvery6Minutes": (30, 20.0, "LINEAR", 30),
    "AppConfig.Canary10Percent20Minutes": (20, 10.0, "EXPONENTIAL", 10),
}


class _Error(JsonRESTError):
    def __init__(self, kind: str, message: str, code: int = 400) -> None:
        super().__init__(kind, message)
        self.code = code


def _not_found(what: str) -> _Error:
    return _Error("ResourceNotFoundException", f"{what} not found", 404)


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Strategy:
    id: str
    name: str
    duration_minutes: int
    growth_factor: float
    growth_type: str
    bake_minutes: int
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "DeploymentDurationInMinutes": self.duration_minutes,
            "GrowthType": self.growth_type,
            "GrowthFactor": self.growth_factor,
            "FinalBakeTimeInMinutes": self.bake_minutes,
            "ReplicateTo": "NONE",
        }


@dataclass
class Deployment:
    number: int
    app_id: str
    env_id: str
    profile_id: str
    profile_name: str
    version: str
    strategy: Strategy
    minute_seconds: float
    description: str = ""
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=_now)
    stopped_at: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def _elapsed_minutes(self) -> float:
        return (time.monotonic() - self.started) / self.minute_seconds if self.minute_seconds > 0 else 1e9

    @property
    def state(self) -> str:
        if self.stopped_at is not None:
            return "ROLLED_BACK"
        elapsed = self._elapsed_minutes()
        if elapsed < self.strategy.duration_minutes:
            return "DEPLOYING"
        if elapsed < self.strategy.duration_minutes + self.strategy.bake_minutes:
            return "BAKING"
        return "COMPLETE"

    @property
    def percentage(self) -> float:
        if self.stopped_at is not None:
            return 0.0
        duration = self.strategy.duration_minutes
        if duration <= 0:
            return 100.0
        steps = max(1, round(100.0 / self.strategy.growth_factor))
        step_minutes = duration / steps
        done = int(self._elapsed_minutes() // step_minutes) + 1 if step_minutes > 0 else steps
        return min(100.0, done * self.strategy.growth_factor)

    def to_json(self) -> dict[str, Any]:
        state = self.state
        log = list(self.events)
        if state in ("BAKING", "COMPLETE") and not any(e["EventType"] == "BAKE_TIME_STARTED" for e in log):
            log.append(_event("BAKE_TIME_STARTED", "Deployment bake time started"))
        if state == "COMPLETE" and not any(e["EventType"] == "DEPLOYMENT_COMPLETED" for e in log):
            log.append(_event("DEPLOYMENT_COMPLETED", "Deployment completed"))
        self.events = log
        body: dict[str, Any] = {
            "ApplicationId": self.app_id,
            "EnvironmentId": self.env_id,
            "DeploymentStrategyId": self.strategy.id,
            "ConfigurationProfileId": self.profile_id,
            "DeploymentNumber": self.number,
            "ConfigurationName": self.profile_name,
            "ConfigurationLocationUri": "hosted",
            "ConfigurationVersion": self.version,
            "Description": self.description,
            "DeploymentDurationInMinutes": self.strategy.duration_minutes,
            "GrowthType": self.strategy.growth_type,
            "GrowthFactor": self.strategy.growth_factor,
            "FinalBakeTimeInMinutes": self.strategy.bake_minutes,
            "State": state,
            "PercentageComplete": self.percentage,
            "StartedAt": self.started_at,
            "EventLog": list(reversed(log)),
        }
        if state in ("COMPLETE", "ROLLED_BACK"):
            body["CompletedAt"] = self.stopped_at or _now()
        return body


def _event(kind: str, description: str, by: str = "APPCONFIG") -> dict[str, Any]:
    return {"EventType": kind, "TriggeredBy": by, "Description": description, "OccurredAt": _now()}


class _State:
    """Everything this shim adds, for one embedded stack (reset with it)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.environments: dict[str, dict[str, dict[str, Any]]] = {}
        self.strategies: dict[str, Strategy] = {}
        self.deployments: dict[tuple[str, str], list[Deployment]] = {}
        self.sessions: dict[str, tuple[str, str, str, str | None]] = {}


_state = _State()


def reset() -> None:
    global _state
    _state = _State()


def _backend(account: str, region: str) -> Any:
    from moto.appconfig.models import appconfig_backends

    return appconfig_backends[account][region]


def _strategy(strategy_id: str) -> Strategy:
    if strategy_id in _state.strategies:
        return _state.strategies[strategy_id]
    if strategy_id in PREDEFINED_STRATEGIES:
        duration, growth, kind, bake = PREDEFINED_STRATEGIES[strategy_id]
        return Strategy(strategy_id, strategy_id, duration, growth, kind, bake)
    raise _not_found("DeploymentStrategy")


def served_version(app_id: str, env_id: str, profile_id: str) -> str | None:
    """The version clients get: the newest deployment of the profile that was not rolled back."""
    with _state.lock:
        for deployment in reversed(_state.deployments.get((app_id, env_id), [])):
            if deployment.profile_id == profile_id and deployment.state != "ROLLED_BACK":
                return deployment.version
    return None


class ControlPlane(BaseResponse):
    """Environments, deployment strategies and deployments (``appconfig``)."""

    def __init__(self) -> None:
        super().__init__(service_name="appconfig")

    @property
    def backend(self) -> Any:
        return _backend(self.current_account, self.region)

    def _app(self) -> str:
        app_id = str(self._get_param("ApplicationId"))
        self.backend.get_application(app_id)
        return app_id

    def _environment(self, app_id: str, env_id: str) -> dict[str, Any]:
        environments = _state.environments.get(app_id, {})
        for environment in environments.values():
            if env_id in (environment["Id"], environment["Name"]):
                return environment
        raise _not_found("Environment")

    # -- environments --------------------------------------------------------
    def create_environment(self) -> tuple[int, dict[str, str], str]:
        app_id = self._app()
        environment = {
            "ApplicationId": app_id,
            "Id": uuid.uuid4().hex[:7],
            "Name": self._get_param("Name"),
            "Description": self._get_param("Description") or "",
            "State": "READY_FOR_DEPLOYMENT",
            "Monitors": self._get_param("Monitors") or [],
        }
        with _state.lock:
            _state.environments.setdefault(app_id, {})[environment["Id"]] = environment
        return 201, {}, json.dumps(environment)

    def get_environment(self) -> str:
        app_id = self._app()
        environment = dict(self._environment(app_id, str(self._get_param("EnvironmentId"))))
        environment["State"] = self._environment_state(app_id, environment["Id"])
        return json.dumps(environment)

    def list_environments(self) -> str:
        app_id = self._app()
        items = [
            {**e, "State": self._environment_state(app_id, e["Id"])}
            for e in _state.environments.get(app_id, {}).values()
        ]
        return json.dumps({"Items": items})

    def _environment_state(self, app_id: str, env_id: str) -> str:
        deployments = _state.deployments.get((app_id, env_id), [])
        if deployments and deployments[-1].state in ("DEPLOYING", "BAKING"):
            return "DEPLOYING"
        if deployments and deployments[-1].state == "ROLLED_BACK":
            return "ROLLED_BACK"
        return "READY_FOR_DEPLOYMENT"

    # -- deployment strategies ---------------------------------------------------
    def create_deployment_strategy(self) -> tuple[int, dict[str, str], str]:
        strategy = Strategy(
            id=uuid.uuid4().hex[:7],
            name=str(self._get_param("Name")),
            duration_minutes=int(self._get_param("DeploymentDurationInMinutes") or 0),
            growth_factor=float(self._get_param("GrowthFactor") or 100),
            growth_type=str(self._get_param("GrowthType") or "LINEAR"),
            bake_minutes=int(self._get_param("FinalBakeTimeInMinutes") or 0),
            description=str(self._get_param("Description") or ""),
        )
        with _state.lock:
            _state.strategies[strategy.id] = strategy
        return 201, {}, json.dumps(strategy.to_json())

    def get_deployment_strategy(self) -> str:
        return json.dumps(_strategy(str(self._get_param("DeploymentStrategyId"))).to_json())

    def list_deployment_strategies(self) -> str:
        return json.dumps({"Items": [s.to_json() for s in _state.strategies.values()]})

    # -- deployments ----------------------------------------------------------
    def start_deployment(self) -> tuple[int, dict[str, str], str]:
        app_id = self._app()
        environment = self._environment(app_id, str(self._get_param("EnvironmentId")))
        profile = self.backend.get_configuration_profile(app_id, str(self._get_param("ConfigurationProfileId")))
        version = str(self._get_param("ConfigurationVersion"))
        try:
            hosted = self.backend.get_hosted_configuration_version(app_id, profile.id, int(version))
        except (ValueError, JsonRESTError):
            raise _not_found(f"Configuration version {version}") from None
        strategy = _strategy(str(self._get_param("DeploymentStrategyId")))
        key = (app_id, environment["Id"])
        with _state.lock:
            running = [d for d in _state.deployments.get(key, []) if d.state in ("DEPLOYING", "BAKING")]
            if running:
                raise _Error(
                    "ConflictException",
                    f"Deployment #{running[-1].number} is in progress in environment {environment['Name']}",
                    409,
                )
        self._validate(profile, hosted, app_id, version)
        with _state.lock:
            deployments = _state.deployments.setdefault(key, [])
            deployment = Deployment(
                number=len(deployments) + 1,
                app_id=app_id,
                env_id=environment["Id"],
                profile_id=profile.id,
                profile_name=profile.name,
                version=version,
                strategy=strategy,
                minute_seconds=float(os.environ.get(MINUTE_ENV) or DEFAULT_MINUTE_SECONDS),
                description=str(self._get_param("Description") or ""),
                events=[_event("DEPLOYMENT_STARTED", "Deployment started", "USER")],
            )
            deployments.append(deployment)
        return 201, {}, json.dumps(deployment.to_json())

    def _validate(self, profile: Any, hosted: Any, app_id: str, version: str) -> None:
        """Run the profile's validators as AppConfig does when a deployment starts."""
        content = hosted.content if isinstance(hosted.content, bytes) else str(hosted.content).encode()
        for validator in profile.validators or []:
            kind, body = validator.get("Type"), validator.get("Content", "")
            if kind == "JSON_SCHEMA":
                problem = _schema_problem(content, body)
            elif kind == "LAMBDA":
                problem = self._lambda_problem(body, app_id, profile.id, version, content)
            else:
                problem = None
            if problem:
                raise _Error("BadRequestException", f"Configuration failed {kind} validation: {problem}")

    def _lambda_problem(self, arn: str, app_id: str, profile_id: str, version: str, content: bytes) -> str | None:
        import boto3

        host = self.headers.get("Host") or "127.0.0.1:5000"
        client = boto3.client(
            "lambda",
            endpoint_url=f"http://{host}",
            region_name=self.region,
            aws_access_key_id="embedded",
            aws_secret_access_key="embedded",  # noqa: S106 - moto accepts any credentials
        )
        event = {
            "applicationId": app_id,
            "configurationProfileId": profile_id,
            "configurationVersion": version,
            "content": base64.b64encode(content).decode("ascii"),
            "uri": "hosted",
        }
        answer = client.invoke(FunctionName=arn, Payload=json.dumps(event).encode())
        if not answer.get("FunctionError"):
            return None
        payload = json.loads(answer["Payload"].read() or b"{}")
        return str(payload.get("errorMessage") or payload)[:4000]

    def get_deployment(self) -> str:
        return json.dumps(self._deployment().to_json())

    def _deployment(self) -> Deployment:
        app_id = self._app()
        environment = self._environment(app_id, str(self._get_param("EnvironmentId")))
        number = int(self._get_param("DeploymentNumber"))
        for deployment in _state.deployments.get((app_id, environment["Id"]), []):
            if deployment.number == number:
                return deployment
        raise _not_found(f"Deployment {number}")

    def list_deployments(self) -> str:
        app_id = self._app()
        environment = self._environment(app_id, str(self._get_param("EnvironmentId")))
        items = []
        for deployment in reversed(_state.deployments.get((app_id, environment["Id"]), [])):
            body = deployment.to_json()
            items.append({k: body[k] for k in body if k not in ("EventLog", "ApplicationId", "EnvironmentId")})
        return json.dumps({"Items": items})

    def stop_deployment(self) -> tuple[int, dict[str, str], str]:
        deployment = self._deployment()
        with _state.lock:
            if deployment.state in ("COMPLETE", "ROLLED_BACK"):
                raise _Error("BadRequestException", f"Deployment #{deployment.number} is {deployment.state}")
            deployment.stopped_at = _now()
            deployment.events.append(_event("ROLLBACK_STARTED", "Deployment stopped: rolling back", "USER"))
            deployment.events.append(_event("ROLLBACK_COMPLETED", "Rolled back to the previous version"))
        return 202, {}, json.dumps(deployment.to_json())


def _schema_problem(content: bytes, schema_text: str) -> str | None:
    import jsonschema  # type: ignore[import-untyped]  # dev only: moto's dependency

    try:
        document = json.loads(content)
    except ValueError as exc:
        return f"not JSON: {exc}"
    validator = jsonschema.Draft7Validator(json.loads(schema_text))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    return "; ".join(f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors[:20])


class DataPlane(BaseResponse):
    """``appconfigdata``: sessions and the latest deployed configuration."""

    def __init__(self) -> None:
        super().__init__(service_name="appconfigdata")

    def _determine_resource(self) -> str:
        """The configuration ARN, so IAM policies on it apply (as on AWS)."""
        try:
            if self.method == "POST":
                body = json.loads(self.body or "{}")
                app_id, env_id, profile_id = self._resolve(
                    body.get("ApplicationIdentifier", ""),
                    body.get("EnvironmentIdentifier", ""),
                    body.get("ConfigurationProfileIdentifier", ""),
                )
            else:
                app_id, env_id, profile_id, _ = _state.sessions[self._token()]
        except (KeyError, ValueError, JsonRESTError):
            return "*"
        prefix = f"arn:aws:appconfig:{self.region}:{self.current_account}"
        return f"{prefix}:application/{app_id}/environment/{env_id}/configuration/{profile_id}"

    def _resolve(self, app: str, env: str, profile: str) -> tuple[str, str, str]:
        backend = _backend(self.current_account, self.region)
        app_id = next((a.id for a in backend.applications.values() if app in (a.id, a.name)), None)
        if app_id is None:
            raise _not_found("Application")
        environment = next(
            (e for e in _state.environments.get(app_id, {}).values() if env in (e["Id"], e["Name"])), None
        )
        if environment is None:
            raise _not_found("Environment")
        profiles = backend.list_configuration_profiles(app_id)
        profile_id = next((p.id for p in profiles if profile in (p.id, p.name)), None)
        if profile_id is None:
            raise _not_found("ConfigurationProfile")
        return app_id, environment["Id"], profile_id

    def _token(self) -> str:
        values = self.querystring.get("configuration_token") or [""]
        return str(values[0])

    def start_configuration_session(self) -> tuple[int, dict[str, str], str]:
        body = json.loads(self.body or "{}")
        resolved = self._resolve(
            body.get("ApplicationIdentifier", ""),
            body.get("EnvironmentIdentifier", ""),
            body.get("ConfigurationProfileIdentifier", ""),
        )
        token = uuid.uuid4().hex
        with _state.lock:
            _state.sessions[token] = (*resolved, None)
        return 201, {}, json.dumps({"InitialConfigurationToken": token})

    def get_latest_configuration(self) -> tuple[int, dict[str, str], bytes]:
        token = self._token()
        with _state.lock:
            session = _state.sessions.pop(token, None)
        if session is None:
            raise _Error("BadRequestException", "Invalid or expired configuration token")
        app_id, env_id, profile_id, seen = session
        version = served_version(app_id, env_id, profile_id)
        content, content_type = b"", "application/octet-stream"
        if version is not None and version != seen:
            hosted = _backend(self.current_account, self.region).get_hosted_configuration_version(
                app_id, profile_id, int(version)
            )
            raw = hosted.content
            content = raw if isinstance(raw, bytes) else str(raw).encode()
            content_type = hosted.content_type or "application/json"
        next_token = uuid.uuid4().hex
        with _state.lock:
            _state.sessions[next_token] = (app_id, env_id, profile_id, version)
        headers = {
            "Next-Poll-Configuration-Token": next_token,
            "Next-Poll-Interval-In-Seconds": "1",
            "Content-Type": content_type,
        }
        if version is not None:
            headers["Version-Label"] = version
        return 200, headers, content


ROUTES: dict[str, Any] = {
    "{0}/applications/(?P<app_id>[^/]+)/environments$": ControlPlane.dispatch,
    "{0}/applications/(?P<app_id>[^/]+)/environments/(?P<env_id>[^/]+)$": ControlPlane.dispatch,
    "{0}/applications/(?P<app_id>[^/]+)/environments/(?P<env_id>[^/]+)/deployments$": ControlPlane.dispatch,
    "{0}/applications/(?P<app_id>[^/]+)/environments/(?P<env_id>[^/]+)/deployments/(?P<n>[^/]+)$": (
        ControlPlane.dispatch
    ),
    "{0}/deploymentstrategies$": ControlPlane.dispatch,
    "{0}/deploymentstrategies/(?P<strategy_id>[^/]+)$": ControlPlane.dispatch,
    "{0}/configurationsessions$": DataPlane.dispatch,
    "{0}/configuration$": DataPlane.dispatch,
}


def install() -> None:
    """Add the routes to moto's ``appconfig`` service (before its server app is first built)."""
    from moto.appconfig import urls
    from moto.appconfig.responses import AppConfigResponse

    urls.url_paths.update(ROUTES)
    if not hasattr(AppConfigResponse, "list_applications"):
        AppConfigResponse.list_applications = _list_applications  # type: ignore[attr-defined]
    reset()


def _list_applications(self: Any) -> str:
    """ListApplications, which moto 5 lacks (the CLI finds ``handoff-<stage>`` with it)."""
    applications = _backend(self.current_account, self.region).applications.values()
    return json.dumps({"Items": [a.to_json() for a in applications]})


# --- creating the template's resources and deploying the policy files ---------------------------
APPCONFIG_TYPES = (
    "AWS::AppConfig::Application",
    "AWS::AppConfig::Environment",
    "AWS::AppConfig::ConfigurationProfile",
    "AWS::AppConfig::DeploymentStrategy",
)


def create_resources(template: Any, client: Any) -> dict[str, str]:
    """Create the template's AppConfig resources; each logical id's physical ref becomes the real id.

    Environment monitors are left out: alarms do not exist on the embedded stack.
    """
    created: dict[str, str] = {}
    for kind in APPCONFIG_TYPES:
        for logical_id, resource in template.resources.items():
            if resource["Type"] != kind:
                continue
            props = resource.get("Properties") or {}
            if kind == "AWS::AppConfig::Application":
                answer = client.create_application(Name=str(template.resolve(props["Name"])))
            elif kind == "AWS::AppConfig::Environment":
                answer = client.create_environment(
                    ApplicationId=template.resolve(props["ApplicationId"]), Name=str(template.resolve(props["Name"]))
                )
            elif kind == "AWS::AppConfig::ConfigurationProfile":
                answer = client.create_configuration_profile(
                    ApplicationId=template.resolve(props["ApplicationId"]),
                    Name=str(template.resolve(props["Name"])),
                    LocationUri=props.get("LocationUri", "hosted"),
                    Type=props.get("Type", "AWS.Freeform"),
                    Validators=[
                        {"Type": v["Type"], "Content": str(template.resolve(v["Content"]))}
                        for v in props.get("Validators") or []
                    ],
                )
            else:
                answer = client.create_deployment_strategy(
                    Name=str(template.resolve(props["Name"])),
                    DeploymentDurationInMinutes=int(props["DeploymentDurationInMinutes"]),
                    GrowthFactor=float(props["GrowthFactor"]),
                    GrowthType=props.get("GrowthType", "LINEAR"),
                    FinalBakeTimeInMinutes=int(props.get("FinalBakeTimeInMinutes", 0)),
                    ReplicateTo="NONE",
                )
            template.physical[logical_id].ref = answer["Id"]
            created[logical_id] = answer["Id"]
    return created


@dataclass
class PolicyTarget:
    """Where one policy goes: the ids from the template."""

    application: str
    environment: str
    profile: str
    strategy: str


def publish(client: Any, target: PolicyTarget, file: Path, *, wait: bool = True, timeout: float = 30.0) -> int:
    """Check ``file``, store it as a hosted version and deploy it; the deployment number.

    Used by the embedded stack at start and when a ``--policy`` file changes; the
    same calls as ``handoff policy push``.
    """
    from handoff_dev.policy_ops import content_for

    content = content_for(file)
    version = client.create_hosted_configuration_version(
        ApplicationId=target.application,
        ConfigurationProfileId=target.profile,
        Content=content,
        ContentType="application/json",
    )["VersionNumber"]
    _stop_running(client, target)
    number = int(
        client.start_deployment(
            ApplicationId=target.application,
            EnvironmentId=target.environment,
            DeploymentStrategyId=target.strategy,
            ConfigurationProfileId=target.profile,
            ConfigurationVersion=str(version),
            Description=f"{file.name} (embedded stack)",
        )["DeploymentNumber"]
    )
    if wait:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = client.get_deployment(
                ApplicationId=target.application, EnvironmentId=target.environment, DeploymentNumber=number
            )["State"]
            if state in ("COMPLETE", "ROLLED_BACK"):
                break
            time.sleep(0.05)
    return number


def _stop_running(client: Any, target: PolicyTarget) -> None:
    """A newer edit replaces a deployment still baking (AWS would refuse it with a conflict)."""
    items = client.list_deployments(ApplicationId=target.application, EnvironmentId=target.environment)["Items"]
    for item in items:
        if item["State"] in ("DEPLOYING", "BAKING"):
            client.stop_deployment(
                ApplicationId=target.application,
                EnvironmentId=target.environment,
                DeploymentNumber=item["DeploymentNumber"],
            )


class PolicyWatcher:
    """Re-deploys a policy file within a second of an edit; an invalid edit is reported and not deployed."""

    def __init__(
        self,
        client: Any,
        targets: dict[str, tuple[PolicyTarget, Path]],
        report: Any = print,
        interval: float = 0.5,
    ) -> None:
        self.client = client
        self.targets = targets
        self.report = report
        self.interval = interval
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.versions: dict[str, str] = {}
        self._seen: dict[str, float] = {}

    def start(self) -> PolicyWatcher:
        for kind, (_, file) in self.targets.items():
            self._seen[kind] = file.stat().st_mtime
        self.thread = threading.Thread(target=self._run, name="policy-watcher", daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval):
            for kind, (target, file) in self.targets.items():
                try:
                    mtime = file.stat().st_mtime
                except OSError:
                    continue
                if mtime == self._seen.get(kind):
                    continue
                self._seen[kind] = mtime
                self.reload(kind, target, file)

    def reload(self, kind: str, target: PolicyTarget, file: Path) -> bool:
        from handoff.route.policy import PolicyError

        try:
            publish(self.client, target, file, wait=False)
        except PolicyError as exc:
            self.report(f"{file}: not deployed, the live {kind} policy is unchanged:\n{exc}")
            return False
        except Exception as exc:  # noqa: BLE001 - a watcher must keep watching
            self.report(f"{file}: not deployed ({type(exc).__name__}: {exc})")
            return False
        from handoff_dev.policy_ops import version_of

        self.versions[kind] = version_of(file)
        self.report(f"{file}: {kind} policy {self.versions[kind]} deployed")
        return True

    def stop(self) -> None:
        self.stop_event.set()


def targets(template: Any, routing: Path, partners: Path) -> dict[str, tuple[PolicyTarget, Path]]:
    """Each policy file with the AppConfig ids the template gave its profile."""

    def ref(logical_id: str) -> str:
        return str(template.physical[logical_id].ref)

    def target(profile: str) -> PolicyTarget:
        return PolicyTarget(
            ref("PolicyApplication"), ref("PolicyEnvironment"), ref(profile), ref("PolicyDeploymentStrategy")
        )

    return {
        "routing": (target("RoutingPolicyProfile"), routing),
        "partners": (target("PartnerPolicyProfile"), partners),
    }


def start_policies(
    template: Any, client: Any, routing: Path, partners: Path, *, watch: bool, report: Any = print
) -> PolicyWatcher:
    """Deploy both policy files (one deployment at a time, as AppConfig allows), then watch them if asked."""
    watcher = PolicyWatcher(client, targets(template, routing, partners), report=report)
    for kind, (target, file) in watcher.targets.items():
        publish(client, target, file, wait=True)
        watcher.versions[kind] = _version(file)
    return watcher.start() if watch else watcher


def _version(file: Path) -> str:
    from handoff_dev.policy_ops import version_of

    return version_of(file)
