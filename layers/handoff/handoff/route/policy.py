"""The routing policy: a versioned YAML file, validated with pydantic when it is loaded.

A policy says which tool and operation serve each intent, who owns it and how
urgent it is, the thresholds (match confidence, money, VIP and loyalty), the
sensitive categories that always need a human, and what happens to calls that
never connected. A bad policy must fail ``make test`` and deploy with a message
a person can act on, so every problem is reported with the file, the line and
the field (``policy.yaml:42: intents.refund.owner: unknown owner 'finanse'``):
pydantic error locations are mapped to lines through the YAML node marks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue

from handoff.act.params import OPERATION_PARAMS
from handoff.models import MatchStatus, RecordKind, Tool, Urgency

OPERATIONS: dict[Tool, frozenset[str]] = {
    tool: frozenset(op for (t, op) in OPERATION_PARAMS if t is tool) for tool in Tool
}
"""The operations act knows how to perform, per tool: a policy may only name these."""

HandoffKind = Literal[
    "revenue", "follow_up", "field_visit", "triage", "exception", "billing", "booking_change", "general"
]
IntentMode = Literal["act", "review", "notify", "none"]
"""``act``: perform the operations when every guard passes; ``review``: always ask a human;
``notify``: no tool change, hand the call to its owner; ``none``: nothing to do."""


class PolicyModel(BaseModel):
    """Strict: an unknown key in the policy is a typo, and typos must fail loudly."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class OperationRef(PolicyModel):
    """``planyo.modify_reservation`` in the file."""

    tool: Tool
    operation: str

    @model_validator(mode="before")
    @classmethod
    def _from_dotted(cls, data: Any) -> Any:
        if isinstance(data, str):
            tool, sep, operation = data.partition(".")
            if not sep:
                raise ValueError(f"operation {data!r} must be written tool.operation")
            return {"tool": tool, "operation": operation}
        return data

    @model_validator(mode="after")
    def _known(self) -> OperationRef:
        if not OPERATIONS[self.tool]:
            performs = ", ".join(sorted(t.value for t, ops in OPERATIONS.items() if ops))
            raise ValueError(
                f"act performs no operation in {self.tool.value} ({self} cannot be an action; "
                f"tools act can change: {performs})"
            )
        if self.operation not in OPERATIONS[self.tool]:
            known = ", ".join(sorted(OPERATIONS[self.tool]))
            raise ValueError(f"unknown operation {self.operation!r} for {self.tool.value} (known: {known})")
        return self

    def __str__(self) -> str:
        return f"{self.tool.value}.{self.operation}"

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The file writes ``tool.operation``; the schema (AppConfig's validator) must accept it too."""
        return {
            "anyOf": [
                {"type": "string", "pattern": r"^[a-z]+\.[a-z_]+$", "examples": ["planyo.modify_reservation"]},
                handler(core_schema),
            ]
        }


class OwnerSpec(PolicyModel):
    team: str = Field(min_length=1)
    slack_channel: str | None = Field(default=None, pattern=r"^#[a-z0-9._-]+$")
    escalation_channel: str | None = Field(default=None, pattern=r"^#[a-z0-9._-]+$")
    email: str | None = None
    share_contact_details: bool = False
    """Whether this team's notifications may carry the caller's e-mail and phone (it calls back)."""
    approvers: list[str] = Field(default_factory=list)
    """Who may decide this team's reviews from Slack: user ids (``U…``/``W…``) or user group ids (``S…``)."""

    @field_validator("approvers")
    @classmethod
    def _slack_ids(cls, approvers: list[str]) -> list[str]:
        for approver in approvers:
            if not re.fullmatch(r"[UWS][A-Z0-9]{2,}", approver):
                raise ValueError(f"approver {approver!r} is not a Slack user id (U…, W…) or user group id (S…)")
        return approvers


class SensitiveCategory(PolicyModel):
    """Requests that change money, access, legal terms or commitments: always a human."""

    description: str
    keywords: list[str] = Field(default_factory=list)
    """Phrases looked for (whole words, any case) in the summary and the scanned analysis fields."""
    flags: list[str] = Field(default_factory=list)
    """Analysis keys whose truthy value puts the call in this category."""

    @field_validator("keywords")
    @classmethod
    def _phrases(cls, keywords: list[str]) -> list[str]:
        for phrase in keywords:
            if not phrase.strip():
                raise ValueError("empty keyword")
        return [k.strip().lower() for k in keywords]


class IntentRule(PolicyModel):
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    kind: HandoffKind
    mode: IntentMode
    owner: str
    urgency: Urgency = Urgency.NORMAL
    categories: list[str] = Field(default_factory=list)
    """Sensitive categories this intent always belongs to."""
    record_kinds: list[RecordKind] = Field(default_factory=list)
    """Kinds of matched record the operations may change; empty means any."""
    operations: list[OperationRef] = Field(default_factory=list)
    """Operations on the matched record: the ones of the tool that holds it are chosen."""
    new_caller_operations: list[OperationRef] = Field(default_factory=list)
    """Create operations run only for a clearly new caller (every lookup answered, nobody found)."""
    new_caller_requires: list[str] = Field(default_factory=lambda: ["name", "email"])
    requires: list[str] = Field(default_factory=list)
    """Analysis fields that must be present to act; ``a|b`` means either."""
    needs_buying_intent: bool = False
    """Without a buying signal the call is noise for this intent: nothing to do."""
    next_step: str = ""


class RuleCondition(PolicyModel):
    """Every given condition must hold (AND); a list matches if any of its items does (OR)."""

    intents: list[str] = Field(default_factory=list)
    kinds: list[HandoffKind] = Field(default_factory=list)
    flags_any: list[str] = Field(default_factory=list)
    categories_any: list[str] = Field(default_factory=list)
    min_amount: float | None = Field(default=None, ge=0)
    high_value: bool | None = None
    """Money at stake at or above ``thresholds.high_value_amount``."""
    vip: bool | None = None
    loyalty_in: list[str] = Field(default_factory=list)
    review_loyalty_tier: bool | None = None
    """The customer's loyalty tier is one of ``thresholds.review_loyalty_tiers``."""
    match_status: list[MatchStatus] = Field(default_factory=list)
    directions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> RuleCondition:
        if not self.model_fields_set:
            raise ValueError("a rule needs at least one condition")
        return self


class Rule(PolicyModel):
    """An urgency / owner / review rule that applies across intents.

    Every matching rule fires; urgency takes the highest, review applies if any
    rule asks for it, and the first rule that names an owner wins (so rules are
    listed most specific first).
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    when: RuleCondition
    review: bool = False
    urgency: Urgency | None = None
    owner: str | None = None
    escalate: bool = False
    reason: str = Field(min_length=1)


class Thresholds(PolicyModel):
    act_min_confidence: float = Field(ge=0.0, le=1.0)
    high_value_amount: float = Field(gt=0)
    amount_fields: list[str] = Field(default_factory=list)
    """Analysis keys and record attributes read as money at stake (largest wins)."""
    vip_fields: list[str] = Field(default_factory=list)
    loyalty_fields: list[str] = Field(default_factory=list)
    review_loyalty_tiers: list[str] = Field(default_factory=list)


class NoContact(PolicyModel):
    """Pings, hangups and no-answers: nothing to do, optionally a follow-up owner for campaigns."""

    events: list[str] = Field(default_factory=list)
    statuses: list[str] = Field(default_factory=list)
    hangup_reasons: list[str] = Field(default_factory=list)
    campaign_categories: list[str] = Field(default_factory=list)
    campaign_follow_up_owner: str | None = None


class Defaults(PolicyModel):
    owner: str
    urgency: Urgency = Urgency.NORMAL
    unknown_intent_owner: str


class Links(PolicyModel):
    transcript: str = Field(description="Template with {call_id}")
    dialnexa_call: str = Field(description="Template with {call_id}")

    @field_validator("transcript", "dialnexa_call")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(call_id="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"template may only use {{call_id}}: {exc}") from exc
        return value


class SignalRule(PolicyModel):
    """The intents that produce one kind of lifecycle signal."""

    intents: list[str] = Field(default_factory=list)
    allow_categories: list[str] = Field(default_factory=list)
    """Sensitive categories that do not stop this signal (a return is about a refund by nature)."""


class Signals(PolicyModel):
    """Safe lifecycle signals for marketing (``call.lifecycle_signal``, handoff/events/signals.py).

    Never for a call without a matched record, a billing intent or dispute, or one
    routed as sensitive (a category the signal does not allow, a flag below).
    """

    product_interest: SignalRule = Field(default_factory=SignalRule)
    return_outcome: SignalRule = Field(default_factory=SignalRule)
    follow_up_need: SignalRule = Field(default_factory=SignalRule)
    min_interest: Literal["weak", "moderate", "strong"] = "moderate"
    never_with_flags: list[str] = Field(default_factory=list)
    consent_fields: list[str] = Field(default_factory=list)
    """Analysis fields read as the caller's marketing consent (UNCONFIRMED: DialNexa documents none;
    a business adds one as a post-call analysis field)."""


class Policy(PolicyModel):
    version: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}(\.\d+)?$")
    defaults: Defaults
    owners: dict[str, OwnerSpec]
    thresholds: Thresholds
    flags: dict[str, list[str]] = Field(default_factory=dict)
    """Risk flag name -> analysis keys that raise it (``fraud_concern: [fraud_concern, fraud]``)."""
    scan_fields: list[str] = Field(default_factory=list)
    """Analysis fields read for sensitive keywords, besides the call summary."""
    sensitive_categories: dict[str, SensitiveCategory]
    intents: dict[str, IntentRule]
    rules: list[Rule] = Field(default_factory=list)
    no_contact: NoContact
    links: Links
    signals: Signals = Field(default_factory=Signals)

    def resolve_intent(self, raw: object) -> tuple[str | None, str | None]:
        """(canonical intent, alias used) for the analysis intent; (None, cleaned) when unknown."""
        if not isinstance(raw, str) or not raw.strip():
            return None, None
        cleaned = re.sub(r"[\s-]+", "_", raw.strip().lower())
        if cleaned in self.intents:
            return cleaned, None
        for name, rule in self.intents.items():
            if cleaned in rule.aliases:
                return name, cleaned
        return None, cleaned


# --- loading with line numbers ------------------------------------------------------------------

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy file, where it is."""

    line: int | None
    field: str
    message: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.field or '<root>'}: {self.message}"


