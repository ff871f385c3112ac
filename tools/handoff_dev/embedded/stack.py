"""The embedded stack: the real template on moto, in this process, on loopback.

``EmbeddedStack.start()`` starts a moto server on the AWS port, turns on moto's
Step Functions interpreter, creates every resource of template.yaml through
boto3 (the state machine from ``statemachine/`` with its substitutions
resolved), registers the functions to run in process, starts the partner
sandboxes and serves the HTTP API. Function code then reaches AWS only through
boto3 and ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from handoff_dev.embedded import appconfig, iam, replay, shims
from handoff_dev.embedded.http_api import HttpApi, Route
from handoff_dev.embedded.lambdas import DEFAULT_CONCURRENCY, FunctionRegistry, LocalFunction
from handoff_dev.embedded.template import Template, load_template

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEV_WEBHOOK_SECRET = "whsec_handoff_dev_only_not_a_real_secret"  # noqa: S105 - documented dev default
DEV_PLANYO_CALLBACK_TOKEN = "dev-planyo-callback-token-0123456789abcdef"  # noqa: S105 - embedded stack only
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
    # Environments per function when the template reserves no concurrency (Lambda would scale further).
    concurrency: int = DEFAULT_CONCURRENCY
    # Fork environments from one process that imported boto3, Powertools and pydantic once: cold
    # starts cost milliseconds instead of seconds (the test suite); the init time then excludes them.
    prefork: bool = False
    # Each function calls AWS as its own role, checked by moto; the harness keeps admin keys.
    enforce_iam: bool = True
    # Copy every function's log lines to this process's stdout (they are always kept per function).
    echo_logs: bool = True
    # Called with "cold start <Function> <ms> ms ..." each time an environment starts (handoff dev prints it).
    announce: Callable[[str], None] | None = None


class EmbeddedStack:
    def __init__(self, options: StackOptions | None = None, template_path: Path | None = None) -> None:
        self.options = options or StackOptions()
        self.template_path = template_path or PROJECT_ROOT / "template.yaml"
        self.registry = FunctionRegistry(
            echo_logs=self.options.echo_logs, announce=self.options.announce, prefork=self.options.prefork
        )
        self.registry.environment_for = self.function_environment
        self.delivery = shims.EventDelivery(self.registry)
        self.scheduler = shims.Scheduler(self.registry)
        self.sandboxes: dict[str, Any] = {}
        self.server: Any = None
        self.http: HttpApi | None = None
        self.template: Template | None = None
        self._saved_env: dict[str, str | None] = {}
        self.policies: appconfig.PolicyWatcher | None = None
        self.harness_credentials = {k: DEV_CREDENTIALS[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        self.role_credentials: dict[str, dict[str, str]] = {}
        self.role_arns: dict[str, str] = {}

    # -- addresses -------------------------------------------------------------
    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.options.host}:{self.options.aws_port}"

    @property
    def api_url(self) -> str:
        assert self.http is not None
        return f"http://{self.options.host}:{self.http.port}"

    def client(self, service: str) -> Any:
        """A boto3 client with the harness's (administrator) credentials."""
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.harness_credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.harness_credentials["AWS_SECRET_ACCESS_KEY"],
        )

    def secret_name(self, logical_id: str) -> str:
        """A secret's name (its ``Ref`` is the ARN, as on AWS)."""
        assert self.template is not None
        return self.template.physical[logical_id].attributes["Name"]

    def physical(self, logical_id: str) -> str:
        assert self.template is not None
        return self.template.physical[logical_id].ref

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> EmbeddedStack:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        overrides = self._overrides()  # a wrong --parameter fails before anything starts
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._set_env({"MOTO_PORT": str(self.options.aws_port), **DEV_CREDENTIALS})
        self.server = ThreadedMotoServer(ip_address=self.options.host, port=self.options.aws_port, verbose=False)
        self.server.start()
        self.options.aws_port = self.server.get_host_and_port()[1]
        # The harness (tests, CLI, ops helpers) reaches this stack's AWS; functions get their own environment.
        self._set_env({"MOTO_PORT": str(self.options.aws_port), "AWS_ENDPOINT_URL": self.aws_endpoint})
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
        if self.options.enforce_iam:
            port = self.options.aws_port
            iam.enforce({f"{self.options.host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"})
        self.http = HttpApi(self.registry, self._routes(), host=self.options.host, port=self.options.port).start()
        self.http.local["/_dev/effects"] = lambda: json.dumps(self.effects()).encode()
        if self.options.schedules:
            self.scheduler.start()
        return self

    def _overrides(self) -> dict[str, str]:
        """Template parameters: the template's defaults, a dev Stage, the log level, then the caller's overrides."""
        declared = set(load_template(self.template_path).get("Parameters") or {})
        unknown = sorted(set(self.options.parameter_overrides) - declared)
        if unknown:
            raise ValueError(f"{self.template_path.name} has no parameter {', '.join(unknown)}")
        # PolicyCacheSeconds 1: a policy edited under `handoff dev --policy` is read within a second.
        ours = {"Stage": "dev", "LogLevel": self.options.log_level.upper(), "PolicyCacheSeconds": "1"}
        return {**{k: v for k, v in ours.items() if k in declared}, **self.options.parameter_overrides}

    def stop(self) -> None:
        self.scheduler.stop()
        if self.policies is not None:
            self.policies.stop()
        self.delivery.wait_idle(timeout=10)
        if self.http is not None:
            self.http.stop()
        self.registry.close()
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        iam.stop_enforcing()
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
        functions: list[str] = []
        dev_key, dev_secret = DEV_CREDENTIALS["AWS_ACCESS_KEY_ID"], DEV_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        self.harness_credentials = iam.create_admin(self.client("iam"), dev_key, dev_secret, t.account_id)
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
                pattern = {"EventPattern": json.dumps(props["EventPattern"])} if props.get("EventPattern") else {}
                self.client("events").create_archive(
                    ArchiveName=t.physical[logical_id].ref[-48:],
                    EventSourceArn=props["SourceArn"],
                    RetentionDays=int(props.get("RetentionDays", 0)),
                    **pattern,
                )
        for logical_id in functions:
            self._create_role(logical_id, iam.LAMBDA_TRUST)
            self._create_function(logical_id)
        for logical_id, resource in t.resources.items():
            if resource["Type"] == "AWS::Serverless::StateMachine":
                # One state machine in the template: the interpreter calls services as its role.
                iam.set_state_machine_credentials(self._create_role(logical_id, iam.STATES_TRUST))
                self.client("stepfunctions").create_state_machine(
                    name=t.physical[logical_id].attributes["Name"],
                    definition=t.state_machine_definition(logical_id),
                    roleArn=self.role_arns[logical_id],
                    type=(resource["Properties"].get("Type") or "STANDARD"),
                )
        for logical_id in functions:
            self._wire_events(logical_id)

    def _create_role(self, logical_id: str, trust: dict[str, Any]) -> dict[str, str]:
        """SAM's generated role for one function or state machine, assumed: its temporary credentials."""
        assert self.template is not None
        role_name = f"{self.template.stack_name}-{logical_id}Role"
        documents = iam.policy_documents(self.template, logical_id)
        credentials = iam.create_role(
            self.client("iam"), self.client("sts"), role_name, trust, documents, self.template.physical[logical_id].ref
        )
        self.role_arns[logical_id] = f"arn:aws:iam::{self.template.account_id}:role/{role_name}"
        self.role_credentials[logical_id] = credentials
        return credentials

    def rebind_log_stream(self) -> None:
        """Kept for callers of the in-process runner: functions now run in their own processes.

        Their output is copied line by line to whatever ``sys.stdout`` is at the
        moment (a test's capture included), so there is nothing to rebind.
        """

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
        created = self.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(value))
        # Ref of a secret is its ARN on AWS (with the random suffix), and policies name that ARN.
        self.template.physical[logical_id].ref = created["ARN"]
        self.template.physical[logical_id].attributes.update({"Id": created["ARN"], "Name": name})

    def set_webhook_secrets(self, current: str, previous: str = "") -> None:
        """Rotate the webhook secret the way an operator would (PutSecretValue)."""
        self.client("secretsmanager").put_secret_value(
            SecretId=self.physical("WebhookSecret"), SecretString=json.dumps({"current": current, "previous": previous})
        )

    def _create_function(self, logical_id: str) -> None:
        assert self.template is not None
        t = self.template
        props = t.function_properties(logical_id)
        name = t.physical[logical_id].ref
        variables = {k: str(v) for k, v in t.resolve(props["Environment"]["Variables"]).items()}
        timeout = int(props.get("Timeout", 3))
        memory = int(props.get("MemorySize", 128))
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime=str(props.get("Runtime", "python3.13")),
            Role=self.role_arns[logical_id],
            Handler=str(props["Handler"]),
            Code={"ZipFile": _empty_zip()},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": variables},
        )
        reserved = t.resolve(props.get("ReservedConcurrentExecutions"))  # None: unreserved (or AWS::NoValue)
        self.registry.add(
            LocalFunction(
                logical_id=logical_id,
                name=name,
                code_dir=(t.path.parent / str(props["CodeUri"])).resolve(),
                handler=str(props["Handler"]),
                timeout=timeout,
                memory=memory,
                environment=variables,
                concurrency=int(reserved) if reserved is not None else self.options.concurrency,
            )
        )

    def function_environment(self, function: LocalFunction) -> dict[str, str]:
        """Exactly what Lambda gives one environment: the template's variables and Lambda's own.

        Lambda's reserved variables (docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html)
        are set as Lambda sets them; ``AWS_ENDPOINT_URL`` points boto3 at this stack,
        ``AWS_SAM_LOCAL`` says "local" as ``sam local`` does (Powertools Tracer stays off: no
        X-Ray here), and the AWS config files are empty as in Lambda. Nothing of this
        process's environment leaks in.
        """
        region = DEV_CREDENTIALS["AWS_REGION"]
        runtime = "python3.13"
        env = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"embedded/[$LATEST]{uuid.uuid4().hex}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "_HANDLER": function.handler,
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "AWS_SAM_LOCAL": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            **self.function_credentials(function),
        }
        return {**function.environment, **env}

    def function_credentials(self, function: LocalFunction) -> dict[str, str]:
        """The credentials Lambda gives the function: its execution role's, assumed through STS."""
        if not self.options.enforce_iam:
            return dict(self.harness_credentials)
        return dict(self.role_credentials[function.logical_id])

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
