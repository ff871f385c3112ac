"""``handoff events``: watch the bus as a subscriber would, and print the contract's schemas.

``tail`` makes what a subscriber makes (a rule on the Handoff bus with an SQS
queue as its target), polls the queue, prints each event with whether it
validates against its published schema, and deletes the rule and the queue on
exit (Ctrl-C included). It works the same on the embedded stack
(``--endpoint-url``) and on AWS (``--profile``/``--region``).

``schema`` prints one schema; ``schema --write`` regenerates schemas/events/ and
the registry's copies in template.yaml from the models (a test fails when they
are stale).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import typer
from rich.console import Console

from handoff.events.contract import DETAIL_TYPES, EVENT_MODELS, SOURCE
from handoff.events.schema import all_schemas, compact_schema, event_schema
from handoff_dev.cli_errors import EXIT_BAD_INPUT, CliError
from handoff_dev.cli_options import EndpointOption, ProfileOption, RegionOption, StackOption

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = PROJECT_ROOT / "schemas" / "events"
TEMPLATE = PROJECT_ROOT / "template.yaml"
SCHEMAS_BEGIN = "  # --- generated: the contract's schemas (handoff events schema --write) ---\n"
SCHEMAS_END = "  # --- end of generated schemas ---\n"
TAIL_SOURCES = [SOURCE, "handoff.partner"]

events_app = typer.Typer(
    help="The Handoff bus as a subscriber sees it: tail events, print schemas.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)


# --- schemas ----------------------------------------------------------------------------------


def _resource_id(schema_name: str) -> str:
    return f"{schema_name}Schema"


def template_schema_block() -> str:
    """The template's schema resources, one per detail type, between the generated markers."""
    lines = [SCHEMAS_BEGIN]
    for model in EVENT_MODELS:
        content = compact_schema(model.detail_type).replace("'", "''")
        lines.append(
            f"  {_resource_id(model.schema_name)}:\n"
            "    Type: AWS::EventSchemas::Schema\n"
            "    Properties:\n"
            "      RegistryName: !GetAtt EventSchemaRegistry.RegistryName\n"
            f"      SchemaName: handoff@{model.schema_name}\n"
            "      Type: JSONSchemaDraft4\n"
            f"      Description: {json.dumps(model.detail_type + ' - ' + model.description)}\n"
            f"      Content: '{content}'\n\n"
        )
    lines.append(SCHEMAS_END)
    return "".join(lines)


def write_schemas(root: Path = PROJECT_ROOT) -> list[Path]:
    """schemas/events/*.json and the template's block, regenerated from the models."""
    directory = root / "schemas" / "events"
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in all_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    template = root / "template.yaml"
    text = template.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(SCHEMAS_BEGIN) + r".*?" + re.escape(SCHEMAS_END), re.S)
    if not pattern.search(text):
        raise RuntimeError(f"{template}: the generated-schemas markers are missing")
    template.write_text(pattern.sub(lambda _: template_schema_block(), text), encoding="utf-8")
    written.append(template)
    return written


def _known_type(detail_type: str) -> str:
    """The detail type, or a one-line bad-input error naming the known ones."""
    if detail_type not in DETAIL_TYPES:
        raise CliError(
            f"unknown detail type {detail_type!r}",
            f"known: {', '.join(DETAIL_TYPES)} (`handoff events schema` lists them)",
            EXIT_BAD_INPUT,
        )
    return detail_type


@events_app.command("schema")
def schema(
    detail_type: Annotated[str | None, typer.Argument(help="A detail type, e.g. call.lifecycle_signal.")] = None,
    write: Annotated[bool, typer.Option("--write", help="Regenerate schemas/events/ and template.yaml.")] = False,
) -> None:
    """Print the JSON Schema (draft 4, whole event) of one detail type, or list them."""
    if write:
        for path in write_schemas():
            console.print(f"wrote {path.relative_to(PROJECT_ROOT)}")
        return
    if detail_type is None:
        for model in EVENT_MODELS:
            typer.echo(f"{model.detail_type:24} handoff@{model.schema_name:22} {model.description}")
        return
    typer.echo(json.dumps(event_schema(_known_type(detail_type)), indent=2, sort_keys=True))


# --- tail -------------------------------------------------------------------------------------


def validation_error(event: dict[str, Any]) -> str | None:
    """Why an event does not validate against its published schema (None when it does, or has none)."""
    from jsonschema import Draft4Validator  # type: ignore[import-untyped]  # dev only

    detail_type = event.get("detail-type")
    if event.get("source") != SOURCE or detail_type not in DETAIL_TYPES:
        return None
    errors = sorted(Draft4Validator(event_schema(str(detail_type))).iter_errors(event), key=lambda e: list(e.path))
    if not errors:
        return None
    first = errors[0]
    where = "/".join(str(p) for p in first.path) or "<event>"
    return f"{where}: {first.message}"