class PolicyError(ValueError):
    """The policy file is invalid; the message names every problem with its line and field."""

    def __init__(self, source: str, problems: list[PolicyProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("invalid policy:\n" + "\n".join("  " + p.render(source) for p in problems))


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], problems: list[PolicyProblem]) -> None:
    """Record the line of every mapping value and sequence item; report duplicate keys."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(PolicyProblem(key_node.start_mark.line + 1, _dotted((*loc, key)), "duplicate key"))
            seen.add(key)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*loc, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*loc, index)] = item.start_mark.line + 1
            _walk(item, (*loc, index), lines, problems)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _clean_loc(loc: tuple[Any, ...]) -> Loc:
    """Drop pydantic's internal location parts (validator and union tags) that are not in the file."""
    return tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "[")))


def _missing_params(name: str, rule: IntentRule) -> Iterator[tuple[Loc, str]]:
    """Operations whose required parameters the intent does not make the call establish (``act.params``)."""
    required = [set(r.split("|")) for r in rule.requires]
    for section, refs in (("operations", rule.operations), ("new_caller_operations", rule.new_caller_operations)):
        for index, ref in enumerate(refs):
            spec = OPERATION_PARAMS[(ref.tool, ref.operation)]
            for param, keys in spec.from_analysis.items():
                if not any(alternatives <= set(keys) for alternatives in required):
                    yield (
                        ("intents", name, section, index),
                        f"{ref} needs {param}: add requires: [{'|'.join(keys)}] (or a subset) to intent {name!r}",
                    )
            for detail in spec.from_caller:
                if section == "operations" or detail not in rule.new_caller_requires:
                    yield (
                        ("intents", name, section, index),
                        f"{ref} needs the caller's {detail}: list it in new_caller_requires (new callers only)",
                    )


