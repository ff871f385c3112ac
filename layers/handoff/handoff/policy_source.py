"""The live routing and partner policies: hosted in AWS AppConfig, read through Powertools.

The policies are configuration, not code: the template creates an AppConfig
application, one environment and two configuration profiles (``routing`` and
``partners``), and ``handoff policy push`` deploys a checked file to them. Every
function that decides with a policy reads it here, through Powertools' AppConfig
provider with a short cache (``HANDOFF_POLICY_MAX_AGE`` seconds, 60 by default),
and validates it with the same pydantic models that check a file.

Safe when broken: when the live policy cannot be read (AppConfig unreachable, no
deployment yet, content this code cannot validate) the caller gets
``PolicyUnavailable`` with the reason, a ``PolicyUnavailable`` metric is emitted
(an alarm in the template watches it), route sends the call to review and
notify falls back to the default channel named by the template parameter
``DefaultNotifyChannel`` (``HANDOFF_DEFAULT_CHANNEL``). No packaged copy of the
policy exists in the layer on purpose: a stale copy would act on rules nobody
deployed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger

from handoff.models import HandoffDocument, Mode, Owner, RouteDecision, Urgency
from handoff.route.policy import Policy, PolicyError, parse_policy

if TYPE_CHECKING:
    from handoff.partners.reservation_events import PartnerPolicy

logger = Logger(child=True)

APPLICATION_ENV = "HANDOFF_POLICY_APPLICATION"
ENVIRONMENT_ENV = "HANDOFF_POLICY_ENVIRONMENT"
ROUTING_PROFILE_ENV = "HANDOFF_ROUTING_POLICY_PROFILE"
PARTNER_PROFILE_ENV = "HANDOFF_PARTNER_POLICY_PROFILE"
MAX_AGE_ENV = "HANDOFF_POLICY_MAX_AGE"
DEFAULT_CHANNEL_ENV = "HANDOFF_DEFAULT_CHANNEL"
DEFAULT_MAX_AGE_SECONDS = 60
UNAVAILABLE_VERSION = "unavailable"
FALLBACK_TEAM = "Handoff operators (policy unavailable)"
METRIC_NAME = "PolicyUnavailable"


class PolicyUnavailable(RuntimeError):  # noqa: N818 - reads as what happened
    """The live policy could not be read or validated; ``reason`` says why."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind} policy unavailable: {reason}")
        self.kind = kind
        self.reason = reason


PolicyT = TypeVar("PolicyT")


@dataclass(frozen=True)
class _Parsed:
    digest: str
    policy: Any


_parsed: dict[str, _Parsed] = {}


def _fetch(kind: str, profile_env: str) -> bytes:
    """The deployed content of one profile (Powertools caches it for the max age)."""
    from aws_lambda_powertools.utilities import parameters

    application = os.environ.get(APPLICATION_ENV, "")
    environment = os.environ.get(ENVIRONMENT_ENV, "")
    profile = os.environ.get(profile_env, "")
    if not (application and environment and profile):
        raise PolicyUnavailable(kind, f"not configured ({APPLICATION_ENV}, {ENVIRONMENT_ENV}, {profile_env} unset)")
    max_age = int(os.environ.get(MAX_AGE_ENV) or DEFAULT_MAX_AGE_SECONDS)
    try:
        raw = parameters.get_app_config(name=profile, environment=environment, application=application, max_age=max_age)
    except Exception as exc:
        _forget_session(profile)
        raise PolicyUnavailable(kind, f"cannot read it from AppConfig: {_short(exc)}") from exc
    if isinstance(raw, str):
        raw = raw.encode()
    if not raw:
        raise PolicyUnavailable(kind, "AppConfig has no deployed version (run `handoff policy push`)")
    return bytes(raw)


def _forget_session(profile: str) -> None:
    """Start a fresh AppConfig session next time: Powertools keeps a poll token that may be dead now."""
    from aws_lambda_powertools.utilities.parameters import base

    provider = base.DEFAULT_PROVIDERS.get("appconfig")  # type: ignore[attr-defined]
    tokens = getattr(provider, "_next_token", None)
    if isinstance(tokens, dict):
        tokens.pop(profile, None)


