"""The executions of one call: the original and each redrive, named so they can be found without listing.

Used by the review service (to read how a closed review ended) and the
dead-letter ops (to plan a redrive).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from handoff.ingest.envelope import execution_name
from handoff.ingest.envelope import redrive_execution_name as _redrive_name

REDRIVE_MARK = "-redrive-"
EXECUTION_NAME_MAX = 80


def redrive_execution_name(base: str, attempt: int) -> str:
    """``<base>-redrive-<n>``, hashed when longer than 80 characters (injective: see ingest.envelope)."""
    return _redrive_name(base, attempt)


def execution_arn(machine_arn: str, name: str) -> str:
    return f"{machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def call_execution_arns(sfn: Any, machine_arn: str, call_id: str, limit: int = 100) -> list[str]:
    """Every execution of a call that exists: the original, then each redrive in order."""
    base = execution_name(call_id)
    found: list[str] = []
    for attempt in range(limit + 1):
        name = base if attempt == 0 else redrive_execution_name(base, attempt)
        arn = execution_arn(machine_arn, name)
        try:
            sfn.describe_execution(executionArn=arn)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            if attempt > 0:  # the original may be missing (a test started a redrive by hand)
                break
            continue
        found.append(arn)
    return found
