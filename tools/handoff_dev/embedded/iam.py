"""IAM on the embedded stack: every function and the state machine call AWS as their own role.

Each ``AWS::Serverless::Function`` and ``AWS::Serverless::StateMachine`` gets
an IAM role holding the policies the template gives it (inline ``Statement``
blocks as written, SAM policy templates expanded with SAM's own
``policy_templates.json`` from samtranslator). The stack assumes each role
through STS and hands the temporary credentials to that function's
environments (and to the Step Functions interpreter's service calls), as
Lambda and Step Functions do with an execution role. The harness keeps an
administrator user's keys.

moto then checks every request that reaches this stack's endpoint: the
signature, the action and the resource. moto itself names a resource only for
SQS, IAM and STS; ``resource_of`` below names it for the services Handoff
calls (DynamoDB tables and indexes, Step Functions machines and executions,
EventBridge buses, Secrets Manager secrets, Lambda functions). Where no
resource can be named (a task token, a batch over several tables) only the
action is checked, and moto evaluates no ``Condition`` keys: both are listed
in docs/embedded-stack.md.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from typing import Any
from urllib.parse import unquote, urlparse

from handoff_dev.embedded.template import Template

ADMIN_USER = "handoff-embedded-admin"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
STATES_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
# API operation -> IAM action where the two differ (moto builds the action from the operation).
# SQS authorises each batch operation by its single-message action (docs.aws.amazon.com/AWSSimpleQueueService/
# latest/SQSDeveloperGuide/sqs-api-permissions-reference.html).
IAM_ACTION = {
    "lambda:Invoke": "lambda:InvokeFunction",
    "lambda:InvokeAsync": "lambda:InvokeFunction",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

# The interpreter's modules that import boto_client_for by name (moto 5).
STATE_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
INTERPRETER_CLIENT_MODULES = [
    "lambda_eval_utils",
    *(
        f"service.state_task_service_{name}"
        for name in ("unsupported", "events", "sqs", "sfn", "dynamodb", "sns", "aws_sdk", "glue", "ecs", "batch")
    ),
]
_state: dict[str, Any] = {"hosts": set(), "patched": False, "sfn_credentials": None}
_lock = threading.Lock()


def policy_documents(template: Template, logical_id: str) -> list[dict[str, Any]]:
    """The resource's ``Policies`` as IAM policy documents, SAM policy templates expanded as SAM does."""
    props = template.resources[logical_id].get("Properties") or {}
    policies = props.get("Policies") or []
    if isinstance(policies, str | dict):
        policies = [policies]
    documents: list[dict[str, Any]] = []
    for policy in policies:
        if isinstance(policy, str):
            raise NotImplementedError(
                f"template.yaml: {logical_id} names the managed policy {policy!r}; "
                "the embedded stack expands only inline statements and SAM policy templates"
            )
        if "Statement" in policy:
            statements = policy["Statement"]
        else:
            ((name, parameters),) = policy.items()
            statements = _expand_policy_template(name, parameters or {})["Statement"]
        documents.append({"Version": "2012-10-17", "Statement": template.resolve(statements)})
    return documents


def _expand_policy_template(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """SAM's expansion: the template's Definition with each ``{"Ref": <parameter>}`` replaced by its value.

    The definitions are SAM's own ``policy_templates.json`` (shipped in samtranslator,
    installed with aws-sam-cli), read as data: importing samtranslator costs seconds.
    """
    template = _policy_templates().get(name)
    if template is None:
        raise NotImplementedError(f"template.yaml: unknown SAM policy template {name!r}")
    missing = sorted(set(template.get("Parameters") or {}) - set(parameters))
    if missing:
        raise ValueError(f"template.yaml: SAM policy template {name} needs {', '.join(missing)}")

    def substitute(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in parameters:
                return parameters[value["Ref"]]
            return {k: substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v) for v in value]
        return value

    expanded: dict[str, Any] = substitute(template["Definition"])
    return expanded


_templates: list[dict[str, Any]] = []


def _policy_templates() -> dict[str, Any]:
    if not _templates:
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("samtranslator")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("samtranslator (installed with aws-sam-cli) is needed to expand SAM policy templates")
        path = Path(next(iter(spec.submodule_search_locations))) / "policy_templates_data" / "policy_templates.json"
        _templates.append(json.loads(path.read_text(encoding="utf-8"))["Templates"])
    return _templates[0]


def create_admin(iam: Any, access_key_id: str, secret_access_key: str, account_id: str) -> dict[str, str]:
    """An IAM user allowed everything, holding the stack's documented dev keys: the harness's credentials.

    Tests, the CLI (``handoff executions list --endpoint-url …`` from another shell) and ops
    helpers keep using the well-known dev keys; moto creates random key ids, so the admin
    user's key is given the dev key's id and secret in moto's backend.
    """
    from moto.iam.models import iam_backends

    iam.create_user(UserName=ADMIN_USER)
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="everything", PolicyDocument=json.dumps(everything))
    iam.create_access_key(UserName=ADMIN_USER)
    (key,) = iam_backends[account_id]["aws"].users[ADMIN_USER].access_keys
    key.access_key_id = access_key_id
    key.secret_access_key = secret_access_key
    return {"AWS_ACCESS_KEY_ID": access_key_id, "AWS_SECRET_ACCESS_KEY": secret_access_key}


