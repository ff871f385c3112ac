"""Score candidate records against the caller and rank them, with the evidence for each.

The tiers follow issue 4: an exact id that also agrees with the caller's phone
or e-mail is strong; an id alone, or e-mail and phone together, medium; a
single weak signal (phone only, a fuzzy name) weak. On top of the per-record
score, two result-level checks protect against acting on the wrong person:
*conflicting identity* (the caller's e-mail leads to one customer and their
phone or id to another) and *close candidates* (two different customers score
within a small margin) both make the match AMBIGUOUS. Each failed lookup lowers
the overall confidence, because the missing tool may hold a better or a
conflicting record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz

from handoff.match.identity import CallerIdentity
from handoff.match.normalise import id_match_key, name_key
from handoff.models import Candidate, Evidence, LookupReport, MatchResult, MatchStatus

if TYPE_CHECKING:
    from handoff.match.sources import SourceRecord

Signal = Literal["id", "email", "phone", "name_exact", "name_fuzzy"]


@dataclass(frozen=True)
class ScoringConfig:
    """The numbers behind the tiers, in one place so a change is a reviewed diff."""

    id_and_contact: float = 0.95
    id_and_both_contacts: float = 0.98
    id_only: float = 0.70
    email_and_phone: float = 0.75
    email_only: float = 0.55
    phone_only: float = 0.35
    name_exact_only: float = 0.25
    name_fuzzy_only: float = 0.15
    name_bonus: float = 0.02
    contradiction_factor: float = 0.5
    """Applied when the record's e-mail differs from the caller's and the e-mail did not match."""
    strong_threshold: float = 0.85
    ambiguity_margin: float = 0.15
    ambiguous_cap: float = 0.5
    failed_lookup_penalty: float = 0.10
    name_exact_score: float = 95.0
    name_fuzzy_score: float = 80.0


@dataclass
class _Scored:
    record: SourceRecord
    candidate: Candidate
    signals: set[Signal]
    anchors: set[tuple[str, str]]
    """The caller's email/phone/id values this record agrees with (what "identifies" it)."""


def _ev(call_field: str, record_field: str, value: str, strength: Literal["strong", "medium", "weak"]) -> Evidence:
    return Evidence(call_field=call_field, record_field=record_field, value=value, strength=strength)


def _evidence_for(
    identity: CallerIdentity, record: SourceRecord, config: ScoringConfig
) -> tuple[list[Evidence], set[Signal], set[tuple[str, str]]]:
    prefix = f"{record.tool.value}.{record.kind.value}"
    evidence: list[Evidence] = []
    signals: set[Signal] = set()
    anchors: set[tuple[str, str]] = set()
    id_evidence: set[int] = set()

    record_ids = {id_match_key(ref.kind, ref.value): ref for ref in record.ids}
    for said in identity.ids:
        ref = record_ids.get(id_match_key(said.kind, said.value))
        if ref is not None:
            signals.add("id")
            id_evidence.add(len(evidence))
            anchors.add(("id", id_match_key(said.kind, said.value)))
            evidence.append(
                Evidence(
                    call_field=said.source,
                    record_field=f"{prefix}.{ref.field or ref.kind.value}",
                    value=ref.value,
                    strength="medium",
                )
            )
    for observed in identity.emails:
        if observed.value in record.emails:
            signals.add("email")
            anchors.add(("email", observed.value))
            evidence.append(_ev(observed.source, f"{prefix}.email", observed.value, "medium"))
    for observed in identity.phones:
        if observed.value in record.phones:
            signals.add("phone")
            anchors.add(("phone", observed.value))
            evidence.append(_ev(observed.source, f"{prefix}.phone", observed.value, "weak"))
    best_name: tuple[float, str, str] | None = None
    for observed in identity.names:
        for name in record.names:
            score = float(fuzz.token_sort_ratio(name_key(observed.value), name_key(name)))
            if best_name is None or score > best_name[0]:
                best_name = (score, observed.source, name)
    if best_name is not None and best_name[0] >= config.name_fuzzy_score:
        exact = best_name[0] >= config.name_exact_score
        signals.add("name_exact" if exact else "name_fuzzy")
        label = "name" if exact else f"name (fuzzy {best_name[0]:.0f}%)"
        evidence.append(
            Evidence(call_field=best_name[1], record_field=f"{prefix}.{label}", value=best_name[2], strength="weak")
        )
    if "id" in signals and signals & {"email", "phone"}:
        # An id corroborated by the caller's e-mail or phone is the strong signal.
        evidence = [
            e.model_copy(update={"strength": "strong"}) if i in id_evidence else e for i, e in enumerate(evidence)
        ]
    return evidence, signals, anchors


def _base_score(signals: set[Signal], config: ScoringConfig) -> float:
    has_id = "id" in signals
    contacts = signals & {"email", "phone"}
    if has_id and len(contacts) == 2:
        score = config.id_and_both_contacts
    elif has_id and contacts:
        score = config.id_and_contact
    elif has_id:
        score = config.id_only
    elif len(contacts) == 2:
        score = config.email_and_phone
    elif "email" in contacts:
        score = config.email_only
    elif "phone" in contacts:
        score = config.phone_only
    elif "name_exact" in signals:
        return config.name_exact_only
    elif "name_fuzzy" in signals:
        return config.name_fuzzy_only
    else:
        return 0.0
    if "name_exact" in signals:
        score += config.name_bonus
    return min(score, 0.99)


