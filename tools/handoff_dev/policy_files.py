"""Where the policies users edit live in the repo: the top-level ``policy/`` folder.

Tools and tests read these files; deployed functions never do (they read the
live policy from AppConfig, see ``handoff.policy_source``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from handoff.partners.reservation_events import PartnerPolicy, load_partner_policy
from handoff.route.policy import Policy, load_policy

PROJECT_ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = PROJECT_ROOT / "policy"
ROUTING_POLICY_FILE = POLICY_DIR / "routing.yaml"
PARTNER_POLICY_FILE = POLICY_DIR / "partners.yaml"


@lru_cache(maxsize=1)
def shipped_policy() -> Policy:
    """``policy/routing.yaml`` as shipped, validated once per process."""
    return load_policy(ROUTING_POLICY_FILE)


@lru_cache(maxsize=1)
def shipped_partner_policy() -> PartnerPolicy:
    """``policy/partners.yaml`` as shipped, validated once per process."""
    return load_partner_policy(PARTNER_POLICY_FILE)