class BusTail:
    """A temporary rule on the bus delivering to a temporary SQS queue; both removed on exit."""

    def __init__(self, events: Any, sqs: Any, bus_name: str, detail_types: list[str] | None = None) -> None:
        self.events = events
        self.sqs = sqs
        self.bus_name = bus_name
        self.detail_types = detail_types or []
        self.name = f"handoff-tail-{uuid.uuid4().hex[:10]}"
        self.queue_url: str | None = None
        self.rule_created = False

    def pattern(self) -> dict[str, Any]:
        pattern: dict[str, Any] = {"source": TAIL_SOURCES}
        if self.detail_types:
            pattern["detail-type"] = self.detail_types
        return pattern

    def __enter__(self) -> BusTail:
        try:
            self.queue_url = self.sqs.create_queue(
                QueueName=self.name, Attributes={"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": "3600"}
            )["QueueUrl"]
            queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            rule_arn = self.events.put_rule(
                Name=self.name,
                EventBusName=self.bus_name,
                EventPattern=json.dumps(self.pattern()),
                Description="handoff events tail (temporary; deleted when the command exits)",
            )["RuleArn"]
            self.rule_created = True
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                    }
                ],
            }
            self.sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
            self.events.put_targets(
                Rule=self.name, EventBusName=self.bus_name, Targets=[{"Id": "tail", "Arn": queue_arn}]
            )
        except BaseException:
            self.close()
            raise
        return self

    def open(self) -> BusTail:
        """Create the rule and the queue (what ``with`` does); ``close`` removes them."""
        return self.__enter__()

    def poll(self, wait_seconds: int = 1) -> list[dict[str, Any]]:
        """Events delivered since the last poll (each deleted from the queue once read)."""
        assert self.queue_url is not None
        answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        found: list[dict[str, Any]] = []
        for message in answer.get("Messages") or []:
            try:
                event = json.loads(message["Body"])
            except ValueError:
                event = {"unparsed": message["Body"]}
            found.append(event if isinstance(event, dict) else {"unparsed": event})
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def follow(self, idle_timeout: float | None = None, wait_seconds: int = 1) -> Iterator[dict[str, Any]]:
        """Events as they arrive; stops after ``idle_timeout`` seconds without one (never, when None)."""
        last = time.monotonic()
        while idle_timeout is None or time.monotonic() - last < idle_timeout:
            batch = self.poll(wait_seconds)
            if batch:
                last = time.monotonic()
            elif wait_seconds == 0:
                time.sleep(0.2)
            yield from batch

    def close(self) -> None:
        if self.rule_created:
            try:
                self.events.remove_targets(Rule=self.name, EventBusName=self.bus_name, Ids=["tail"])
            finally:
                self.events.delete_rule(Name=self.name, EventBusName=self.bus_name)
                self.rule_created = False
        if self.queue_url is not None:
            self.sqs.delete_queue(QueueUrl=self.queue_url)
            self.queue_url = None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def render(event: dict[str, Any]) -> str:
    problem = validation_error(event)
    contract = event.get("source") == SOURCE and event.get("detail-type") in DETAIL_TYPES
    mark = "schema ok" if contract and problem is None else (f"SCHEMA MISMATCH: {problem}" if problem else "no schema")
    head = f"{event.get('time', '-')}  {event.get('source', '-')}  {event.get('detail-type', '-')}  ({mark})"
    return head + "\n" + json.dumps(event.get("detail", event), indent=2, sort_keys=True)


@events_app.command("tail")
def tail(
    detail_type: Annotated[
        list[str] | None, typer.Option("--type", "-t", help="Only this detail type (repeatable).")
    ] = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    count: Annotated[int | None, typer.Option("--count", min=1, help="Exit after this many events.")] = None,
    idle: Annotated[
        float | None, typer.Option("--idle", min=0, help="Exit after this many seconds without an event.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One event per line, as received.")] = False,
) -> None:
    """Print events as they pass on the Handoff bus (Ctrl-C to stop); the temporary rule and queue are removed."""
    from handoff_dev.cli_ops import _deployment, _guard

    for name in detail_type or []:
        if not name.startswith("planyo."):
            _known_type(name)
    with _guard(as_json):
        deployment = _deployment(endpoint_url, profile, region, stack)
        bus = deployment.event_bus_name
        with BusTail(deployment.client("events"), deployment.client("sqs"), bus, detail_type) as tailer:
            if not as_json:
                err_console.print(f"tailing {bus} ({', '.join(detail_type or ['every event'])}); Ctrl-C to stop")
            seen = 0
            try:
                for event in tailer.follow(idle_timeout=idle, wait_seconds=0 if endpoint_url else 10):
                    typer.echo(json.dumps(event, sort_keys=True) if as_json else render(event))
                    seen += 1
                    if count is not None and seen >= count:
                        break
            except KeyboardInterrupt:
                pass


# --- the demo's view ----------------------------------------------------------------------------


def signal_tail(stack: Any) -> BusTail:
    """A tail of the lifecycle signals on an embedded stack's bus (the demo opens it before posting)."""
    return BusTail(stack.client("events"), stack.client("sqs"), stack.physical("EventBus"), ["call.lifecycle_signal"])


def _signal_part(detail: dict[str, Any]) -> str:
    part = detail.get(str(detail.get("signal"))) or {}
    return ", ".join(f"{k}={v}" for k, v in sorted(part.items()) if v is not None)


def signals_table(console: Console, tail: BusTail) -> int:
    """Print the lifecycle signals the calls produced; the number printed."""
    from rich.table import Table

    table = Table(title="Lifecycle signals on the bus (call.lifecycle_signal, what marketing receives)")
    for column in ("call id", "signal", "customer record", "what", "consent", "schema"):
        table.add_column(column)
    for event in tail.follow(idle_timeout=1.0, wait_seconds=0):
        detail = event.get("detail") or {}
        customer = detail.get("customer") or {}
        consent = detail.get("consent")
        table.add_row(
            str(detail.get("call_id")),
            str(detail.get("signal")),
            f"{customer.get('tool')} {customer.get('kind')} {customer.get('record_id')}",
            _signal_part(detail),
            "-" if consent is None else str(consent).lower(),
            "ok" if validation_error(event) is None else "MISMATCH",
        )
    console.print(table)
    return table.row_count
