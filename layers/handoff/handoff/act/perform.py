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

from handoff.act.operations import CALLS_PER_OPERATION, OPERATIONS, ActionInput, Performed
from handoff.act.params import retarget, spec_for, validate_params
from handoff.connectors.errors import AuthError, ConnectorError, RateLimitedError, RejectedInputError, RetryableError
from handoff.connectors.http import RETRY_AFTER_CAP_SECONDS, HttpClient, RetryPolicy
from handoff.idempotency import once
from handoff.models import Action, ActionResult, ActionStatus, ReviewOutcome, Tool
from handoff.runtime import ConnectorLookup, ConnectorPool

__all__ = ["ActionsFailed", "ConnectorPool", "Ledger", "apply_review", "perform_all"]

logger = Logger(child=True)

IDEMPOTENCY_KEY_PREFIX = "handoff.act.v1"
IDEMPOTENCY_WINDOW_SECONDS = 30 * 24 * 3600  # longer than the dead-letter queue keeps a call (14 days)

_POLICY = RetryPolicy()
CALL_WORST_SECONDS = (
    _POLICY.attempts * (HttpClient.connect_timeout + HttpClient.read_timeout)
    + (_POLICY.attempts - 1) * RETRY_AFTER_CAP_SECONDS
)
"""One partner call at its worst: every attempt times out (connect + read), waits between capped at Retry-After's."""
DEFAULT_CALLS_PER_OPERATION = 3
BUDGET_MARGIN_SECONDS = 5.0
"""Kept for recording the results on the call and answering Step Functions."""


def worst_case_seconds(action: Action, connector: Any = None) -> float:
    """How long one action can take at most, from its connector's timeouts and retries (defaults otherwise).

    Act never starts an action it cannot finish before the invocation's deadline.
    """
    settings = getattr(connector, "settings", None)
    options = getattr(connector, "options", None)
    policy = getattr(options, "retry", None) or _POLICY
    connect = float(getattr(settings, "connect_timeout", HttpClient.connect_timeout))
    read_timeout: Any = getattr(options, "read_timeout", None) or getattr(settings, "read_timeout", None)
    read = max(
        float(read_timeout or HttpClient.read_timeout),
        float(getattr(settings, "process_timeout", 0) or 0),  # OCR Web Service waits for the conversion
    )
    per_call = policy.attempts * (connect + read) + (policy.attempts - 1) * RETRY_AFTER_CAP_SECONDS
    calls = CALLS_PER_OPERATION.get((action.tool, action.operation), DEFAULT_CALLS_PER_OPERATION)
    return calls * per_call


def max_action_seconds() -> float:
    """The slowest action's worst case: ActFunction's timeout must cover it (a test reads the template)."""
    calls = max([DEFAULT_CALLS_PER_OPERATION, *CALLS_PER_OPERATION.values()])
    return calls * CALL_WORST_SECONDS + BUDGET_MARGIN_SECONDS


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
            action = retarget(action, review.record_id, validate=False)
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
    rate_limited = 0
    permanent: list[str] = []

    @once(
        f"{IDEMPOTENCY_KEY_PREFIX}.memo",
        identity="memo_identity",
        window_seconds=IDEMPOTENCY_WINDOW_SECONDS,
        table_name=ledger.table_name,
        lambda_context=ledger.lambda_context,
    )
    def remember_once(memo_identity: Mapping[str, str], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """What the first attempt of an action saw (a booking's times before the move), once."""
        return compute()

    @ledger.guard()
    def perform_once(action_identity: Mapping[str, str], action: Action, connector: Any) -> dict[str, Any]:
        operation = OPERATIONS[(action.tool, action.operation)]

        def remember(name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
            return dict(remember_once(memo_identity={**action_identity, "memo": name}, compute=compute))

        inp = ActionInput(call_id=call_id, action=action, note=note, remember=remember)
        done: Performed = operation(connector, inp)
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
            if spec_for(action.tool, action.operation) is not None:
                validate_params(action)  # a missing or malformed param fails here, before the partner is called
            left = _seconds_left(ledger.lambda_context)
            if left is not None and left < worst_case_seconds(action, connector) + BUDGET_MARGIN_SECONDS:
                # Not started, so nothing half-done: the state machine's Retry runs act again with a fresh
                # budget, where performed actions replay from the ledger and this one starts.
                retryable.append(f"{action.key}: not started, {left:.0f} s left of the invocation")
                results.append(_failed(action, "not started: not enough time left in this invocation; will retry"))
                continue
            raw = perform_once(action_identity=identity(call_id, action), action=action, connector=connector)
            result = ActionResult.model_validate(raw)
            if action.key in ledger.replayed:
                result = result.model_copy(update={"status": ActionStatus.ALREADY_DONE})
            results.append(result)
        except (RetryableError, IdempotencyAlreadyInProgressError) as exc:
            if isinstance(exc, RateLimitedError):
                rate_limited += 1
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
    if retryable and rate_limited == len(retryable):
        # Only partners' rate limits stood in the way: the state machine's RateLimitedError retrier
        # waits minutes, long enough for a burst to drain, instead of the short fault retries.
        raise RateLimitedError("act", "; ".join(retryable))
    if retryable:
        # Raised as RetryableError: its class name is what the state machine's Retry matches.
        raise RetryableError("act", "; ".join(retryable))
    return results


def _seconds_left(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else None


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