def _cross_references(policy: Policy) -> Iterator[tuple[Loc, str]]:
    """References between sections: owners, categories and flags that must exist; aliases that must be unique."""
    owners = set(policy.owners)
    categories = set(policy.sensitive_categories)
    flags = set(policy.flags)
    for field_name in ("owner", "unknown_intent_owner"):
        if getattr(policy.defaults, field_name) not in owners:
            yield ("defaults", field_name), f"unknown owner {getattr(policy.defaults, field_name)!r}"
    if policy.no_contact.campaign_follow_up_owner and policy.no_contact.campaign_follow_up_owner not in owners:
        yield ("no_contact", "campaign_follow_up_owner"), "unknown owner"
    seen_alias: dict[str, str] = {}
    for name, rule in policy.intents.items():
        if not re.fullmatch(r"[a-z0-9_]+", name):
            yield ("intents", name), "intent names are lower_snake_case"
        if rule.owner not in owners:
            yield ("intents", name, "owner"), f"unknown owner {rule.owner!r} (owners: {', '.join(sorted(owners))})"
        for index, category in enumerate(rule.categories):
            if category not in categories:
                yield ("intents", name, "categories", index), f"unknown sensitive category {category!r}"
        for index, alias in enumerate(rule.aliases):
            if alias in policy.intents and alias != name:
                yield ("intents", name, "aliases", index), f"alias {alias!r} is also an intent name"
            elif alias in seen_alias:
                yield ("intents", name, "aliases", index), f"alias {alias!r} already belongs to {seen_alias[alias]!r}"
            seen_alias[alias] = name
        for index, requirement in enumerate(rule.new_caller_requires):
            if requirement not in ("name", "email", "phone"):
                yield ("intents", name, "new_caller_requires", index), "must be name, email or phone"
        yield from _missing_params(name, rule)
    for index, rule_item in enumerate(policy.rules):
        if rule_item.owner and rule_item.owner not in owners:
            yield ("rules", index, "owner"), f"unknown owner {rule_item.owner!r}"
        for j, intent in enumerate(rule_item.when.intents):
            if intent not in policy.intents:
                yield ("rules", index, "when", "intents", j), f"unknown intent {intent!r}"
        for j, category in enumerate(rule_item.when.categories_any):
            if category not in categories:
                yield ("rules", index, "when", "categories_any", j), f"unknown sensitive category {category!r}"
        for j, flag in enumerate(rule_item.when.flags_any):
            if flag not in flags:
                yield (
                    ("rules", index, "when", "flags_any", j),
                    f"unknown flag {flag!r} (flags: {', '.join(sorted(flags))})",
                )
    yield from _signal_references(policy, categories, flags)
    names = [r.name for r in policy.rules]
    for index, name in enumerate(names):
        if names.index(name) != index:
            yield ("rules", index, "name"), f"duplicate rule name {name!r}"
    for key, spec in policy.owners.items():
        if not spec.slack_channel:
            yield ("owners", key), f"owner {key!r} has no slack_channel: nobody would be told"
    yield from _unreachable_rules(policy)


