"""One error handler for every ``handoff`` command: a line that names the problem and the fix.

The root command group (``HandoffGroup``) catches whatever a command raises,
turns it into one line on stderr (and a JSON object on stdout with ``--json``)
and exits with a documented code. ``--debug`` (or ``HANDOFF_DEBUG=1``) lets the
traceback through instead. Commands added with ``app.add_typer`` get this for
free; a command that wants its own wording raises ``CliError``.

Exit codes (also in ``handoff --help`` and docs/operations.md):

====  =====================================================================
0     done
1     the operation ran and failed (a check failed, a call was not found,
      an invoked function raised)
2     bad input: usage, a missing or malformed file, an invalid URL,
      a busy port
3     conflict: someone else decided first (a review already decided)
4     cannot reach AWS or the endpoint: connection refused, timeout,
      no region, no credentials
5     this command needs the development environment (moto, SAM CLI)
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3
EXIT_UNREACHABLE = 4
EXIT_NEEDS_DEV = 5
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 done, 1 failed, 2 bad input, 3 conflict, 4 AWS/endpoint unreachable, "
    "5 needs the development environment, 130 interrupted."
)

# Modules only the development environment has (`make install`); the ops extra leaves them out.
DEV_ONLY_MODULES = ("moto", "werkzeug", "flask", "samcli", "samtranslator", "cfnlint", "pytest", "hypothesis")
# Parts of handoff_dev the `.[ops]` wheel leaves out (pyproject's wheel exclude).
DEV_ONLY_PACKAGES = ("handoff_dev.embedded", "handoff_dev.sandboxes", "handoff_dev.bench")


class CliError(Exception):
    """A failure a command explains itself: what went wrong, what to do, which exit code."""

    def __init__(self, message: str, hint: str = "", exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code


@dataclass(frozen=True)
class Failure:
    message: str
    hint: str
    exit_code: int

    def line(self) -> str:
        """One line: the problem, then the fix."""
        text = " ".join(self.message.split())
        hint = " ".join(self.hint.split())
        return f"handoff: {text}" + (f" -- {hint}" if hint else "")

    def as_json(self) -> dict[str, Any]:
        return {"ok": False, "error": " ".join(self.message.split()), "hint": self.hint, "exit_code": self.exit_code}


def _first_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first[:limit]


def describe(exc: BaseException) -> Failure:
    """What one exception means to an operator: message, fix and exit code."""
    import botocore.exceptions as boto

    if isinstance(exc, CliError):
        return Failure(str(exc), exc.hint, exc.exit_code)
    missing = ""
    if isinstance(exc, ModuleNotFoundError):
        missing = exc.name or ""
    if missing and (missing.split(".")[0] in DEV_ONLY_MODULES or missing.startswith(DEV_ONLY_PACKAGES)):
        return Failure(
            f"this command needs the development environment ({missing} is not installed)",
            "run it from a clone after `make install`; `pip install .[ops]` has the ops commands only",
            EXIT_NEEDS_DEV,
        )
    if isinstance(exc, boto.NoRegionError):
        return Failure(
            "no AWS region set",
            "pass --region (or set AWS_REGION), or --endpoint-url for the embedded stack",
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, boto.NoCredentialsError):
        return Failure(
            "no AWS credentials", "pass --profile, or --endpoint-url for the embedded stack", EXIT_UNREACHABLE
        )
    if isinstance(exc, boto.ProfileNotFound):
        return Failure(str(exc), "check --profile against ~/.aws/config", EXIT_BAD_INPUT)
    if isinstance(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError | boto.ReadTimeoutError):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        return Failure(
            f"cannot reach {endpoint or 'the AWS endpoint'} ({type(exc).__name__})",
            "is the embedded stack running (`make dev`)? check --endpoint-url, or --profile/--region",
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        hint = "check --profile/--region and the IAM permissions"
        if "NotFound" in code or "DoesNotExist" in code:
            hint = "check the name or id you passed (and --endpoint-url/--region)"
        return Failure(
            f"AWS said {code}: {error.get('Message') or ''} ({exc.operation_name})",
            hint,
            EXIT_UNREACHABLE if code in ("UnrecognizedClientException", "InvalidClientTokenId") else EXIT_FAILED,
        )
    if isinstance(exc, boto.BotoCoreError):
        return Failure(f"AWS client error: {exc}", "check --endpoint-url, --profile and --region", EXIT_UNREACHABLE)
    if isinstance(exc, ValueError) and str(exc).startswith("Invalid endpoint"):
        bad = str(exc).removeprefix("Invalid endpoint:").strip()
        return Failure(
            f"endpoint {bad!r} is not a URL", "pass a URL such as --endpoint-url http://127.0.0.1:5000", EXIT_BAD_INPUT
        )
    if isinstance(exc, json.JSONDecodeError):
        return Failure(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            "fix the file",
            EXIT_BAD_INPUT,
        )
    if type(exc).__name__ == "PolicyError":
        problems = [str(p.render(exc.source)) for p in getattr(exc, "problems", [])]  # type: ignore[attr-defined]
        shown = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        return Failure(f"invalid policy: {shown or exc}", "fix the policy file at the lines named", EXIT_BAD_INPUT)
    if isinstance(exc, FileNotFoundError):
        return Failure(f"no such file: {exc.filename or exc}", "check the path", EXIT_BAD_INPUT)
    if isinstance(exc, PermissionError):
        return Failure(f"permission denied: {exc.filename or exc}", "check the file's permissions", EXIT_BAD_INPUT)
    if isinstance(exc, OSError) and exc.errno in (98, 48):  # EADDRINUSE on Linux, macOS
        return Failure(f"address already in use: {exc}", "pick another port", EXIT_BAD_INPUT)
    if type(exc).__name__ == "ValidationError" and hasattr(exc, "errors"):
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "input"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return Failure(f"invalid {where}: {first.get('msg', exc)}{more}", "fix the input", EXIT_BAD_INPUT)
    if isinstance(exc, ValueError):
        return Failure(_first_line(str(exc)) or type(exc).__name__, "fix the input", EXIT_BAD_INPUT)
    return Failure(
        f"unexpected {type(exc).__name__}: {_first_line(str(exc))}",
        "rerun with --debug for the traceback, and report it",
        EXIT_FAILED,
    )


def debug_enabled(ctx: Any = None) -> bool:
    if os.environ.get("HANDOFF_DEBUG", "").lower() in ("1", "true", "yes"):
        return True
    return bool(ctx is not None and ctx.params.get("debug"))


def report(failure: Failure, as_json: bool) -> None:
    """The failure on stderr (one line); with --json also as an object on stdout for scripts."""
    if as_json:
        typer.echo(json.dumps(failure.as_json()))
    typer.echo(failure.line(), err=True)


class HandoffGroup(TyperGroup):
    """The root group: every subcommand runs inside its ``invoke``, so one handler covers them all."""

    def invoke(self, ctx: Any) -> Any:
        before = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", None) or []
        as_json = "--json" in [*before, *ctx.args]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # usage errors and exits keep their own handling
            raise
        except KeyboardInterrupt:
            typer.echo("handoff: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if debug_enabled(ctx):
                raise
            failure = describe(exc)
            report(failure, as_json)
            sys.stderr.flush()
            ctx.exit(failure.exit_code)
