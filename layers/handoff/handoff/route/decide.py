"""Decide what happens to a call: act, review or nothing to do, with every reason.

The order of the checks is the safety argument:

1. calls that never connected (pings, hangups, no-answers) are nothing to do;
2. an unknown intent is reviewed, never acted on;
3. the facts (risk flags, sensitive categories, money, VIP, loyalty) fire the
   policy's rules (owner, urgency, forced review);
4. act needs everything at once: an intent that may act, identifying data, an
   unambiguous strong match on a record the intent may change, the fields the
   operation needs, no sensitive category and no rule asking for a human;
   anything missing turns the decision into review, and says why.

Every check that fires appends a human reason and a ``rules_fired`` id, so the
reviewer and ``handoff route explain`` show exactly why.

The decision itself is :data:`DECISION_RULES`: named rules, each a predicate on the
:class:`Situation` and the decision it makes, checked in order; the first that applies
decides. :func:`evaluate` returns which were checked (``handoff route explain`` prints
them); the facts and guards above are the :class:`Situation`'s stages, which run once,
in order, when a rule first needs them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handoff.match.identity import CallerIdentity
from handoff.match.normalise import is_empty
from handoff.models import (
    Action,
    AnalysisRef,
    CallSummary,
    Candidate,
    MatchResult,
    MatchStatus,
    Mode,
    Owner,
    RouteDecision,
    Tool,
    Urgency,
)
from handoff.route.handoff import build_handoff, describe_record, redact
from handoff.route.policy import IntentRule, OperationRef, Policy, Rule

URGENCY_ORDER = [Urgency.LOW, Urgency.NORMAL, Urgency.HIGH, Urgency.CRITICAL]
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "vip"})


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return False


def _higher(a: Urgency, b: Urgency) -> Urgency:
    return a if URGENCY_ORDER.index(a) >= URGENCY_ORDER.index(b) else b


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        cleaned = re.sub(r"[^\d.]", "", value.replace(",", ""))
        try:
            return float(cleaned) if cleaned else None
        except ValueError:
            return None
    return None


@dataclass
class Facts:
    """What the call and the match established that the rules can test."""

    intent: str | None
    raw_intent: str | None
    flags: set[str] = field(default_factory=set)
    categories: dict[str, str] = field(default_factory=dict)
    amount: float | None = None
    vip: bool = False
    loyalty: str | None = None
    buying_intent: bool = False


@dataclass
class Trail:
    """Reasons (for people) and rule ids (for tests and audit), in the order they fired."""

    reasons: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)

    def add(self, rule_id: str, reason: str) -> None:
        self.fired.append(rule_id)
        self.reasons.append(reason)


def _identified(identity: CallerIdentity, match: MatchResult) -> bool:
    """Whether the caller is identified: they gave an e-mail, id or phone, or their line matched a record.

    The caller-ID of the line alone is not identification: every call has one.
    """
    said = (
        identity.emails
        or identity.ids
        or any(any(source != "call.caller_phone" for source in phone.sources) for phone in identity.phones)
    )
    return bool(said) or bool(match.candidates)


def _owner(policy: Policy, key: str, *, escalate: bool) -> Owner:
    spec = policy.owners[key]
    return Owner(
        team=spec.team,
        slack_channel=spec.slack_channel,
        escalation_channel=spec.escalation_channel if escalate else None,
        email=spec.email,
        share_contact_details=spec.share_contact_details,
    )


def _no_contact_reason(call: CallSummary, policy: Policy) -> str | None:
    rules = policy.no_contact
    if call.event.lower() in rules.events:
        return f"event {call.event!r} is not a finished conversation"
    if call.hangup_reason and call.hangup_reason.lower() in rules.hangup_reasons:
        return f"call did not connect ({call.hangup_reason})"
    if call.status and call.status.lower() in rules.statuses:
        return f"call ended without a conversation (status {call.status})"
    return None


def _scan_text(call: CallSummary, policy: Policy) -> list[tuple[str, str]]:
    texts = [("summary", call.summary or "")]
    for key in policy.scan_fields:
        value = call.analysis.get(key)
        if isinstance(value, str):
            texts.append((f"analysis.{key}", value))
    return texts


def gather_facts(call: CallSummary, match: MatchResult, policy: Policy, intent_rule: IntentRule | None) -> Facts:
    """Flags, sensitive categories, money, VIP and loyalty, from the analysis and the best record."""
    analysis = call.analysis or {}
    intent, _ = policy.resolve_intent(analysis.get("intent"))
    facts = Facts(intent=intent, raw_intent=analysis.get("intent") if isinstance(analysis.get("intent"), str) else None)
    listed = {str(x).lower() for x in analysis.get("risk_flags") or [] if isinstance(x, str)}
    for flag, keys in policy.flags.items():
        if flag in listed or any(_truthy(analysis.get(k)) or k in listed for k in keys):
            facts.flags.add(flag)

    for name in intent_rule.categories if intent_rule else []:
        facts.categories[name] = f"intent {intent} is {name}"
    texts = _scan_text(call, policy)
    for name, category in policy.sensitive_categories.items():
        if name in facts.categories:
            continue
        for key in category.flags:
            value = analysis.get(key)
            if not is_empty(value) and value is not False and value != 0 and value != []:
                facts.categories[name] = f"analysis.{key} is set"
                break
        else:
            for where, text in texts:
                hit = next((k for k in category.keywords if re.search(rf"\b{re.escape(k)}\b", text, re.I)), None)
                if hit:
                    facts.categories[name] = f"{where} mentions {hit!r}"
                    break

    best = match.candidates[0] if match.candidates and match.status is not MatchStatus.AMBIGUOUS else None
    attributes = best.attributes if best else {}
    amounts = [
        n for k in policy.thresholds.amount_fields for n in (_number(analysis.get(k)), _number(attributes.get(k)))
    ]
    present = [n for n in amounts if n is not None]
    facts.amount = max(present) if present else None
    facts.vip = any(_truthy(analysis.get(k)) or _truthy(attributes.get(k)) for k in policy.thresholds.vip_fields)
    for key in policy.thresholds.loyalty_fields:
        value = analysis.get(key) or attributes.get(key)
        if isinstance(value, str) and value.strip():
            facts.loyalty = value.strip().lower()
            break
    facts.buying_intent = _truthy(analysis.get("buying_intent")) or _truthy(analysis.get("customer_interested"))
    return facts


def _rule_applies(rule: Rule, facts: Facts, call: CallSummary, match: MatchResult, policy: Policy, kind: str) -> bool:
    when = rule.when
    checks: list[bool] = []
    if when.intents:
        checks.append(facts.intent in when.intents)
    if when.kinds:
        checks.append(kind in when.kinds)
    if when.flags_any:
        checks.append(bool(facts.flags & set(when.flags_any)))
    if when.categories_any:
        checks.append(bool(set(facts.categories) & set(when.categories_any)))
    if when.min_amount is not None:
        checks.append(facts.amount is not None and facts.amount >= when.min_amount)
    if when.high_value is not None:
        high = facts.amount is not None and facts.amount >= policy.thresholds.high_value_amount
        checks.append(high == when.high_value)
    if when.vip is not None:
        checks.append(facts.vip == when.vip)
    if when.loyalty_in:
        checks.append(facts.loyalty in when.loyalty_in)
    if when.review_loyalty_tier is not None:
        tier = facts.loyalty in policy.thresholds.review_loyalty_tiers
        checks.append(tier == when.review_loyalty_tier)
    if when.match_status:
        checks.append(match.status in when.match_status)
    if when.directions:
        checks.append((call.direction or "").lower() in when.directions)
    return all(checks)


def _requirement_met(requirement: str, analysis: dict[str, Any]) -> bool:
    return any(not is_empty(analysis.get(key)) for key in requirement.split("|"))


def _first_present(analysis: dict[str, Any], *keys: str) -> Any:
    return next((analysis[k] for k in keys if not is_empty(analysis.get(k))), None)


def _target(match: MatchResult, rule: IntentRule) -> tuple[Candidate, list[OperationRef]] | None:
    """The highest candidate the intent may change, with the operations of its tool."""
    for candidate in match.candidates:
        if rule.record_kinds and candidate.kind not in rule.record_kinds:
            continue
        operations = [op for op in rule.operations if op.tool is candidate.tool]
        if operations:
            return candidate, operations
    return None


def _note(call: CallSummary, policy: Policy) -> str:
    """The short operational summary act writes into the tool, with the evidence links."""
    parts = [redact(call.summary) or "Updated from a DialNexa call."]
    parts.append(
        f"DialNexa call {call.call_id}: {call.call_url or policy.links.dialnexa_call.format(call_id=call.call_id)}"
    )
    if call.recording_url:
        parts.append(f"Recording: {call.recording_url}")
    return "\n".join(parts)


def build_action(
    op: OperationRef, target: Candidate | None, call: CallSummary, identity: CallerIdentity, policy: Policy, intent: str
) -> Action:
    """The parameters act needs for one operation, in Handoff's names (connectors map them)."""
    analysis = call.analysis or {}
    new_value = _first_present(analysis, "requested_date", "appointment_date", "new_date")
    reason = redact(call.summary) or intent.replace("_", " ")
    attrs = target.attributes if target else {}
    params: dict[str, Any]
    name = f"{op.tool.value}.{op.operation}"
    if name == "planyo.modify_reservation":
        params = {
            "reservation_id": target.record_id if target else None,
            "new_start": new_value,
            "old_start": attrs.get("start"),
            "old_end": attrs.get("end"),
            "reason": reason,
        }
    elif name == "bookingmood.update_contact_booking":
        params = {
            "booking_id": target.record_id if target else None,
            "contact_id": attrs.get("contact_id"),
            "field": "start",
            "old_value": attrs.get("start"),
            "new_value": new_value,
            "reason": reason,
        }
    elif name in ("planyo.set_reservation_status", "bookingmood.change_booking_status"):
        key = "reservation_id" if op.tool is Tool.PLANYO else "booking_id"
        params = {key: target.record_id if target else None, "status": "cancelled", "reason": reason}
    elif name in ("planyo.add_reservation_note", "bookingmood.add_booking_note"):
        key = "reservation_id" if op.tool is Tool.PLANYO else "booking_id"
        params = {key: target.record_id if target else None}
    elif name == "plisio.get_invoice":
        verified = [e.value for e in (target.evidence if target else []) if e.record_field.endswith(".email")]
        params = {
            "email": verified[0] if verified else None,
            "invoice_id": target.record_id if target else None,
            "invoice_number": _first_present(analysis, "invoice_number", "invoice_id"),
        }
    elif name in ("billit.create_customer", "planyo.add_user"):
        full = identity.first_name() or ""
        first, _, last = full.partition(" ")
        params = {
            "name": full or None,
            "first_name": first or None,
            "last_name": last or None,
            "email": identity.first_email(),
            "phone": identity.first_phone(),
            "search_first": True,
        }
    else:
        params = {"record_id": target.record_id if target else None}
    params["note"] = _note(call, policy)
    return Action(
        tool=op.tool,
        operation=op.operation,
        target=target.record_id if target else None,
        params=params,
        reason=f"{intent.replace('_', ' ')} requested on call {call.call_id}",
    )


