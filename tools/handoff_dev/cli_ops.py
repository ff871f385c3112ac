"""``handoff review``, ``handoff dlq`` and ``handoff replay``: the same commands on the embedded stack and on AWS.

Every command takes ``--endpoint-url`` (env HANDOFF_ENDPOINT_URL, the embedded
stack) or ``--profile``/``--region`` (a deployment), finds the queues, bus,
table and state machine by listing them (or from CloudFormation outputs with
``--stack``), prints tables for people and ``--json`` for scripts, and exits
non-zero with a message that says what to do next.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from handoff.review.model import ReviewDecision, ReviewError
from handoff.review.service import decide
from handoff.review.store import BadPageToken, ReviewStore
from handoff.store import DynamoCallStore
from handoff_dev import ops, ops_dlq, ops_notifications, ops_replay, ops_review
from handoff_dev.cli_errors import EXIT_CONFLICT, CliError, Failure, report
from handoff_dev.cli_options import EndpointOption, JsonOption, ProfileOption, RegionOption, StackOption
from handoff_dev.tables import keep_whole

console = Console()
err_console = Console(stderr=True)

review_app = typer.Typer(help="Calls waiting for a human: list, show, approve, reject.", no_args_is_help=True)
dlq_app = typer.Typer(help="Calls on the dead-letter queue: list, show, redrive.", no_args_is_help=True)

QueueOption = Annotated[
    str,
    typer.Option(
        "--queue",
        help="calls: failed executions; notifications: outcome events EventBridge could not deliver.",
    ),
]


class OpsFailure(CliError):  # noqa: N818 - reads as what happened
    """A failure with the next step for the operator."""


# --------------------------------------------------------------------------- where things are
def pick_one(kind: str, names: list[str], contains: str, exclude: tuple[str, ...] = ()) -> str:
    """The single resource whose name contains ``contains``; a clear error for none or several."""
    found = [n for n in names if contains in n.rsplit("/", 1)[-1] and not any(x in n for x in exclude)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise OpsFailure(
            f"no {kind} found (looked for a name containing {contains!r})",
            "start the embedded stack with `handoff dev` and pass --endpoint-url, or pass --profile/--region "
            "of a deployment (or --stack NAME)",
        )
    raise OpsFailure(f"several {kind}s found: {', '.join(sorted(found))}", "pass --stack NAME to pick one deployment")


@dataclass
class Deployment:
    """One Handoff deployment: clients and its resources, discovered on first use."""

    endpoint_url: str | None = None
    profile: str | None = None
    region: str | None = None
    stack: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _outputs: dict[str, str] | None = None
    _found: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = ops.aws_client(service, self.endpoint_url, self.profile, self.region)
        return self._clients[service]

    @property
    def poll_wait_seconds(self) -> int:
        """Long polling sees every SQS server on AWS; the embedded queue answers at once."""
        return 0 if self.endpoint_url else 1

    def _output(self, key: str) -> str | None:
        if not self.stack:
            return None
        if self._outputs is None:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
            self._outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs") or []}
        value = self._outputs.get(key)
        if not value:
            raise OpsFailure(f"stack {self.stack} has no output {key}", "deploy the current template.yaml")
        return value

    def _resolve(self, key: str, discover: Callable[[], str]) -> str:
        if key not in self._found:
            self._found[key] = self._output(key) or discover()
        return self._found[key]

    def _queues(self) -> list[str]:
        urls: list[str] = []
        for page in self.client("sqs").get_paginator("list_queues").paginate():
            urls.extend(page.get("QueueUrls") or [])
        return urls

    @property
    def dead_letter_queue_url(self) -> str:
        return self._resolve(
            "DeadLetterQueueUrl",
            lambda: pick_one("dead-letter queue", self._queues(), "DeadLetterQueue", ("EventDelivery",)),
        )

    @property
    def event_delivery_queue_url(self) -> str:
        return self._resolve(
            "EventDeliveryDeadLetterQueueUrl",
            lambda: pick_one("event-delivery dead-letter queue", self._queues(), "EventDeliveryDeadLetterQueue"),
        )

    def notification_queue(self) -> ops_notifications.NotificationQueue:
        return ops_notifications.NotificationQueue(
            self.client("sqs"), self.event_delivery_queue_url, wait_seconds=self.poll_wait_seconds
        )

    @property
    def event_bus_name(self) -> str:
        def discover() -> str:
            buses = self.client("events").list_event_buses(NamePrefix="handoff-").get("EventBuses") or []
            return pick_one("Handoff event bus", [b["Name"] for b in buses], "handoff-")

        return self._resolve("EventBusName", discover)

    @property
    def table_name(self) -> str:
        def discover() -> str:
            names: list[str] = []
            for page in self.client("dynamodb").get_paginator("list_tables").paginate():
                names.extend(page.get("TableNames") or [])
            return pick_one("Handoff table", names, "HandoffTable")

        return self._resolve("TableName", discover)

    @property
    def state_machine_arn(self) -> str:
        def discover() -> str:
            try:
                return ops.state_machine_arn(self.client("stepfunctions"))
            except LookupError as exc:
                raise OpsFailure(str(exc), "pass --endpoint-url of the embedded stack or --profile/--region") from None

        return self._resolve("StateMachineArn", discover)

    def review_store(self) -> ReviewStore:
        return ReviewStore(self.table_name, self.client("dynamodb"))

    def call_store(self) -> DynamoCallStore:
        return DynamoCallStore(self.table_name, client=self.client("dynamodb"))

    def dead_letter_queue(self, hold_seconds: int = 60) -> ops_dlq.DeadLetterQueue:
        return ops_dlq.DeadLetterQueue(
            self.client("sqs"),
            self.dead_letter_queue_url,
            hold_seconds=hold_seconds,
            wait_seconds=self.poll_wait_seconds,
        )


def _fail(message: str, hint: str, as_json: bool, code: int = 1) -> NoReturn:
    report(Failure(message, hint, code), as_json)
    raise typer.Exit(code)


@contextmanager
def _guard(as_json: bool) -> Iterator[None]:
    """A review refused by the decision logic keeps its status as the exit code; the rest is the app's handler."""
    try:
        yield
    except ReviewError as exc:
        hint = {404: "see `handoff review list`", 400: "see `handoff review show CALL_ID`"}.get(exc.status, "")
        raise CliError(str(exc), hint, EXIT_CONFLICT if exc.status == 409 else 1) from None


