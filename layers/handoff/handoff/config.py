"""Runtime settings, read once from the environment the template sets.

Function code reaches AWS only through boto3, which honours AWS_ENDPOINT_URL;
nothing here knows whether it runs on AWS or on the embedded stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    table_name: str
    state_machine_arn: str
    webhook_secret_id: str
    analysis_grace_seconds: int
    review_timeout_seconds: int
    call_retention_days: int
    default_phone_region: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            table_name=os.environ.get("HANDOFF_TABLE", ""),
            state_machine_arn=os.environ.get("HANDOFF_STATE_MACHINE_ARN", ""),
            webhook_secret_id=os.environ.get("HANDOFF_WEBHOOK_SECRET_ID", ""),
            analysis_grace_seconds=_int("HANDOFF_ANALYSIS_GRACE_SECONDS", 30),
            review_timeout_seconds=_int("HANDOFF_REVIEW_TIMEOUT_SECONDS", 86400),
            call_retention_days=_int("HANDOFF_CALL_RETENTION_DAYS", 30),
            default_phone_region=os.environ.get("HANDOFF_DEFAULT_PHONE_REGION", "US"),
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()