class Situation:
    """One call under one policy, worked out in stages as the decision rules ask for them.

    Each stage runs once and in a fixed order (``assess`` before ``prepare``), so the
    reasons are appended in the order a reviewer reads them, whichever rule asks first.
    """

    def __init__(
        self, call: CallSummary, match: MatchResult, policy: Policy, analysis_used: AnalysisRef | None
    ) -> None:
        self.call, self.match, self.policy, self.analysis_used = call, match, policy, analysis_used
        self.trail = Trail()
        self.identity = CallerIdentity.model_validate(match.identity) if match.identity else CallerIdentity()
        self.analysis: dict[str, Any] = call.analysis or {}
        self.no_contact = _no_contact_reason(call, policy)
        self.intent, self.alias = policy.resolve_intent(self.analysis.get("intent"))
        self.facts = Facts(intent=None, raw_intent=None)
        self.urgency = policy.defaults.urgency
        self.owner = _owner(policy, policy.defaults.owner, escalate=False)
        self.review: list[str] = []
        """Why a human must decide first (``intent``, ``rules``, ``identity``, ``target``, ...)."""
        self.failed_lookups: list[str] = []
        self.actions: list[Action] = []
        self.target: Candidate | None = None
        self._assessed = self._prepared = False

    @property
    def rule(self) -> IntentRule:
        """The policy's rule for the call's intent (only asked once the intent is known)."""
        if self.intent is None:
            raise ValueError("the intent is unknown: no intent rule applies")
        return self.policy.intents[self.intent]

    def finish(
        self,
        mode: Mode,
        intent: str,
        kind: Any,
        owner: Owner,
        urgency: Urgency,
        *,
        target: Candidate | None = None,
        actions: list[Action] | None = None,
        next_step: str = "",
        notify: bool = True,
        flags: set[str] | None = None,
    ) -> RouteDecision:
        handoff = build_handoff(
            call=self.call,
            match=self.match,
            policy=self.policy,
            kind=kind,
            intent=intent,
            target=target,
            owner=owner,
            urgency=urgency,
            reasons=self.trail.reasons,
            next_step=next_step,
            flags=flags,
        )
        if self.analysis_used is not None:
            handoff.extras.setdefault("analysis", self.analysis_used.cite())
        return RouteDecision(
            mode=mode,
            intent=intent,
            actions=actions or [],
            owner=owner,
            urgency=urgency,
            reasons=self.trail.reasons,
            rules_fired=self.trail.fired,
            handoff=handoff,
            policy_version=self.policy.version,
            notify=notify,
            analysis=self.analysis_used,
        )

    def finish_intent(self, mode: Mode, *, with_actions: bool = True) -> RouteDecision:
        """The decision for a known intent, with the owner, urgency, target and actions the stages settled."""
        rule = self.rule
        return self.finish(
            mode,
            rule_intent(self),
            rule.kind,
            self.owner,
            self.urgency,
            target=self.target,
            actions=self.actions if with_actions else None,
            next_step=rule.next_step,
            flags=self.facts.flags,
        )

    def assess(self) -> Situation:
        """Facts, the policy's cross-intent rules, and the guards (identity, ambiguity, failed lookups)."""
        if self._assessed:
            return self
        self._assessed = True
        policy, match, rule, trail = self.policy, self.match, self.rule, self.trail
        intent = rule_intent(self)
        trail.add(f"intent:{intent}", f"Intent {intent}" + (f" (from alias {self.alias!r})" if self.alias else ""))
        self.facts = facts = gather_facts(self.call, match, policy, rule)
        self.urgency = rule.urgency
        owner_key = rule.owner
        owner_set_by_rule = False
        escalate = False
        forced_review: list[str] = []
        for category, why in facts.categories.items():
            trail.add(f"sensitive:{category}", f"Sensitive ({category}): {why}; a human must approve")
            forced_review.append(category)
        for cross in policy.rules:
            if not _rule_applies(cross, facts, self.call, match, policy, rule.kind):
                continue
            trail.add(f"rule:{cross.name}", cross.reason)
            if cross.urgency:
                self.urgency = _higher(self.urgency, cross.urgency)
            if cross.owner and not owner_set_by_rule:
                owner_key, owner_set_by_rule = cross.owner, True
            if cross.review:
                forced_review.append(cross.name)
            escalate = escalate or cross.escalate
        escalate = escalate or self.urgency is Urgency.CRITICAL
        self.owner = _owner(policy, owner_key, escalate=escalate)

        if rule.mode == "review":
            trail.add("intent-mode:review", f"Intent {intent} always needs a human")
            self.review.append("intent")
        if forced_review:
            self.review.append("rules")
        if not _identified(self.identity, match):
            trail.add(
                "safe-default:no-identifying-data",
                "The caller gave no name, e-mail, phone or id, and no record matched",
            )
            self.review.append("identity")
        elif match.status is MatchStatus.NONE:
            trail.add("match:none", "No record in any tool matches the caller")
        if match.status is MatchStatus.AMBIGUOUS:
            detail = "; ".join(match.notes) or "two candidates are too close"
            trail.add("safe-default:ambiguous-match", f"Ambiguous match: {detail}")
            self.review.append("ambiguous")
        self.failed_lookups = [r.tool.value for r in match.lookups if not r.ok]
        if self.failed_lookups:
            trail.add("match:lookup-failed", f"Lookup failed in {', '.join(self.failed_lookups)}; confidence lowered")
        return self

    def prepare(self) -> Situation:
        """The actions: the intent's operations on the matched record, creates for a clearly new caller."""
        if self._prepared:
            return self
        self.assess()
        self._prepared = True
        self._operations_on_the_record()
        self._creates_for_a_new_caller()
        return self

    def _operations_on_the_record(self) -> None:
        match, rule, trail, intent = self.match, self.rule, self.trail, rule_intent(self)
        call, identity, policy = self.call, self.identity, self.policy
        if rule.operations:
            found = _target(match, rule)
            if found is None or match.status is MatchStatus.AMBIGUOUS:
                if found is None:
                    kinds = ", ".join(k.value for k in rule.record_kinds) or "record"
                    trail.add("match:no-target", f"No matched {kinds} in a tool that serves {intent}")
                else:
                    # The handoff names no record (the reviewer must pick one with --record), but the
                    # actions are prepared on the best candidate so an approval has something to do.
                    proposed, operations = found
                    self.actions = [build_action(op, proposed, call, identity, policy, intent) for op in operations]
                    trail.add("review:proposed-on-best", f"Proposed on {describe_record(proposed)}; the reviewer picks")
                self.review.append("target")
                return
            # Actions are prepared on the target even when a human must approve first: they
            # are what the reviewer approves (or re-points to another candidate with
            # --record); nothing runs before that.
            self.target, operations = target, _ = found
            confidence = min(target.confidence, match.confidence)
            strong = match.status is MatchStatus.STRONG and confidence >= policy.thresholds.act_min_confidence
            if strong:
                trail.add("match:strong", f"Strong match on {describe_record(target)} ({confidence:.2f})")
            else:
                trail.add(
                    "match:below-threshold",
                    f"Match on {describe_record(target)} at {confidence:.2f} is below "
                    f"the act threshold {policy.thresholds.act_min_confidence:.2f}",
                )
                self.review.append("confidence")
            if target is not match.candidates[0]:
                trail.add(
                    "match:target-not-best",
                    f"Target is not the best candidate ({describe_record(match.candidates[0])})",
                )
            missing = [r for r in rule.requires if not _requirement_met(r, self.analysis)]
            for requirement in missing:
                trail.add("missing-field", f"The call did not establish {requirement.replace('|', ' or ')}")
                self.review.append("missing")
            actions = [build_action(op, target, call, identity, policy, intent) for op in operations]
            if any(a.operation == "get_invoice" and not a.params.get("email") for a in actions):
                trail.add("receipt:email-not-verified", "Caller's e-mail does not match the invoice; no send")
                actions = [a for a in actions if a.operation != "get_invoice"]
            self.actions = actions
        elif match.best is not None and match.status is not MatchStatus.AMBIGUOUS:
            self.target = target = match.best
            if match.status is MatchStatus.STRONG:
                trail.add("match:strong", f"Caller matched {describe_record(target)} ({match.confidence:.2f})")
            else:
                trail.add("match:weak", f"Best candidate {describe_record(target)} at {match.confidence:.2f} (weak)")

    def _creates_for_a_new_caller(self) -> None:
        match, rule, trail, identity = self.match, self.rule, self.trail, self.identity
        if not rule.new_caller_operations or self.review:
            return
        lookups_ok = bool(match.lookups) and not self.failed_lookups
        known = match.best is not None and (
            match.status is MatchStatus.STRONG or any(e.record_field.endswith(".email") for e in match.best.evidence)
        )
        if known and match.best is not None:
            trail.add("new-caller:existing", f"Caller is a known customer ({describe_record(match.best)}): no create")
        elif match.candidates:
            trail.add("new-caller:possible-existing", "A possible existing customer was found; check before creating")
            self.review.append("possible-duplicate")
        elif not lookups_ok:
            trail.add("new-caller:lookups-incomplete", "Not every tool answered: cannot tell the caller is new")
            self.review.append("lookups")
        else:
            have = {"name": identity.first_name(), "email": identity.first_email(), "phone": identity.first_phone()}
            lacking = [r for r in rule.new_caller_requires if not have[r]]
            if lacking:
                trail.add("new-caller:not-enough-context", f"New caller but no {', '.join(lacking)}: nothing created")
            else:
                trail.add("new-caller:create", "Clearly new caller with enough context: create the customer")
                intent = rule_intent(self)
                self.actions.extend(
                    build_action(op, None, self.call, identity, self.policy, intent)
                    for op in rule.new_caller_operations
                )