def score_record(
    identity: CallerIdentity, record: SourceRecord, config: ScoringConfig | None = None
) -> Candidate | None:
    """The candidate for one record, or None when nothing about it agrees with the caller."""
    scored = _score(identity, record, config or ScoringConfig())
    return scored.candidate if scored else None


def _score(identity: CallerIdentity, record: SourceRecord, config: ScoringConfig) -> _Scored | None:
    evidence, signals, anchors = _evidence_for(identity, record, config)
    confidence = _base_score(signals, config)
    if confidence <= 0.0:
        return None
    caller_emails = {o.value for o in identity.emails}
    if "email" not in signals and caller_emails and record.emails:
        confidence *= config.contradiction_factor  # the record belongs to someone with another e-mail
    candidate = Candidate(
        tool=record.tool,
        kind=record.kind,
        record_id=record.record_id,
        display=record.display,
        record_url=record.record_url,
        confidence=round(confidence, 4),
        evidence=evidence,
        attributes=dict(record.attributes),
    )
    return _Scored(record=record, candidate=candidate, signals=signals, anchors=anchors)


def _same_party(a: SourceRecord, b: SourceRecord, config: ScoringConfig) -> bool:
    """Whether two records belong to the same customer (e-mails decide, then phones, then names)."""
    if a.emails and b.emails:
        return bool(set(a.emails) & set(b.emails))
    if a.phones and b.phones:
        return bool(set(a.phones) & set(b.phones))
    return any(
        fuzz.token_sort_ratio(name_key(x), name_key(y)) >= config.name_exact_score for x in a.names for y in b.names
    )


def _parties(scored: list[_Scored], config: ScoringConfig) -> list[list[_Scored]]:
    """Group candidates into customers (connected components of ``_same_party``)."""
    parent = list(range(len(scored)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(scored)):
        for j in range(i + 1, len(scored)):
            if _same_party(scored[i].record, scored[j].record, config):
                parent[find(i)] = find(j)
    groups: dict[int, list[_Scored]] = {}
    for i, item in enumerate(scored):
        groups.setdefault(find(i), []).append(item)
    return sorted(groups.values(), key=lambda g: -max(s.candidate.confidence for s in g))


def _label(party: list[_Scored]) -> str:
    best = max(party, key=lambda s: s.candidate.confidence).candidate
    return f"{best.tool.value} {best.kind.value} {best.record_id}" + (f" ({best.display})" if best.display else "")


def score_records(
    identity: CallerIdentity,
    records: Sequence[SourceRecord],
    lookups: Sequence[LookupReport],
    config: ScoringConfig | None = None,
) -> MatchResult:
    """Rank every record that agrees with the caller; decide strong, weak, ambiguous or none."""
    config = config or ScoringConfig()
    unique: dict[tuple[str, str, str], SourceRecord] = {}
    for record in records:
        unique.setdefault(record.key, record)
    scored = [s for r in unique.values() if (s := _score(identity, r, config)) is not None]
    scored.sort(key=lambda s: (-s.candidate.confidence, s.candidate.tool.value, s.candidate.record_id))
    notes: list[str] = []
    failed = [report for report in lookups if not report.ok]
    for report in failed:
        notes.append(f"lookup in {report.tool.value} failed ({report.error}); confidence lowered")
    identity_dump = identity.model_dump(mode="json")
    if not identity.has_identifying_data:
        notes.append("no phone, e-mail or id to look the caller up by")
    if not scored:
        return MatchResult(status=MatchStatus.NONE, lookups=list(lookups), identity=identity_dump, notes=notes)

    confidence = max(0.0, scored[0].candidate.confidence - config.failed_lookup_penalty * len(failed))
    status = MatchStatus.STRONG if confidence >= config.strong_threshold else MatchStatus.WEAK

    parties = _parties(scored, config)
    anchored = [p for p in parties if any(s.anchors for s in p)]
    anchors = [set().union(*(s.anchors for s in p)) for p in anchored]
    for i in range(len(anchored)):
        for j in range(i + 1, len(anchored)):
            if anchors[i] - anchors[j] and anchors[j] - anchors[i]:
                status = MatchStatus.AMBIGUOUS
                only_i = ", ".join(sorted(k for k, _ in anchors[i] - anchors[j]))
                only_j = ", ".join(sorted(k for k, _ in anchors[j] - anchors[i]))
                notes.append(
                    f"conflicting identity: caller's {only_i} points to {_label(anchored[i])}, "
                    f"caller's {only_j} points to {_label(anchored[j])}"
                )
    if len(parties) >= 2:
        first = max(s.candidate.confidence for s in parties[0])
        second = max(s.candidate.confidence for s in parties[1])
        if first - second < config.ambiguity_margin:
            status = MatchStatus.AMBIGUOUS
            notes.append(
                f"close candidates: {_label(parties[0])} at {first:.2f} and {_label(parties[1])} at {second:.2f}"
            )
    if status is MatchStatus.AMBIGUOUS:
        confidence = min(confidence, config.ambiguous_cap)
    return MatchResult(
        status=status,
        confidence=round(confidence, 4),
        candidates=[s.candidate for s in scored],
        lookups=list(lookups),
        identity=identity_dump,
        notes=notes,
    )