def create_role(
    iam: Any, sts: Any, role_name: str, trust: dict[str, Any], documents: list[dict[str, Any]], session: str
) -> dict[str, str]:
    """Create the role with its policies and assume it: the temporary credentials, as env variables."""
    arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    for number, document in enumerate(documents):
        iam.put_role_policy(
            RoleName=role_name, PolicyName=f"{role_name}Policy{number}", PolicyDocument=json.dumps(document)
        )
    credentials = sts.assume_role(RoleArn=arn, RoleSessionName=session[:64], DurationSeconds=43200)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def resource_of(response: Any, region: str, account: str) -> str:
    """The ARN one request acts on, for the services whose resource moto leaves as ``*``."""
    service = _service_of(response)
    try:
        if service == "dynamodb":
            table = response._get_param("TableName")
            if not table:
                return "*"
            index = response._get_param("IndexName")
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
            return f"{arn}/index/{index}" if index else arn
        if service == "states":
            for key in ("stateMachineArn", "executionArn", "activityArn"):
                value = response._get_param(key)
                if value:
                    return str(value)
            return "*"
        if service == "events":
            entries = response._get_param("Entries") or []
            buses = {str(e.get("EventBusName") or "default") for e in entries if isinstance(e, dict)}
            if len(buses) != 1:
                return "*"
            bus = buses.pop()
            return bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{bus}"
        if service == "secretsmanager":
            secret = response._get_param("SecretId")
            if not secret:
                return "*"
            if str(secret).startswith("arn:"):
                return str(secret)
            from moto.secretsmanager.models import secretsmanager_backends

            found = secretsmanager_backends[account][region].secrets.get(secret)
            return str(found.arn) if found is not None else "*"
        if service == "lambda":
            path = urlparse(response.uri).path
            if "/functions/" in path:
                name = unquote(path.split("/functions/", 1)[1].split("/", 1)[0])
                return name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
    except Exception:  # noqa: BLE001 - an unreadable request is checked on its action alone
        return "*"
    return "*"


def _service_of(response: Any) -> str:
    authorization = response.headers.get("Authorization", "")
    scope = authorization.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in authorization else ""
    parts = scope.split("/")
    return parts[3] if len(parts) > 3 else ""


def observe(observer: Any) -> None:
    """Call ``observer(service, operation, access_key_id, request)`` for every request that reaches the stack.

    ``request`` is moto's response handler for the request (its headers and body), before it is served.
    """
    _state.setdefault("observers", []).append(observer)


def unobserve(observer: Any) -> None:
    with contextlib.suppress(ValueError):
        _state.setdefault("observers", []).remove(observer)


def _notify(response: Any) -> None:
    observers = _state.get("observers") or []
    if not observers:
        return
    authorization = response.headers.get("Authorization", "")
    scope = authorization.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in authorization else ""
    parts = scope.split("/")
    service, key = (parts[3], parts[0]) if len(parts) > 3 else ("", "")
    operation = response._get_action()
    for observer in list(observers):
        observer(service, operation, key, response)


def enforce(hosts: set[str]) -> None:
    """Check IAM on every request that reaches one of ``hosts`` (this stack's endpoint)."""
    with _lock:
        _state["hosts"] = set(hosts)
    install()


def stop_enforcing() -> None:
    with _lock:
        _state["hosts"] = set()
        _state["sfn_credentials"] = None


def set_state_machine_credentials(credentials: dict[str, str] | None) -> None:
    _state["sfn_credentials"] = credentials


def install() -> None:
    """Patch moto once: enforcement per host, resources named, the interpreter's own credentials."""
    if _state["patched"]:
        return
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMPolicyStatement

    original_auth = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authenticate_and_authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if self.headers.get("Host", "") not in _state["hosts"]:
            original_auth(self, iam_request_cls, resource)
            return
        with contextlib.suppress(Exception):
            _notify(self)
        if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
            return
        if resource == "*":
            resource = resource_of(self, "us-east-1", self.current_account)
        parsed = urlparse(self.uri)
        path = self.raw_path + ("?" + parsed.query if parsed.query else "")
        request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        )
        request._action = IAM_ACTION.get(request._action, request._action)
        # moto cannot recompute the signature of AppConfig data-plane GETs (the shim's routes, a
        # token in the query): those are checked on their action alone (docs/embedded-stack.md).
        if not (request._action.startswith("appconfig:") and self.method == "GET"):
            request.check_signature()
        request.check_action_permitted(resource)

    original_matches = IAMPolicyStatement._check_element_matches

    def check_element_matches(self: Any, statement_element: Any, value: str) -> bool:
        # A request whose resource cannot be named is checked on its action alone (see module doc).
        if statement_element == "Resource" and value == "*":
            return True
        return bool(original_matches(self, statement_element, value))

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate_and_authorize  # type: ignore[method-assign]
    IAMPolicyStatement._check_element_matches = check_element_matches  # type: ignore[method-assign]
    _patch_interpreter_clients()
    _state["patched"] = True


def _patch_interpreter_clients() -> None:
    """The Step Functions interpreter calls services with fixed fake keys; give it the machine's role."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        client = original(region, service, state_credentials)
        credentials = _state["sfn_credentials"]
        if credentials is None:
            return client
        import boto3
        from botocore.config import Config

        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=region,
            endpoint_url=client.meta.endpoint_url,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=getattr(client.meta.config, "connect_timeout", 60),
                read_timeout=getattr(client.meta.config, "read_timeout", 60),
            ),
        )

    # Modules imported from now on bind the patched function; those already imported are rebound.
    for name in INTERPRETER_CLIENT_MODULES:
        module = sys.modules.get(f"{STATE_TASK}.{name}")
        if module is not None and getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    boto_client.boto_client_for = boto_client_for