def rule_intent(situation: Situation) -> str:
    """The call's canonical intent, once a rule has established it is known."""
    if situation.intent is None:
        raise ValueError("the intent is unknown")
    return situation.intent


# --- the decision rules, in order: the first that applies decides ----------------------------------


def _no_contact(s: Situation) -> RouteDecision:
    policy, call = s.policy, s.call
    s.trail.add("no-contact", f"Nothing to do: {s.no_contact}")
    campaign = (call.category or "").lower() in policy.no_contact.campaign_categories
    follow_up = policy.no_contact.campaign_follow_up_owner if campaign else None
    if follow_up:
        s.trail.add(
            "no-contact:campaign-follow-up", f"Outbound campaign call: {policy.owners[follow_up].team} follows up"
        )
    owner = _owner(policy, follow_up or policy.defaults.owner, escalate=False)
    return s.finish(
        Mode.NONE,
        "no_contact",
        "follow_up" if follow_up else "general",
        owner,
        Urgency.LOW,
        next_step="Retry per the campaign schedule." if follow_up else "",
        notify=bool(follow_up),
    )


def _unknown_intent(s: Situation) -> RouteDecision:
    said = s.alias or "none"
    s.trail.add("safe-default:unknown-intent", f"Unknown intent {said!r}: a human decides")
    if not _identified(s.identity, s.match):
        s.trail.add(
            "safe-default:no-identifying-data",
            "The caller gave no name, e-mail, phone or id, and no record matched",
        )
    owner = _owner(s.policy, s.policy.defaults.unknown_intent_owner, escalate=False)
    return s.finish(
        Mode.REVIEW,
        said,
        "general",
        owner,
        s.policy.defaults.urgency,
        next_step="Read the summary and route the call by hand.",
    )


