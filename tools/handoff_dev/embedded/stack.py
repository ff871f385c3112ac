"""The embedded stack: the real template on moto, in this process, on loopback.

``EmbeddedStack.start()`` starts a moto server on the AWS port, turns on moto's
Step Functions interpreter, creates every resource of template.yaml through
boto3 (the state machine from ``statemachine/`` with its substitutions
resolved), registers the functions to run in process, starts the partner
sandboxes and serves the HTTP API. Function code then reaches AWS only through
boto3 and ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from handoff_dev.embedded import appconfig, replay, shims
from handoff_dev.embedded.http_api import HttpApi, Route
from handoff_dev.embedded.lambdas import FunctionRegistry, LocalFunction
from handoff_dev.embedded.template import Template

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEV_WEBHOOK_SECRET = "whsec_handoff_dev_only_not_a_real_secret"  # noqa: S105 - documented dev default
DEV_PLANYO_CALLBACK_TOKEN = "dev-planyo-callback-token-0123456789abcdef"  # noqa: S105 - embedded stack only
SFN_ROLE = "arn:aws:iam::123456789012:role/handoff-embedded"
PARTNER_SECRETS = {
    "PlanyoSecret": "planyo",
    "BookingmoodSecret": "bookingmood",
    "PlisioSecret": "plisio",
    "BillitSecret": "billit",
    "OcrWebServiceSecret": "ocrwebservice",
    "SlackSecret": "slack",
}
"""Template secret -> the partner block of the local config it holds (template.yaml splits them per partner)."""
DEV_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "embedded",
    "AWS_SECRET_ACCESS_KEY": "embedded",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "# code runs in process on the embedded stack\n")
    return buffer.getvalue()


@dataclass
class StackOptions:
    port: int = 3000
    aws_port: int = 5000
    host: str = "127.0.0.1"
    webhook_secret: str = DEV_WEBHOOK_SECRET
    previous_webhook_secret: str = ""
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    log_level: str = "WARNING"
    sandboxes: bool = True
    partner_config_file: Path | None = None
    schedules: bool = True
    policy_file: Path | None = None
    """Routing policy to deploy to AppConfig (default policy/routing.yaml); None with publish_policies off."""
    partner_policy_file: Path | None = None
    watch_policies: bool = False
    """Re-deploy a policy file within a second of an edit (``handoff dev --policy``)."""
    publish_policies: bool = True
    """False leaves AppConfig without a deployment: the "no policy readable" path."""


class EmbeddedStack:
    def __init__(self, options: StackOptions | None = None, template_path: Path | None = None) -> None:
        self.options = options or StackOptions()
        self.template_path = template_path or PROJECT_ROOT / "template.yaml"
        self.registry = FunctionRegistry()
        self.delivery = shims.EventDelivery(self.registry)
        self.scheduler = shims.Scheduler(self.registry)
        self.sandboxes: dict[str, Any] = {}
        self.server: Any = None
        self.http: HttpApi | None = None
        self.template: Template | None = None
        self._saved_env: dict[str, str | None] = {}
        self.policies: appconfig.PolicyWatcher | None = None

    # -- addresses -------------------------------------------------------------
    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.options.host}:{self.options.aws_port}"

    @property
    def api_url(self) -> str:
        assert self.http is not None
        return f"http://{self.options.host}:{self.http.port}"

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="embedded",
            aws_secret_access_key="embedded",  # noqa: S106 - moto accepts any credentials
        )

    def physical(self, logical_id: str) -> str:
        assert self.template is not None
        return self.template.physical[logical_id].ref

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> EmbeddedStack:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        default_user_config["stepfunctions"]["execute_state_machine"] = True
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._set_env({"MOTO_PORT": str(self.options.aws_port), **DEV_CREDENTIALS})
        self.server = ThreadedMotoServer(ip_address=self.options.host, port=self.options.aws_port, verbose=False)
        self.server.start()
        self.options.aws_port = self.server.get_host_and_port()[1]
        self._set_env({"MOTO_PORT": str(self.options.aws_port)})
        shims.install(self.registry, self.delivery)
        replay.install()  # archive replays honour their window and report a count (cli's shim)
        appconfig.install()
        # moto keeps its backends per process: start every stack from a clean account.
        import requests

        requests.post(f"{self.aws_endpoint}/moto-api/reset", timeout=10)
        # Powertools caches one boto client per provider for the process: a stack on a
        # new port must not reuse a client bound to the previous stack's endpoint.
        from aws_lambda_powertools.utilities.parameters import base as parameters_base

        parameters_base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]
        overrides = {
            "Stage": "dev",
            "AnalysisGraceSeconds": "0",
            "PolicyCacheSeconds": "1",
            **self.options.parameter_overrides,
        }
        self.template = Template.load(self.template_path, overrides=overrides, queue_endpoint=self.aws_endpoint)
        partner_config = self._partner_config()
        self._create_resources(partner_config)
        if self.options.publish_policies:
            from handoff_dev.policy_files import PARTNER_POLICY_FILE, ROUTING_POLICY_FILE

            self.policies = appconfig.start_policies(
                self.template,
                self.client("appconfig"),
                self.options.policy_file or ROUTING_POLICY_FILE,
                self.options.partner_policy_file or PARTNER_POLICY_FILE,
                watch=self.options.watch_policies,
            )
        self.http = HttpApi(self.registry, self._routes(), host=self.options.host, port=self.options.port).start()
        self.http.local["/_dev/effects"] = lambda: json.dumps(self.effects()).encode()
        if self.options.schedules:
            self.scheduler.start()
        return self

    def stop(self) -> None:
        self.scheduler.stop()
        if self.policies is not None:
            self.policies.stop()
        self.delivery.wait_idle(timeout=10)
        if self.http is not None:
            self.http.stop()
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        if self.server is not None:
            self.server.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    # -- partners ----------------------------------------------------------------
    def _partner_config(self) -> dict[str, Any]:
        """Real credentials from a file when given, else the loopback sandboxes."""
        if self.options.partner_config_file is not None:
            loaded = json.loads(self.options.partner_config_file.read_text(encoding="utf-8"))
            return loaded if isinstance(loaded, dict) else {}
        if not self.options.sandboxes:
            return {}
        from handoff_dev.sandboxes import start_all

        self.sandboxes = start_all()
        config = {name: sandbox.config() for name, sandbox in self.sandboxes.items()}
        if "planyo" in config:
            # The unguessable token Planyo's callback URL carries (Planyo signs nothing).
            config["planyo"].setdefault("callback_token", DEV_PLANYO_CALLBACK_TOKEN)
        return config

    # -- resources ---------------------------------------------------------------
    def _create_resources(self, partner_config: dict[str, Any]) -> None:
        assert self.template is not None
        t = self.template
        env: dict[str, str] = {}
        functions: list[str] = []
        self._create_execution_role()
        appconfig.create_resources(t, self.client("appconfig"))
        for logical_id, resource in t.resources.items():
            kind = resource["Type"]
            props = resource.get("Properties") or {}
            if kind == "AWS::DynamoDB::Table":
                self._create_table(logical_id, props)
            elif kind == "AWS::SQS::Queue":
                self.client("sqs").create_queue(QueueName=t.physical[logical_id].attributes["QueueName"])
            elif kind == "AWS::SecretsManager::Secret":
                self._create_secret(logical_id, partner_config)
            elif kind == "AWS::Events::EventBus":
                self.client("events").create_event_bus(Name=t.physical[logical_id].ref)
            elif kind == "AWS::Serverless::Function":
                functions.append(logical_id)
        for logical_id, resource in t.resources.items():
            if resource["Type"] == "AWS::Events::Archive":
                props = t.resolve(resource["Properties"])
                self.client("events").create_archive(
                    ArchiveName=t.physical[logical_id].ref[-48:],
                    EventSourceArn=props["SourceArn"],
                    RetentionDays=int(props.get("RetentionDays", 0)),
                )
        partner_secrets: dict[str, str] = {}
        for logical_id in functions:
            created = self._create_function(logical_id)
            partner_secrets.update(json.loads(created.pop("HANDOFF_PARTNER_SECRETS", "{}")))
            env.update(created)
        # All functions share this process, so its environment is the union of theirs; on AWS each function
        # sees only its own partners' secrets (and IAM grants only those).
        env["HANDOFF_PARTNER_SECRETS"] = json.dumps(partner_secrets)
        env.update(
            {
                "AWS_ENDPOINT_URL": self.aws_endpoint,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": self.options.log_level,
                "POWERTOOLS_DEV": "false",
            }
        )
        self._set_env(env)
        self.rebind_log_stream()
        for logical_id, resource in t.resources.items():
            if resource["Type"] == "AWS::Serverless::StateMachine":
                self.client("stepfunctions").create_state_machine(
                    name=t.physical[logical_id].attributes["Name"],
                    definition=t.state_machine_definition(logical_id),
                    roleArn=SFN_ROLE,
                    type=(resource["Properties"].get("Type") or "STANDARD"),
                )
        for logical_id in functions:
            self._wire_events(logical_id)

    def _create_execution_role(self) -> None:
        """SAM generates one role per function and state machine; locally one role stands in."""
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                }
            ],
        }
        self.client("iam").create_role(RoleName=SFN_ROLE.rsplit("/", 1)[-1], AssumeRolePolicyDocument=json.dumps(trust))

    def rebind_log_stream(self) -> None:
        """Point the functions' log handlers at the current ``sys.stdout``, at this stack's level.

        Handler modules are loaded afresh per stack, but Powertools reuses the
        process-wide logger of the service, whose handler keeps the stream it was
        created with (an earlier stack's, or a test capture that has ended).
        """
        service = os.environ.get("POWERTOOLS_SERVICE_NAME", "handoff")
        service_logger = logging.getLogger(service)
        service_logger.setLevel(self.options.log_level)
        for name, child in logging.root.manager.loggerDict.items():
            if name.startswith(f"{service}.") and isinstance(child, logging.Logger):
                child.setLevel(self.options.log_level)
        for handler in service_logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                # Not setStream(): it flushes the old stream, which may be closed by now.
                with handler.lock or contextlib.nullcontext():
                    handler.stream = sys.stdout

    def _create_table(self, logical_id: str, props: dict[str, Any]) -> None:
        assert self.template is not None
        name = self.template.physical[logical_id].ref
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb = self.client("dynamodb")
        ddb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)

    def _create_secret(self, logical_id: str, partner_config: dict[str, Any]) -> None:
        assert self.template is not None
        name = self.template.physical[logical_id].ref
        if logical_id == "WebhookSecret":
            value = {"current": self.options.webhook_secret, "previous": self.options.previous_webhook_secret}
        elif logical_id in PARTNER_SECRETS:
            value = partner_config.get(PARTNER_SECRETS[logical_id]) or {}  # one secret per partner
        else:
            value = {}
        self.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(value))

    def set_webhook_secrets(self, current: str, previous: str = "") -> None:
        """Rotate the webhook secret the way an operator would (PutSecretValue)."""
        self.client("secretsmanager").put_secret_value(
            SecretId=self.physical("WebhookSecret"), SecretString=json.dumps({"current": current, "previous": previous})
        )

    def _create_function(self, logical_id: str) -> dict[str, str]:
        assert self.template is not None
        t = self.template
        props = t.function_properties(logical_id)
        name = t.physical[logical_id].ref
        env = {k: str(v) for k, v in t.resolve(props["Environment"]["Variables"]).items()}
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime=str(props.get("Runtime", "python3.13")),
            Role=SFN_ROLE,
            Handler=str(props["Handler"]),
            Code={"ZipFile": _empty_zip()},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
            Environment={"Variables": env},
        )
        self.registry.add(
            LocalFunction(
                logical_id=logical_id,
                name=name,
                code_dir=(t.path.parent / str(props["CodeUri"])).resolve(),
                handler=str(props["Handler"]),
                timeout=int(props.get("Timeout", 3)),
                memory=int(props.get("MemorySize", 128)),
                environment=env,
            )
        )
        return env

    def _wire_events(self, logical_id: str) -> None:
        assert self.template is not None
        t = self.template
        events = (t.resources[logical_id].get("Properties") or {}).get("Events") or {}
        function_arn = t.physical[logical_id].attributes["Arn"]
        for event_id, event in events.items():
            props = t.resolve(event.get("Properties") or {})
            if event["Type"] == "EventBridgeRule":
                bus = props.get("EventBusName", "default")
                rule = f"{logical_id}-{event_id}"
                client = self.client("events")
                client.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(props["Pattern"]))
                target: dict[str, Any] = {"Id": "1", "Arn": function_arn}
                if props.get("RetryPolicy"):
                    target["RetryPolicy"] = {k: int(v) for k, v in props["RetryPolicy"].items()}
                if props.get("DeadLetterConfig"):
                    target["DeadLetterConfig"] = {"Arn": props["DeadLetterConfig"]["Arn"]}
                client.put_targets(Rule=rule, EventBusName=bus, Targets=[target])
            elif event["Type"] == "Schedule":
                self.scheduler.add(t.physical[logical_id].ref, props["Schedule"])

    def _routes(self) -> list[Route]:
        assert self.template is not None
        t = self.template
        routes: list[Route] = []
        for logical_id, resource in t.resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
                if event["Type"] == "HttpApi":
                    props = event["Properties"]
                    iam = (props.get("Auth") or {}).get("Authorizer") == "AWS_IAM"
                    routes.append(Route(props["Method"].upper(), props["Path"], t.physical[logical_id].ref, iam))
        return routes

    # -- ops helpers ------------------------------------------------------------
    def effects(self) -> dict[str, dict[str, int]]:
        """Each sandbox's side effects per operation (served as GET /_dev/effects)."""
        return {name: dict(sandbox.effects) for name, sandbox in sorted(self.sandboxes.items())}

    @property
    def state_machine_arn(self) -> str:
        return self.physical("HandoffStateMachine")

