"""Runtime settings, read once from the environment the template sets.

Function code reaches AWS only through boto3, which honours AWS_ENDPOINT_URL;
nothing here knows whether it runs on AWS or on the embedded stack.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


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


def environment_key() -> tuple[str, ...]:
    """What a process-wide object depends on: the AWS endpoint and region, and every HANDOFF_* variable."""
    handoff = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("HANDOFF_"))
    return (os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_REGION", ""), *handoff)


class per_environment(Generic[T]):  # noqa: N801 - used as a decorator-like factory
    """Build once per environment and reuse: a singleton on Lambda, where the environment never changes.

    One process that runs several environments in turn (the embedded stack in a
    test run, each stack on its own ports) gets a fresh object for each, never a
    client, a starter or a setting bound to a stack that is gone.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self._built: dict[tuple[str, ...], T] = {}
        self._lock = threading.Lock()

    def __call__(self) -> T:
        key = environment_key()
        with self._lock:
            if key not in self._built:
                self._built[key] = self.factory()
            return self._built[key]

    def cache_clear(self) -> None:
        """Forget what was built (the next call builds again)."""
        with self._lock:
            self._built.clear()


settings = per_environment(Settings.from_env)
"""The settings of the current environment (read once per environment)."""