def _wants_buying_intent(s: Situation) -> bool:
    s.assess()
    return s.rule.needs_buying_intent and not s.facts.buying_intent and not s.review


def _no_buying_intent(s: Situation) -> RouteDecision:
    s.trail.add("revenue:no-buying-intent", "No buying signal: an answered question, nothing to hand off")
    rule = s.rule
    return s.finish(Mode.NONE, rule_intent(s), rule.kind, s.owner, Urgency.LOW, notify=False, flags=s.facts.flags)


def _needs_a_human(s: Situation) -> bool:
    return bool(s.prepare().review)


def _nothing_prepared(s: Situation) -> bool:
    rule = s.prepare().rule
    return rule.mode == "act" and bool(rule.operations) and not s.actions


def _nothing_to_act_on(s: Situation) -> RouteDecision:
    s.trail.add("safe-default:nothing-to-act-on", "No action could be prepared")
    return s.finish_intent(Mode.REVIEW, with_actions=False)


def _act(s: Situation) -> RouteDecision:
    what = "act" if s.actions else "hand off"
    s.trail.add(
        f"decision:{what}", "Every guard passed: " + ("acting" if s.actions else f"handing off to {s.owner.team}")
    )
    return s.finish_intent(Mode.ACT)


@dataclass(frozen=True)
class DecisionRule:
    """One named step of the decision: a predicate on the situation and the decision it makes."""

    name: str
    meaning: str
    applies: Callable[[Situation], bool]
    decides: Callable[[Situation], RouteDecision]