def _deployment(endpoint_url: str | None, profile: str | None, region: str | None, stack: str | None) -> Deployment:
    return Deployment(endpoint_url=endpoint_url, profile=profile, region=region, stack=stack)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


# --------------------------------------------------------------------------- review
@review_app.command("list")
def review_list(
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 500,
    decided: Annotated[
        bool, typer.Option("--decided", help="Decisions recorded but not yet sent to Step Functions.")
    ] = False,
) -> None:
    """Calls waiting for a decision, oldest first, with age, reasons, owner and urgency (a Query, page by page)."""
    with _guard(as_json):
        store = _deployment(endpoint_url, profile, region, stack).review_store()
        status = "decided" if decided else "waiting"
        try:
            rows = [ops_review.review_row(r) for r in ops_review.review_rows(store, status, limit)]
        except BadPageToken as exc:
            raise OpsFailure(str(exc)) from None
        if as_json:
            _echo_json(rows)
            return
        table = Table(title=f"{'Decided, not yet applied' if decided else 'Waiting for review'} ({len(rows)})")
        for column in ("call id", "age", "urgency", "owner", "why a human is needed"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["call_id"], row["age"], row["urgency"], row["owner"], "\n".join(row["reasons"]))
        if not rows:
            console.print(f"nothing {'decided and waiting to be applied' if decided else 'waits for review'}")
            return
        console.print(keep_whole(table, "call id"))


@review_app.command("show")
def review_show(
    call_id: str,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
) -> None:
    """The handoff, the candidates with their evidence, the proposed actions and why a human is needed."""
    with _guard(as_json):
        deployment = _deployment(endpoint_url, profile, region, stack)
        view = ops_review.find_review(deployment.review_store(), deployment.call_store(), call_id)
        detail = ops_review.review_detail(view)
        if as_json:
            _echo_json(detail)
            return
        handoff = detail["handoff"] or {}
        console.print(f"[bold]{handoff.get('title', call_id)}[/bold]  waiting {detail['age']}")
        console.print(f"owner {detail['owner']}  urgency {detail['urgency']}  intent {detail['intent']}")
        console.print("[bold]Why a human is needed[/bold]")
        for reason in detail["why_review"]:
            console.print(f"  - {reason}")
        for label in ("caller", "asked_for", "affected_record", "next_step"):
            if handoff.get(label):
                console.print(f"{label.replace('_', ' ')}: {handoff[label]}")
        candidates = Table(title=f"Candidates (match {detail['match_status']})")
        for column in ("record id", "tool", "kind", "who/what", "confidence", "evidence"):
            candidates.add_column(column)
        for c in detail["candidates"]:
            evidence = "\n".join(f"{e['call_field']}={e['value']} ({e['strength']})" for e in c["evidence"])
            candidates.add_row(c["record_id"], c["tool"], c["kind"], c["display"], f"{c['confidence']:.2f}", evidence)
        console.print(keep_whole(candidates, "record id"))
        actions = Table(title="Proposed actions (drop with --drop KEY)")
        for column in ("key", "reason"):
            actions.add_column(column)
        for a in detail["proposed_actions"]:
            actions.add_row(a["key"], a["reason"])
        console.print(keep_whole(actions, "key"))