def _unreachable_rules(policy: Policy) -> Iterator[tuple[Loc, str]]:
    """Rules that can never fire, or that can never change a decision when they do."""
    seen: list[Rule] = []
    for index, rule in enumerate(policy.rules):
        when = rule.when
        where: Loc = ("rules", index, "when")
        if when.intents and when.kinds:
            kinds = {policy.intents[i].kind for i in when.intents if i in policy.intents}
            if kinds and not kinds & set(when.kinds):
                yield where, f"unreachable: none of the intents {when.intents} is of the kinds {when.kinds}"
        high = policy.thresholds.high_value_amount
        if when.min_amount is not None and when.high_value is False and when.min_amount >= high:
            yield (
                (*where, "min_amount"),
                f"unreachable: min_amount {when.min_amount:g} is at or above high_value_amount {high:g}, "
                "but the rule asks for high_value: false",
            )
        tiers = set(policy.thresholds.review_loyalty_tiers)
        if when.loyalty_in and when.review_loyalty_tier is not None:
            inside = {t.lower() for t in when.loyalty_in} & {t.lower() for t in tiers}
            if when.review_loyalty_tier and not inside:
                yield where, "unreachable: loyalty_in names no tier of thresholds.review_loyalty_tiers"
            if not when.review_loyalty_tier and inside == {t.lower() for t in when.loyalty_in}:
                yield where, "unreachable: every loyalty_in tier is a review tier, but review_loyalty_tier is false"
        if not (rule.review or rule.urgency or rule.owner or rule.escalate):
            yield ("rules", index), "does nothing: set review, urgency, owner or escalate"
        for earlier in seen:
            only_owner = rule.owner and not (rule.review or rule.escalate or rule.urgency)
            if only_owner and earlier.when == when and earlier.owner:
                yield (
                    ("rules", index, "owner"),
                    f"unreachable: rule {earlier.name!r} has the same conditions and names its owner first",
                )
        seen.append(rule)