DECISION_RULES: tuple[DecisionRule, ...] = (
    DecisionRule(
        "no-contact",
        "the call never connected (ping, hangup, no answer): nothing to do",
        lambda s: s.no_contact is not None,
        _no_contact,
    ),
    DecisionRule(
        "unknown-intent",
        "the policy has no rule for the intent: a human decides",
        lambda s: s.intent is None,
        _unknown_intent,
    ),
    DecisionRule(
        "no-buying-intent",
        "a revenue intent without a buying signal and nothing else to check: nothing to hand off",
        _wants_buying_intent,
        _no_buying_intent,
    ),
    DecisionRule(
        "needs-review",
        "a guard, a sensitive category or a policy rule asks for a human: review with the prepared actions",
        _needs_a_human,
        lambda s: s.finish_intent(Mode.REVIEW),
    ),
    DecisionRule(
        "nothing-to-act-on",
        "the intent acts but no action could be prepared: review",
        _nothing_prepared,
        _nothing_to_act_on,
    ),
    DecisionRule("act", "every guard passed: act (or hand off when the intent has no operation)", lambda s: True, _act),
)
"""The order is the safety argument of the module docstring; ``handoff route explain`` prints it."""


@dataclass(frozen=True)
class Evaluation:
    """A decision with the decision rules checked to reach it; the last one checked decided."""

    decision: RouteDecision
    checked: tuple[str, ...]

    @property
    def decided_by(self) -> str:
        return self.checked[-1]


def evaluate(
    call: CallSummary, match: MatchResult, policy: Policy, *, analysis_used: AnalysisRef | None = None
) -> Evaluation:
    """Check the decision rules in order; the first that applies decides."""
    situation = Situation(call, match, policy, analysis_used)
    checked: list[str] = []
    for rule in DECISION_RULES:
        checked.append(rule.name)
        if rule.applies(situation):
            return Evaluation(rule.decides(situation), tuple(checked))
    raise AssertionError("the last decision rule always applies")  # pragma: no cover


def decide(
    call: CallSummary, match: MatchResult, policy: Policy, *, analysis_used: AnalysisRef | None = None
) -> RouteDecision:
    """Apply the policy (the live one from AppConfig, or a candidate file) to a call and its match.

    ``analysis_used`` (what Match read) is cited by the decision.
    """
    return evaluate(call, match, policy, analysis_used=analysis_used).decision