def _short(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return f"{type(cause).__name__}: {cause}"[:300]


def _load(kind: str, profile_env: str, parse: Callable[[str, str], PolicyT]) -> PolicyT:
    raw = _fetch(kind, profile_env)
    digest = hashlib.sha256(raw).hexdigest()
    cached = _parsed.get(kind)
    if cached is not None and cached.digest == digest:
        policy: PolicyT = cached.policy
        return policy
    try:
        policy = parse(raw.decode("utf-8"), f"AppConfig {kind}")
    except (PolicyError, UnicodeDecodeError) as exc:
        raise PolicyUnavailable(kind, f"the deployed version does not validate: {str(exc)[:500]}") from exc
    _parsed[kind] = _Parsed(digest, policy)
    logger.info("policy loaded", extra={"policy": kind, "policy_version": getattr(policy, "version", "")})
    return policy


def routing_policy() -> Policy:
    """The live routing policy; ``PolicyUnavailable`` when it cannot be read."""
    return _load("routing", ROUTING_PROFILE_ENV, parse_policy)


def partner_policy() -> PartnerPolicy:
    """The live partner policy; ``PolicyUnavailable`` when it cannot be read."""
    from handoff.partners.reservation_events import parse_partner_policy

    return _load("partners", PARTNER_PROFILE_ENV, parse_partner_policy)


def default_channel() -> str | None:
    """The channel named in the template for when no policy can say who to tell."""
    return os.environ.get(DEFAULT_CHANNEL_ENV, "").strip() or None


def fallback_owner() -> Owner:
    """Who is told when the policy cannot name an owner: the default channel, escalation there too."""
    channel = default_channel()
    return Owner(team=FALLBACK_TEAM, slack_channel=channel, escalation_channel=channel)


def record_unavailable(error: PolicyUnavailable) -> None:
    """Log and count it: the ``PolicyUnavailable`` metric has an alarm in the template."""
    logger.error("policy unavailable", extra={"policy": error.kind, "reason": error.reason})
    try:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(name=METRIC_NAME, unit=MetricUnit.Count, value=1) as metric:
            metric.add_metadata(key="policy", value=error.kind)
    except Exception:
        logger.exception("could not emit the PolicyUnavailable metric")


def review_without_policy(call_id: str, summary: str | None, error: PolicyUnavailable) -> RouteDecision:
    """The decision when the routing policy cannot be read: a human decides, nothing is done."""
    owner = fallback_owner()
    reason = f"Routing policy unavailable ({error.reason}): a human decides"
    document = HandoffDocument(
        kind="general",
        title=f"Call {call_id} could not be routed: the routing policy is unavailable",
        asked_for=summary or "",
        reason=reason,
        urgency=Urgency.HIGH,
        owner=owner.team,
        next_step="Route this call by hand, then restore the policy (`handoff policy show`, `handoff policy push`).",
    )
    return RouteDecision(
        mode=Mode.REVIEW,
        intent="unknown",
        owner=owner,
        urgency=Urgency.HIGH,
        reasons=[reason],
        rules_fired=["safe-default:policy-unavailable"],
        handoff=document,
        policy_version=UNAVAILABLE_VERSION,
    )


# --- AppConfig's Lambda validator ---------------------------------------------------------------
PROFILE_KINDS = ("routing", "partners")


def parse_kind(kind: str, text: str, source: str) -> Any:
    """Validate policy text of ``kind`` (``routing`` or ``partners``); ``PolicyError`` lists every problem."""
    if kind == "routing":
        return parse_policy(text, source)
    if kind == "partners":
        from handoff.partners.reservation_events import parse_partner_policy

        return parse_partner_policy(text, source)
    raise ValueError(f"unknown policy profile {kind!r} (known: {', '.join(PROFILE_KINDS)})")


def validate_version(event: dict[str, Any]) -> dict[str, Any]:
    """One AppConfig validation event -> the version it holds; raises (refusing it) when invalid.

    The event carries the application and profile ids and the content in base64
    (docs.aws.amazon.com/appconfig/latest/userguide/appconfig-creating-configuration-and-profile-validators.html);
    the profile's name (``routing`` or ``partners``) says which model applies.
    """
    import base64

    from handoff import aws

    profile = aws.client("appconfig").get_configuration_profile(
        ApplicationId=event["applicationId"], ConfigurationProfileId=event["configurationProfileId"]
    )
    kind = str(profile["Name"])
    text = base64.b64decode(event["content"]).decode("utf-8")
    policy = parse_kind(kind, text, f"{kind} version {event.get('configurationVersion', '?')}")
    logger.info("policy version valid", extra={"policy": kind, "policy_version": policy.version})
    return {"valid": True, "policy": kind, "policy_version": policy.version}