def _default_reviewer() -> str:
    return os.environ.get("HANDOFF_REVIEWER") or getpass.getuser()


def _decide(deployment: Deployment, call_id: str, decision: ReviewDecision, as_json: bool) -> None:
    reviewer = ops_review.cli_reviewer(deployment.client("sts"), decision.reviewer_name)
    store = deployment.review_store()
    waiting = store.get(call_id)
    result = decide(store, deployment.client("stepfunctions"), call_id, decision, reviewer)
    kept = [a for a in (waiting.actions if waiting else []) if a.key not in set(decision.drop_actions)]
    nothing_to_do = result.decision == "approve" and waiting is not None and not kept
    if as_json:
        _echo_json({"ok": True, **result.as_dict(), "actions_to_run": len(kept), "nothing_to_do": nothing_to_do})
        return
    if nothing_to_do:
        console.print(f"[green]{call_id} approved, nothing to do[/green] (no proposed action to run)")
        return
    verb = "approved" if result.decision == "approve" else "rejected"
    console.print(f"[green]{call_id} {verb}[/green]; the execution resumes: handoff executions show {call_id}")


@review_app.command("approve")
def review_approve(
    call_id: str,
    record: Annotated[str | None, typer.Option("--record", help="Act on this candidate record instead.")] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="Drop a proposed action (its key); repeatable.")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Note for the owner and the record.")] = "",
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", help="Your name to show (who decides is your AWS identity).")
    ] = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve: the execution resumes and acts, with your edits."""
    with _guard(as_json):
        decision = _validated(
            {
                "decision": "approve",
                "reviewer_name": reviewer or _default_reviewer(),
                "note": note,
                "record_id": record,
                "drop_actions": drop or [],
            }
        )
        _decide(_deployment(endpoint_url, profile, region, stack), call_id, decision, as_json)


@review_app.command("reject")
def review_reject(
    call_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why not; recorded and sent to the owner.")],
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", help="Your name to show (who decides is your AWS identity).")
    ] = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject: the call ends cleanly with your reason, and the owner is told."""
    with _guard(as_json):
        decision = _validated(
            {"decision": "reject", "reviewer_name": reviewer or _default_reviewer(), "reason": reason}
        )
        _decide(_deployment(endpoint_url, profile, region, stack), call_id, decision, as_json)


def _validated(body: dict[str, Any]) -> ReviewDecision:
    from pydantic import ValidationError

    try:
        return ReviewDecision.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise OpsFailure(f"invalid decision: {problems}", "see `handoff review approve --help`") from None


# --------------------------------------------------------------------------- dead letters
@dlq_app.command("list")
def dlq_list(
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
    queue_name: QueueOption = "calls",
) -> None:
    """Calls on the dead-letter queue (or failed notifications with --queue notifications), oldest first."""
    _check_queue(queue_name, as_json)
    with _guard(as_json):
        deployment = _deployment(endpoint_url, profile, region, stack)
        if queue_name == "notifications":
            _list_notifications(deployment, as_json)
            return
        queue = deployment.dead_letter_queue()
        rows = [d.summary() for d in queue.peek()]
        if as_json:
            _echo_json(rows)
            return
        if not rows:
            console.print("no dead letters: every call finished or is still running")
            return
        table = Table(title=f"Dead letters ({len(rows)})")
        for column in ("call id", "failed state", "error", "cause", "failed at"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["call_id"], row["failed_state"], row["error"], row["cause"][:120], row["failed_at"] or "")
        console.print(keep_whole(table, "call id"))
        console.print("redrive: handoff dlq redrive CALL_ID (or --all)")


QUEUES = ("calls", "notifications")


def _check_queue(queue_name: str, as_json: bool) -> None:
    if queue_name not in QUEUES:
        _fail(f"no queue {queue_name!r}", f"--queue is one of: {', '.join(QUEUES)}", as_json, 2)


