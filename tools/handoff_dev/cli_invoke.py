"""``handoff invoke FUNCTION -e EVENT``: the Docker-free ``sam local invoke``.

One function of template.yaml, its handler module loaded from ``CodeUri`` and
``Handler``, run in this process with the environment the template gives that
function (Globals merged, ``Ref``/``GetAtt``/``Sub`` resolved to the names the
embedded stack uses) and ``AWS_ENDPOINT_URL`` pointing at the embedded stack or
any endpoint. It prints what the handler returned, or Lambda's error payload,
and the exit code says which.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from handoff_dev.cli_errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT_ROOT / "template.yaml"
EMBEDDED_PARAMETERS = {"Stage": "dev", "AnalysisGraceSeconds": "0"}


@dataclass
class InvokeContext:
    """The Lambda context attributes Powertools and the handlers read."""

    function_name: str
    memory_limit_in_mb: int = 256
    timeout_seconds: int = 30
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]


def function_spec(logical_id: str, endpoint_url: str, template_path: Path = TEMPLATE) -> FunctionSpec:
    """What the template says about one function, resolved as the embedded stack resolves it."""
    from handoff_dev.embedded.template import Template

    template = Template.load(template_path, overrides=EMBEDDED_PARAMETERS, queue_endpoint=endpoint_url)
    functions = sorted(k for k, r in template.resources.items() if r.get("Type") == "AWS::Serverless::Function")
    if logical_id not in functions:
        raise CliError(f"no function {logical_id!r} in {template_path.name}", f"one of: {', '.join(functions)}", 2)
    props = template.function_properties(logical_id)
    environment = {k: str(v) for k, v in template.resolve(props["Environment"]["Variables"]).items()}
    return FunctionSpec(
        logical_id=logical_id,
        name=template.physical[logical_id].ref,
        code_dir=(template_path.parent / str(props["CodeUri"])).resolve(),
        handler=str(props["Handler"]),
        timeout=int(props.get("Timeout", 3)),
        memory=int(props.get("MemorySize", 128)),
        environment=environment,
    )


@contextmanager
def function_environment(spec: FunctionSpec, endpoint_url: str | None) -> Iterator[None]:
    """The function's variables for the duration of the call, as Lambda would set them."""
    values = {
        **spec.environment,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    if endpoint_url:
        values["AWS_ENDPOINT_URL"] = endpoint_url
        for key, value in (
            ("AWS_ACCESS_KEY_ID", "embedded"),
            ("AWS_SECRET_ACCESS_KEY", "embedded"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_REGION", "us-east-1"),
        ):
            if not os.environ.get(key):
                values[key] = value
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def invoke_function(spec: FunctionSpec, event: Any, endpoint_url: str | None) -> tuple[Any, bool]:
    """(payload, ok): the handler's answer, or Lambda's ``errorType``/``errorMessage`` when it raised."""
    module_name, _, attribute = spec.handler.rpartition(".")
    path = spec.code_dir / f"{module_name}.py"
    with function_environment(spec, endpoint_url):
        module_key = f"handoff_invoke_{spec.logical_id}"
        loader = importlib.util.spec_from_file_location(module_key, path)
        if loader is None or loader.loader is None:
            raise CliError(f"cannot load the handler module {path}", "check CodeUri and Handler in template.yaml")
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_key] = module
        try:
            loader.loader.exec_module(module)
            handler = getattr(module, attribute)
            return handler(event, InvokeContext(spec.name, spec.memory, spec.timeout)), True
        except Exception as exc:  # noqa: BLE001 - reported as Lambda reports it
            return {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-3:],
            }, False


def invoke(
    function: Annotated[str, typer.Argument(help="The function's logical id in template.yaml, e.g. RouteFunction.")],
    event_file: Annotated[
        Path | None, typer.Option("--event", "-e", help="JSON event file (default: {}).", dir_okay=False)
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", help="AWS endpoint (the embedded stack).", envvar="HANDOFF_ENDPOINT_URL"),
    ] = None,
    template: Annotated[Path, typer.Option("--template", "-t", help="The SAM template.")] = TEMPLATE,
) -> None:
    """Run one function with one event and the template's environment, without Docker; exit 1 if it raised."""
    event: Any = {}
    if event_file is not None:
        try:
            event = json.loads(event_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CliError(f"cannot read {event_file}: {exc.strerror}", "pass an existing event file", 2) from None
        except json.JSONDecodeError as exc:
            raise CliError(
                f"{event_file} is not valid JSON ({exc.msg}, line {exc.lineno})", "fix the event", EXIT_BAD_INPUT
            ) from None
    layer = str(PROJECT_ROOT / "layers" / "handoff")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    spec = function_spec(function, endpoint_url or "", template)
    payload, ok = invoke_function(spec, event, endpoint_url)
    typer.echo(json.dumps(payload, indent=2, default=str))
    if not ok:
        typer.echo(f"handoff: {spec.logical_id} raised {payload['errorType']}: {payload['errorMessage']}", err=True)
        raise typer.Exit(EXIT_FAILED)
