"""``handoff policy check | show | diff | push | schema``: the routing and partner policies as live configuration.

Edit ``policy/routing.yaml`` (or ``policy/partners.yaml``), ``check`` it (every
problem with its line), ``diff`` it against the live version, ``push`` it
(check, create an AppConfig hosted version, start the deployment and follow it
until it is complete or rolled back). The same commands work on the embedded
stack (``--endpoint-url``) and on a deployment (``--profile``/``--region``,
``--stack`` to read the ids from the stack outputs). Failures exit non-zero with
a message that says what to do, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from rich.console import Console
from rich.table import Table

from handoff.route.policy import Policy
from handoff_dev import ops, policy_ops
from handoff_dev.cli_options import EndpointOption, JsonOption, ProfileOption, RegionOption, StackOption
from handoff_dev.policy_files import ROUTING_POLICY_FILE

policy_app = typer.Typer(help="The routing and partner policies: check, show, diff, push.", no_args_is_help=True)
console = Console()

FileArg = Annotated[Path, typer.Argument(help="A policy file (policy/routing.yaml or policy/partners.yaml).")]
KindOption = Annotated[
    str | None, typer.Option("--kind", help="routing or partners (default: read from the file's sections).")
]


class PolicyFailure(Exception):  # noqa: N818 - reads as what happened
    def __init__(self, message: str, hint: str = "", code: int = 1, details: Any = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code
        self.details = details


def _fail(message: str, hint: str, as_json: bool, code: int = 1, details: Any = None) -> NoReturn:
    if as_json:
        body: dict[str, Any] = {"ok": False, "error": message, "hint": hint}
        if details is not None:
            body["problems"] = details
        typer.echo(json.dumps(body, indent=2, default=str))
    else:
        # Plain text, never wrapped: `file:line: field: message` must stay on one line for editors and grep.
        typer.secho(message, fg=typer.colors.RED, err=True)
        if hint:
            typer.echo(hint, err=True)
    raise typer.Exit(code)


@contextmanager
def _guard(as_json: bool) -> Iterator[None]:
    try:
        yield
    except PolicyFailure as exc:
        _fail(str(exc), exc.hint, as_json, exc.code, exc.details)
    except LookupError as exc:
        _fail(str(exc), "deploy the current template.yaml, or pass --stack NAME / --endpoint-url", as_json)
    except NoCredentialsError:
        _fail("no AWS credentials", "pass --profile, or --endpoint-url for the embedded stack", as_json)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        _fail(f"AWS said {error.get('Code')}: {error.get('Message')}", "check --profile/--region permissions", as_json)
    except BotoCoreError as exc:
        _fail(
            f"cannot reach AWS: {exc}", "is the embedded stack running (`handoff dev`)? check --endpoint-url", as_json
        )


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFailure(f"cannot read {file}: {exc}", "pass a policy file, e.g. policy/routing.yaml", 2) from None


def _checked(file: Path, kind: str | None) -> tuple[str, Any]:
    """(kind, policy) of a valid file; PolicyFailure naming every problem with its line otherwise."""
    if kind is not None and kind not in policy_ops.KINDS:
        raise PolicyFailure(f"unknown --kind {kind!r}", "use routing or partners", 2)
    found_kind, policy, problems = policy_ops.check_text(_read(file), str(file), kind)
    if problems:
        lines = "\n".join("  " + p.render(str(file)) for p in problems)
        raise PolicyFailure(
            f"{file}: {len(problems)} problem(s) in this {found_kind} policy:\n{lines}",
            "fix them and run `handoff policy check` again; nothing was changed",
            1,
            list(policy_ops.iter_problems(problems, str(file))),
        )
    return found_kind, policy


def load_or_exit(file: Path) -> Policy:
    """A candidate routing policy for ``handoff route explain --policy``; exits with its problems if invalid."""
    with _guard(False):
        _, policy = _checked(file, "routing")
        assert isinstance(policy, Policy)
        return policy
    raise AssertionError("unreachable")  # pragma: no cover - _guard exits


def _home(
    endpoint_url: str | None, profile: str | None, region: str | None, stack: str | None
) -> policy_ops.PolicyHome:
    client = ops.aws_client("appconfig", endpoint_url, profile, region)
    outputs: dict[str, str] | None = None
    if stack:
        cfn = ops.aws_client("cloudformation", endpoint_url, profile, region)
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs") or []
        outputs = {o["OutputKey"]: o["OutputValue"] for o in found}
        if "PolicyApplicationId" not in outputs:
            raise PolicyFailure(f"stack {stack} has no policy outputs", "deploy the current template.yaml")
    return policy_ops.PolicyHome.discover(client, outputs)


@policy_app.command("check")
def check(file: FileArg, kind: KindOption = None, as_json: JsonOption = False) -> None:
    """Every problem with its line: unknown operations, owners without a channel, ranges, unreachable rules."""
    with _guard(as_json):
        found_kind, policy = _checked(file, kind)
        if as_json:
            typer.echo(json.dumps({"ok": True, "file": str(file), "kind": found_kind, "version": policy.version}))
        else:
            console.print(f"[green]{file}: valid {found_kind} policy, version {policy.version}[/green]")


@policy_app.command("show")
def show(
    kind: Annotated[str, typer.Option("--kind", help="routing, partners or all.")] = "all",
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
) -> None:
    """The live version of each policy: its version, AppConfig version, deployment and state."""
    with _guard(as_json):
        home = _home(endpoint_url, profile, region, stack)
        kinds = policy_ops.KINDS if kind == "all" else (kind,)
        rows: list[dict[str, Any]] = []
        for name in kinds:
            if name not in policy_ops.KINDS:
                raise PolicyFailure(f"unknown --kind {name!r}", "use routing, partners or all", 2)
            live = home.live(name)
            rows.append(
                {
                    "kind": name,
                    "policy_version": live.policy_version if live else None,
                    "appconfig_version": live.appconfig_version if live else None,
                    "deployment": live.deployment if live else None,
                    "state": live.state if live else "no deployment",
                    "started": live.started if live else None,
                }
            )
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table("policy", "version", "AppConfig version", "deployment", "state", "started")
        for row in rows:
            table.add_row(
                str(row["kind"]),
                str(row["policy_version"] or "-"),
                str(row["appconfig_version"] or "-"),
                str(row["deployment"] or "-"),
                str(row["state"]),
                str(row["started"] or ""),
            )
        console.print(table)
        if any(r["policy_version"] is None for r in rows):
            console.print("No live policy: calls go to review. Deploy one with `handoff policy push FILE`.")


def _live_or_empty(home: policy_ops.PolicyHome, kind: str) -> tuple[policy_ops.LiveVersion | None, dict[str, Any]]:
    live = home.live(kind)
    return live, (live.document if live else {})


def _candidate(file: Path, kind: str | None) -> tuple[str, Any, dict[str, Any]]:
    found_kind, policy = _checked(file, kind)
    document = json.loads(policy_ops.content_for(file, found_kind))
    return found_kind, policy, document


@policy_app.command("diff")
def diff(
    file: FileArg,
    kind: KindOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
) -> None:
    """What pushing FILE would change, rule by rule (owners, intents, rules, thresholds...)."""
    with _guard(as_json):
        found_kind, policy, document = _candidate(file, kind)
        live, current = _live_or_empty(_home(endpoint_url, profile, region, stack), found_kind)
        changes = policy_ops.diff(current, document)
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "kind": found_kind,
                        "live_version": live.policy_version if live else None,
                        "file_version": policy.version,
                        "changes": [c.__dict__ for c in changes],
                    },
                    indent=2,
                    default=str,
                )
            )
            return
        console.print(
            f"{found_kind} policy: live {live.policy_version if live else '(none)'} -> {file} {policy.version}",
            highlight=False,
        )
        if not changes:
            console.print("no change")
        for change in changes:
            colour = {"added": "green", "removed": "red"}.get(change.change, "yellow")
            console.print(f"[{colour}]{change.line()}[/{colour}]", highlight=False, markup=True, soft_wrap=True)


@policy_app.command("push")
def push(
    file: FileArg,
    kind: KindOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    stack: StackOption = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the deployment until it ends.")] = True,
    poll_seconds: Annotated[float, typer.Option("--poll-seconds", help="How often to ask for progress.")] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Check FILE, create a hosted version, start the deployment and follow it until complete or rolled back."""
    with _guard(as_json):
        found_kind, policy, document = _candidate(file, kind)
        home = _home(endpoint_url, profile, region, stack)
        live, current = _live_or_empty(home, found_kind)
        if live is not None and current == document:
            _done(as_json, {"ok": True, "kind": found_kind, "version": policy.version, "state": "unchanged"})
            return
        if live is not None and live.policy_version == policy.version:
            raise PolicyFailure(
                f"{file} changes the policy but keeps version {policy.version}, which is live",
                "bump `version` in the file: every decision records the version that made it",
            )
        content = policy_ops.content_for(file, found_kind)
        version = home.create_version(found_kind, content, policy.version)
        try:
            number = home.start(found_kind, version, f"{file.name} {policy.version} (handoff policy push)")
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise PolicyFailure(
                f"AppConfig refused {file} ({error.get('Code')}): {error.get('Message')}",
                "the live policy is unchanged; fix the file (`handoff policy check`) and push again",
            ) from None
        if not wait:
            _done(as_json, {"ok": True, "kind": found_kind, "version": policy.version, "deployment": number})
            return
        final = home.follow(number, _progress(as_json), poll=poll_seconds)
        result = {
            "ok": final["State"] == "COMPLETE",
            "kind": found_kind,
            "version": policy.version,
            "appconfig_version": version,
            "deployment": number,
            "state": final["State"],
        }
        if final["State"] != "COMPLETE":
            raise PolicyFailure(
                f"deployment #{number} ended {final['State']}: the previous version is live again",
                "see `handoff policy show`; the alarms that roll back are in template.yaml",
                details=result,
            )
        _done(as_json, result)