def _list_notifications(deployment: Deployment, as_json: bool) -> None:
    rows = [d.summary() for d in deployment.notification_queue().peek()]
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        console.print("no failed notifications: every outcome event reached its target")
        return
    table = Table(title=f"Failed notifications ({len(rows)})")
    for column in ("call id", "event", "target", "error", "failed at"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["call_id"], row["detail_type"], row["target"], row["error"][:160], row["failed_at"] or "")
    console.print(keep_whole(table, "call id"))
    console.print("redrive: handoff dlq redrive --queue notifications CALL_ID (or --all)")


def _redrive_notifications(deployment: Deployment, call_id: str | None, as_json: bool) -> None:
    results = ops_notifications.redrive_deliveries(
        deployment.client("lambda"), deployment.notification_queue(), call_id
    )
    if not results:
        raise OpsFailure(
            f"no failed notification{' for call ' + call_id if call_id else 's'}",
            "see `handoff dlq list --queue notifications`",
        )
    failed = [r for r in results if not r.ok]
    if as_json:
        _echo_json({"redriven": len(results) - len(failed), "results": [r.as_dict() for r in results]})
    else:
        table = Table(title="Notification redrive")
        for column in ("call id", "event", "target", "result"):
            table.add_column(column, overflow="fold")
        for r in results:
            table.add_row(
                r.call_id, r.detail_type, r.target, "[green]delivered[/green]" if r.ok else f"[red]{r.message}[/red]"
            )
        console.print(keep_whole(table, "call id"))
        console.print(f"{len(results) - len(failed)} delivered, {len(failed)} not")
    if failed:
        raise typer.Exit(1)


@dlq_app.command("show")
def dlq_show(
    call_id: str,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
) -> None:
    """One dead letter: the failing state, the error and the state document it failed with."""
    with _guard(as_json):
        queue = _deployment(endpoint_url, profile, region, stack).dead_letter_queue()
        held = queue.hold(call_id)
        queue.release([d.receipt_handle for d in held])
        if not held:
            raise OpsFailure(f"no dead letter for call {call_id}", "see `handoff dlq list`")
        dead = held[0]
        if as_json:
            _echo_json({**dead.summary(), "error_detail": dead.error, "state": dead.state, "copies": len(held)})
            return
        summary = dead.summary()
        for key in ("call_id", "failed_state", "error", "cause", "failed_at", "execution_arn"):
            console.print(f"[bold]{key.replace('_', ' ')}[/bold]: {summary[key]}")
        console.print_json(json.dumps(dead.state, default=str))


@dlq_app.command("redrive")
def dlq_redrive(
    call_id: Annotated[str | None, typer.Argument(help="The call to redrive.")] = None,
    redrive_all: Annotated[bool, typer.Option("--all", help="Redrive every call on the queue.")] = False,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
    queue_name: QueueOption = "calls",
) -> None:
    """Run a dead-lettered call again from the state that failed (or deliver failed notifications again)."""
    _check_queue(queue_name, as_json)
    if bool(call_id) == redrive_all:
        _fail("name one CALL_ID or pass --all", "see `handoff dlq list`", as_json, 2)
    with _guard(as_json):
        deployment = _deployment(endpoint_url, profile, region, stack)
        if queue_name == "notifications":
            _redrive_notifications(deployment, call_id, as_json)
            return
        redriver = ops_dlq.Redriver(
            deployment.client("stepfunctions"),
            deployment.dead_letter_queue(hold_seconds=300 if redrive_all else 60),
            deployment.state_machine_arn,
            table=(deployment.client("dynamodb"), deployment.table_name),
        )
        if call_id:
            try:
                results = [redriver.redrive(call_id)]
            except ops_dlq.NoDeadLetter as exc:
                raise OpsFailure(str(exc), "nothing to redrive") from None
        else:
            results = _redrive_all_with_progress(redriver, as_json)
        _report_redrives(results, as_json, single=call_id is not None)


def _redrive_all_with_progress(redriver: ops_dlq.Redriver, as_json: bool) -> list[ops_dlq.RedriveResult]:
    with Progress(
        TextColumn("redrive"), BarColumn(), MofNCompleteColumn(), console=err_console, disable=as_json
    ) as progress:
        task = progress.add_task("redrive", total=None)

        def advance(result: ops_dlq.RedriveResult, total: int) -> None:
            progress.update(task, total=total, advance=1)

        return redriver.redrive_all(advance)


