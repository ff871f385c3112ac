"""The ingest service as deployed: the call store, the starter and the signing secrets.

Built once per warm Lambda. The secrets come from Secrets Manager through the
Powertools parameters cache (60 s); a signature mismatch may force one refetch
(a rotation), at most every 30 s so a flood of bad signatures cannot turn into
a flood of Secrets Manager calls.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from handoff.config import per_environment, settings
from handoff.ingest.service import IngestAnswer, IngestService, StepFunctionsStarter
from handoff.problem import problem
from handoff.redact import register_secret

SECRET_CACHE_SECONDS = 60
FORCED_REFETCH_INTERVAL = 30.0
_last_forced = 0.0
_service: IngestService | None = None


def webhook_secrets(force: bool) -> list[str]:
    """Current and previous signing secrets; a forced refetch at most every 30 s."""
    from aws_lambda_powertools.utilities import parameters

    global _last_forced
    now = time.monotonic()
    if force and now - _last_forced < FORCED_REFETCH_INTERVAL:
        force = False
    if force:
        _last_forced = now
    value = parameters.get_secret(
        settings().webhook_secret_id, transform="json", max_age=SECRET_CACHE_SECONDS, force_fetch=force
    )
    secrets = [str(value.get(k) or "") for k in ("current", "previous")] if isinstance(value, dict) else []
    for secret in secrets:
        register_secret(secret)
    return secrets


def _build() -> IngestService:
    from handoff.runtime import call_store

    cfg = settings()
    return IngestService(
        store=call_store(),
        starter=StepFunctionsStarter(cfg.state_machine_arn),
        secrets=webhook_secrets,
        analysis_grace_seconds=cfg.analysis_grace_seconds,
        review_timeout_seconds=cfg.review_timeout_seconds,
    )


_deployed = per_environment(_build)


def service() -> IngestService:
    """The deployment's ingest service (built once per environment), or the one ``use`` put in its place."""
    return _service or _deployed()


def use(replacement: IngestService | None) -> None:
    """Run ingest on another service (benchmarks with in-memory AWS); None goes back to the default."""
    global _service
    _service = replacement


def answer_webhook(raw: bytes | None, headers: Mapping[str, str]) -> IngestAnswer:
    """One DialNexa delivery; ``raw`` is None when the body was not valid base64 (a 400, nothing recorded)."""
    if raw is None:
        return IngestAnswer(400, problem(400, "malformed webhook", "body is not valid base64").body())
    return service().handle(raw, headers)


def sweep(context: Any) -> tuple[dict[str, Any], dict[str, int]]:
    """The scheduled sweep within the invocation's remaining time: (answer, metric counts)."""
    report = service().sweep(time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    answer = {"started": report.started, "never_ended": report.closed, "left": report.left}
    counts = {"SweepStarted": len(report.started), "SweepNeverEnded": len(report.closed), "SweepLeft": report.left}
    return answer, counts


def is_schedule(event: dict[str, object]) -> bool:
    """The scheduled sweep's EventBridge event, as opposed to an HTTP request."""
    return event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event"