def _progress(as_json: bool) -> Any:
    last: dict[str, Any] = {}

    def report(deployment: dict[str, Any]) -> None:
        key = (deployment["State"], deployment.get("PercentageComplete"))
        if as_json or last.get("key") == key:
            return
        last["key"] = key
        percent = float(deployment.get("PercentageComplete") or 0)
        bar = "#" * int(percent // 5) + "." * (20 - int(percent // 5))
        console.print(f"deployment #{deployment['DeploymentNumber']} [{bar}] {percent:5.1f}% {deployment['State']}")

    return report


def _done(as_json: bool, result: dict[str, Any]) -> None:
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    elif result.get("state") == "unchanged":
        console.print(f"{result['kind']} policy {result['version']} is already live: nothing to push")
    else:
        console.print(
            f"[green]{result['kind']} policy {result['version']} "
            f"{'is live' if result.get('state') == 'COMPLETE' else 'deployment started'}[/green]"
        )


@policy_app.command("schema")
def schema(
    kind: Annotated[str, typer.Option("--kind", help="routing or partners.")] = "routing",
    write_template: Annotated[
        bool, typer.Option("--write-template", help="Rewrite the validators' schemas in template.yaml.")
    ] = False,
) -> None:
    """The JSON Schema of a policy (generated from the models); --write-template keeps template.yaml in sync."""
    from handoff_dev import policy_schema

    if write_template:
        path = ROUTING_POLICY_FILE.parents[1] / "template.yaml"
        changed = policy_schema.write_template(path)
        console.print(f"{path}: {'schemas rewritten' if changed else 'already in sync'}")
        return
    if kind not in policy_ops.KINDS:
        _fail(f"unknown --kind {kind!r}", "use routing or partners", False, 2)
    typer.echo(json.dumps(policy_schema.json_schema(kind), indent=2))  # type: ignore[arg-type]
