"""The shape every connector module shares.

Each partner module (``planyo.py``, ``billit.py`` …) defines:

* ``Settings``: a pydantic model of its configuration block in the partner
  secret (base URL and credentials), validated when the connector is built;
* ``ASSUMPTIONS``: the UNCONFIRMED facts from the reference page that the code
  relies on, in one named place (the README's connector table lists them);
* a connector class with ``TOOL``, ``from_config(dict)``, ``check()`` and typed
  operations whose inputs and outputs are pydantic models in Handoff's names;
  partner field names are mapped to Handoff's names in one place per module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from handoff.connectors.errors import AuthError
from handoff.models import Tool


class PartnerModel(BaseModel):
    """Base for partner-side models: tolerant of fields the partner adds."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class HealthReport(BaseModel):
    """One row of ``handoff connectors check``."""

    tool: Tool
    reachable: bool
    authenticated: bool
    quota: str | None = None
    detail: str = ""

    @property
    def healthy(self) -> bool:
        return self.reachable and self.authenticated


class Connector(Protocol):
    TOOL: ClassVar[Tool]

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self: ...

    def check(self) -> HealthReport: ...


SettingsT = TypeVar("SettingsT", bound=BaseModel)


def validated_settings(model: type[SettingsT], config: Mapping[str, Any], tool: str) -> SettingsT:
    """A tool's settings from its partner-secret block; a bad block is a configuration error.

    The error names the fields and what is wrong with them, never their values
    (they may be keys or webhook URLs).
    """
    try:
        return model.model_validate(dict(config))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise AuthError(tool, f"invalid configuration: {problems}") from None