def _report_redrives(results: list[ops_dlq.RedriveResult], as_json: bool, single: bool) -> None:
    failed = [r for r in results if not r.ok]
    if as_json:
        payload: Any = (
            results[0].as_dict()
            if single
            else {
                "redriven": sum(r.ok for r in results),
                "refused": sum(r.how == "refused" for r in results),
                "errors": sum(r.how == "error" for r in results),
                "results": [r.as_dict() for r in results],
            }
        )
        _echo_json(payload)
    else:
        table = Table(title="Redrive")
        for column in ("call id", "result", "execution / reason"):
            table.add_column(column)
        for r in results:
            label = f"[green]{r.how}[/green]" if r.ok else f"[red]{r.how}[/red]"
            table.add_row(r.call_id, label, r.execution_arn.rsplit(":", 1)[-1] if r.ok else r.message)
        console.print(keep_whole(table, "call id", "execution / reason"))
        console.print(f"{len(results) - len(failed)} redriven, {len(failed)} not")
    if failed:
        if not as_json:
            err_console.print("[red]some calls were not redriven[/red]; see the reasons above, then retry")
        raise typer.Exit(1)


# --------------------------------------------------------------------------- replay
def replay(
    files: Annotated[list[Path] | None, typer.Argument(help="Webhook bodies to sign and post.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Archive replay window start (ISO 8601).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Archive replay window end (ISO 8601).")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Endpoint to post webhook files to.")] = None,
    secret_env: Annotated[
        str, typer.Option("--secret-env", help="Environment variable holding the signing secret.")
    ] = "HANDOFF_WEBHOOK_SECRET",  # noqa: S107 - the name of a variable, not a secret
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for an archive replay to finish.")] = True,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay a window of the event archive onto the bus (--from/--to), or sign and post webhook FILEs to --url."""
    if files and (start or end):
        _fail("give either FILEs or --from/--to, not both", "see `handoff replay --help`", as_json, 2)
    if files:
        _replay_files(files, url, secret_env, as_json)
        return
    if not (start and end):
        _fail("nothing to replay", "pass --from ISO --to ISO (archive), or FILE... --url URL (webhooks)", as_json, 2)
    with _guard(as_json):
        try:
            begin, finish = ops_replay.parse_window(start, end)
        except ValueError as exc:
            raise OpsFailure(str(exc), "times look like 2025-06-12T09:00:00Z") from None
        deployment = _deployment(endpoint_url, profile, region, stack)
        events = deployment.client("events")
        try:
            started = ops_replay.start_replay(events, deployment.event_bus_name, begin, finish)
        except LookupError as exc:
            raise OpsFailure(str(exc), "deploy the template's EventArchive") from None
        if wait:
            started = ops_replay.wait_replay(events, started)
        if as_json:
            _echo_json({"ok": started.state != "FAILED", **started.as_dict()})
        else:
            sent = started.events_sent
            count = f"{sent} event{'s' if sent != 1 else ''} sent" if sent is not None else "count not reported by AWS"
            typer.echo(f"replay {started.name}: {started.state}, {count} ({begin.isoformat()} .. {finish.isoformat()})")
        if started.state == "FAILED":
            raise OpsFailure(f"replay failed: {started.reason}", "check the archive and the window")


def _replay_files(files: list[Path], url: str | None, secret_env: str, as_json: bool) -> None:
    if not url:
        _fail(
            "--url is required to post webhook files", "e.g. --url http://127.0.0.1:3000/webhooks/dialnexa", as_json, 2
        )
    secret = os.environ.get(secret_env, "")
    if not secret:
        _fail(f"environment variable {secret_env} is empty", f"export {secret_env}=<the webhook secret>", as_json, 2)
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        _fail(f"no such file: {', '.join(missing)}", "pass existing webhook body files", as_json, 2)
    posted = ops_replay.post_files(files, url, secret)
    if as_json:
        _echo_json([p.as_dict() for p in posted])
    else:
        table = Table(title=f"Posted to {url}")
        for column in ("file", "HTTP", "ack", "answer"):
            table.add_column(column)
        for p in posted:
            status = f"[green]{p.status}[/green]" if p.ok else f"[red]{p.status}[/red]"
            table.add_row(p.path, status, f"{p.ack_ms:.0f} ms", p.body[:80])
        console.print(keep_whole(table, "file"))
    if not all(p.ok for p in posted):
        if not as_json:
            err_console.print("[red]some bodies were not accepted[/red]; check the secret and the endpoint")
        raise typer.Exit(1)
