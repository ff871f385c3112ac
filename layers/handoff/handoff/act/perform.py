"""Perform a decision's actions exactly once each.

Every external write is its own idempotent unit keyed on (call id, tool,
operation, target record), recorded in DynamoDB with a conditional write
*before* the side effect by the Powertools idempotency utility (explicit key
prefix, so renaming this module does not reset it; the Lambda context is
registered, so a crashed attempt's claim expires with the invocation). On top
of that, creates search before they create and pass the call id to the
partner's own idempotency mechanism where one exists. So a Step Functions
retry, a redelivered event or a redrive returns the recorded result instead of
writing twice, and a partial failure retries only what failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from pydantic import ValidationError

from handoff.act.operations import OPERATIONS, ActionInput, Performed
from handoff.connectors.errors import AuthError, ConnectorError, RejectedInputError, RetryableError
from handoff.idempotency import once
from handoff.models import Action, ActionResult, ActionStatus, ReviewOutcome, Tool
from handoff.runtime import ConnectorLookup, ConnectorPool

__all__ = ["ActionsFailed", "ConnectorPool", "Ledger", "apply_review", "perform_all"]

logger = Logger(child=True)

IDEMPOTENCY_KEY_PREFIX = "handoff.act.v1"
IDEMPOTENCY_WINDOW_SECONDS = 30 * 24 * 3600  # longer than the dead-letter queue keeps a call (14 days)


class ActionsFailed(Exception):  # noqa: N818 - the class name is the Step Functions error name
    """At least one action failed permanently; Step Functions sends the call to the dead-letter queue."""


@dataclass
class Ledger:
    """The idempotency records for actions, in the Handoff table."""

    table_name: str
    lambda_context: Any = None
    replayed: set[str] = field(default_factory=set)

    def guard(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """The once-per-action decorator; a replayed answer marks its action key."""

        def mark_replayed(response: Any) -> None:
            if isinstance(response, dict) and "action_key" in response:
                self.replayed.add(str(response["action_key"]))

        return once(
            IDEMPOTENCY_KEY_PREFIX,
            identity="action_identity",
            window_seconds=IDEMPOTENCY_WINDOW_SECONDS,
            table_name=self.table_name,
            lambda_context=self.lambda_context,
            on_replay=mark_replayed,
        )


def identity(call_id: str, action: Action) -> dict[str, str]:
    """What makes two attempts the same action (never the note text or timestamps)."""
    return {"call_id": call_id, "tool": str(action.tool), "operation": action.operation, "target": action.target or "-"}


def apply_review(actions: list[Action], review: ReviewOutcome | None) -> tuple[list[Action], list[str]]:
    """The reviewer may pick a different record or drop actions; returns (actions, dropped keys)."""
    if review is None:
        return actions, []
    kept: list[Action] = []
    dropped: list[str] = []
    for action in actions:
        if action.key in review.drop_actions or f"{action.tool}.{action.operation}" in review.drop_actions:
            dropped.append(action.key)
            continue
        if review.record_id and action.target:
            params = dict(action.params)
            for key in ("reservation_id", "booking_id", "record_id", "invoice_id"):
                if key in params:
                    params[key] = review.record_id
            action = action.model_copy(update={"target": review.record_id, "params": params})
        kept.append(action)
    return kept, dropped


def perform_all(
    call_id: str,
    actions: list[Action],
    note: str,
    connector_for: ConnectorLookup,
    ledger: Ledger,
    dropped: list[str] | None = None,
) -> list[ActionResult]:
    """Run each action once; raise after trying all of them if any failed."""
    results: list[ActionResult] = [
        ActionResult(
            action_key=key,
            tool=Tool(key.split(":")[0]),
            operation=key.split(":")[1],
            status=ActionStatus.SKIPPED,
            detail="dropped by the reviewer",
            at=_now(),
        )
        for key in (dropped or [])
    ]
    retryable: list[str] = []
    permanent: list[str] = []

    @ledger.guard()
    def perform_once(action_identity: Mapping[str, str], action: Action, connector: Any) -> dict[str, Any]:
        operation = OPERATIONS[(action.tool, action.operation)]
        done: Performed = operation(connector, ActionInput(call_id=call_id, action=action, note=note))
        return ActionResult(
            action_key=action.key,
            tool=action.tool,
            operation=action.operation,
            status=ActionStatus.DONE if done.changed else ActionStatus.ALREADY_DONE,
            record_id=done.record_id,
            record_url=done.record_url,
            detail=done.detail,
            at=_now(),
        ).model_dump(mode="json")

    for action in actions:
        try:
            if (action.tool, action.operation) not in OPERATIONS:
                raise RejectedInputError(str(action.tool), f"act cannot perform {action.tool}.{action.operation}")
            connector = connector_for(action.tool)
            if connector is None:
                raise AuthError(str(action.tool), "tool is not configured in the partner secret")
            raw = perform_once(action_identity=identity(call_id, action), action=action, connector=connector)
            result = ActionResult.model_validate(raw)
            if action.key in ledger.replayed:
                result = result.model_copy(update={"status": ActionStatus.ALREADY_DONE})
            results.append(result)
        except (RetryableError, IdempotencyAlreadyInProgressError) as exc:
            retryable.append(f"{action.key}: {exc}")
            results.append(_failed(action, f"will retry: {exc}"))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            permanent.append(f"{action.key}: invalid input ({problems})")
            results.append(_failed(action, f"invalid input: {problems}"))
        except ConnectorError as exc:
            permanent.append(f"{action.key}: {exc}")
            results.append(_failed(action, str(exc)))
    logger.info("actions performed", extra={"call_id": call_id, "results": [(r.action_key, r.status) for r in results]})
    if permanent:
        raise ActionsFailed("; ".join(permanent + retryable))
    if retryable:
        # Raised as RetryableError: its class name is what the state machine's Retry matches.
        raise RetryableError("act", "; ".join(retryable))
    return results


def _failed(action: Action, detail: str) -> ActionResult:
    return ActionResult(
        action_key=action.key,
        tool=action.tool,
        operation=action.operation,
        status=ActionStatus.FAILED,
        detail=detail[:500],
        at=_now(),
    )


def _now() -> datetime:
    return datetime.now(UTC)
