"""Where candidate records come from, and asking every tool at once within a time budget.

A ``RecordSource`` is the small typed interface match needs from a tool: given
the caller's identity, the records that may be theirs, in Handoff's names
(``SourceRecord``). Adapters from the real connectors live in
``handoff.match.adapters``; tests use in-memory sources. ``match_call`` asks all
sources concurrently; a source that raises or runs out of time becomes a failed
``LookupReport`` that lowers the confidence, never a failed call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from handoff.match.identity import CallerIdentity
from handoff.match.normalise import IdKind, normalise_email, normalise_id, normalise_name, normalise_phone
from handoff.match.scoring import ScoringConfig, score_records
from handoff.models import LookupReport, MatchResult, RecordKind, Tool

DEFAULT_BUDGET_SECONDS = 3.0
"""Lookups share this budget; the match Lambda's own timeout is well above it."""


class RecordRef(BaseModel):
    """A business id held by a record, with the partner field it came from (named in evidence)."""

    model_config = ConfigDict(defer_build=True)

    kind: IdKind
    value: str
    field: str = ""

    @field_validator("value")
    @classmethod
    def _canonical(cls, value: str, info: Any) -> str:
        kind = info.data.get("kind")
        if isinstance(kind, IdKind):
            return normalise_id(value, kind) or value.strip()
        return value.strip()


class SourceRecord(BaseModel):
    """A record in a tool, in Handoff's names, as a ``RecordSource`` returns it.

    E-mails, phones and names are normalised on construction (phones in a
    national format are read in the US region; adapters for other regions
    pass E.164), so scoring compares like with like.
    """

    model_config = ConfigDict(defer_build=True)

    tool: Tool
    kind: RecordKind
    record_id: str
    display: str = ""
    record_url: str | None = None
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    ids: list[RecordRef] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    """Business facts route reads: amount, currency, status, vip, loyalty, order_value, start, end …"""

    @field_validator("emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(e for v in values if (e := normalise_email(v))))

    @field_validator("phones")
    @classmethod
    def _phones(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(p for v in values if (p := normalise_phone(v))))

    @field_validator("names")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(n for v in values if (n := normalise_name(v))))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tool.value, self.kind.value, self.record_id)


class RecordSource(Protocol):
    """One tool that may hold the caller's records."""

    @property
    def tool(self) -> Tool: ...

    def lookup(self, identity: CallerIdentity) -> list[SourceRecord]: ...


def _describe(exc: BaseException) -> str:
    """A short, secret-free description: connector errors already keep secrets out of messages."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."


def match_call(
    identity: CallerIdentity,
    sources: Sequence[RecordSource],
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    *,
    config: ScoringConfig | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> MatchResult:
    """Ask every source concurrently, within ``budget_seconds`` in total, and score what came back.

    Without anything to look a caller up by (no phone, e-mail or id), no tool is
    asked: a name alone would only produce noise. Slow lookups are abandoned,
    not awaited: their worker threads finish in the background.
    """
    config = config or ScoringConfig()
    if not identity.has_identifying_data or not sources:
        return score_records(identity, [], [], config)

    started = clock()
    pool = ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="match-lookup")
    futures: dict[Future[list[SourceRecord]], RecordSource] = {
        pool.submit(source.lookup, identity): source for source in sources
    }
    try:
        done, _ = wait(futures, timeout=budget_seconds)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)

    records: list[SourceRecord] = []
    reports: list[LookupReport] = []
    elapsed_ms = round((clock() - started) * 1000, 1)
    for future, source in futures.items():
        if future not in done:
            reports.append(
                LookupReport(
                    tool=source.tool,
                    ok=False,
                    error=f"timed out after {budget_seconds:g}s budget",
                    elapsed_ms=elapsed_ms,
                )
            )
            continue
        exc = future.exception()
        if exc is not None:
            reports.append(LookupReport(tool=source.tool, ok=False, error=_describe(exc), elapsed_ms=elapsed_ms))
            continue
        found = future.result()
        records.extend(found)
        reports.append(LookupReport(tool=source.tool, ok=True, found=len(found), elapsed_ms=elapsed_ms))
    return score_records(identity, records, reports, config)