def _signal_references(policy: Policy, categories: set[str], flags: set[str]) -> Iterator[tuple[Loc, str]]:
    """Signals name known intents, categories and flags, and never a billing intent or dispute."""
    for kind in ("product_interest", "return_outcome", "follow_up_need"):
        rule: SignalRule = getattr(policy.signals, kind)
        for j, intent in enumerate(rule.intents):
            intent_rule = policy.intents.get(intent)
            if intent_rule is None:
                yield ("signals", kind, "intents", j), f"unknown intent {intent!r}"
            elif intent_rule.kind == "billing" or "dispute" in intent_rule.categories:
                yield ("signals", kind, "intents", j), f"{intent!r} is billing: it never produces a signal"
        for j, category in enumerate(rule.allow_categories):
            if category not in categories:
                yield ("signals", kind, "allow_categories", j), f"unknown sensitive category {category!r}"
            elif category in ("dispute", "payment_details", "tax"):
                yield ("signals", kind, "allow_categories", j), f"{category!r} calls never produce a signal"
    for j, flag in enumerate(policy.signals.never_with_flags):
        if flag not in flags:
            yield ("signals", "never_with_flags", j), f"unknown flag {flag!r}"


def parse_policy(text: str, source: str = "policy.yaml") -> Policy:
    """Validate policy text; raise ``PolicyError`` naming the line and field of every problem."""
    return parse_validated(text, source, Policy, _cross_references)


ModelT = TypeVar("ModelT", bound=BaseModel)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when present: a policy is parsed on every new version, and fast matters."""


def parse_validated(
    text: str,
    source: str,
    model: type[ModelT],
    cross_references: Callable[[ModelT], Iterable[tuple[Loc, str]]],
) -> ModelT:
    """YAML text -> a validated ``model``; every problem (syntax, unknown key, type, reference) with its line.

    Shared by every policy file Handoff loads, so they all fail the same way.
    """
    try:
        root = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506  # nosec B506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(source, [PolicyProblem(line, "", f"YAML syntax: {exc.problem or exc}")]) from exc
    if root is None or not isinstance(data, dict):
        raise PolicyError(source, [PolicyProblem(1, "", "the policy must be a YAML mapping")])
    lines: dict[Loc, int] = {}
    problems: list[PolicyProblem] = []
    _walk(root, (), lines, problems)
    if problems:
        raise PolicyError(source, problems)
    try:
        policy = model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = _clean_loc(error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(PolicyProblem(_line_for(loc, lines), _dotted(loc), message))
        raise PolicyError(source, problems) from None
    for loc, message in cross_references(policy):
        problems.append(PolicyProblem(_line_for(loc, lines), _dotted(loc), message))
    if problems:
        raise PolicyError(source, problems)
    return policy


def load_policy(path: Path | str) -> Policy:
    """Load and validate a policy file (``policy/routing.yaml`` in the repo, or a candidate)."""
    file = Path(path)
    return parse_policy(file.read_text(encoding="utf-8"), source=file.name)
