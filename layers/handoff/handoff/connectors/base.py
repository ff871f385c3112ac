"""The one base every connector is built on: construction, settings validation, health checks.

Each partner module (``planyo.py``, ``billit.py`` …) defines:

* ``Settings``: a pydantic model of its block in the partner secret, derived
  from :class:`PartnerSettings` (base URL, timeouts) with its credentials;
* ``ASSUMPTIONS``: the UNCONFIRMED facts from the reference page that the code
  relies on, in one named place (docs/partners.md lists them);
* a connector class derived from :class:`BaseConnector` with ``TOOL``,
  ``SETTINGS`` and a ``_probe()``; construction (``from_config``), the HTTP
  client and the mapping of a probe's failure onto a :class:`HealthReport` are
  here, once, so they cannot drift between partners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Protocol, Self, TypeVar, cast

import requests
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from handoff.connectors.errors import AuthError, ConnectorError
from handoff.connectors.http import HttpClient, RetryPolicy
from handoff.models import Tool


class PartnerModel(BaseModel):
    """Base for partner-side models: tolerant of fields the partner adds."""

    model_config = ConfigDict(defer_build=True, extra="ignore", populate_by_name=True)


class FrozenPartnerModel(PartnerModel):
    """A partner-side record handed around as a value (hashable, never edited in place)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class HealthReport(BaseModel):
    """One row of ``handoff connectors check``."""

    model_config = ConfigDict(defer_build=True)

    tool: Tool
    reachable: bool
    authenticated: bool
    quota: str | None = None
    detail: str = ""

    @property
    def healthy(self) -> bool:
        return self.reachable and self.authenticated


def _not_blank(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("is empty")
    return value


Secret = Annotated[SecretStr, AfterValidator(_not_blank)]
"""A credential in the partner secret: kept out of reprs and logs, and never blank."""


class PartnerSettings(BaseModel):
    """What every partner block shares: where the partner is and how long to wait for it."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    base_url: str = ""
    connect_timeout: float = Field(default=3.05, gt=0)
    read_timeout: float = Field(default=10.0, gt=0)


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


def parse_datetime(text: str, formats: Iterable[str]) -> datetime | None:
    """The first of a partner's ``strptime`` formats that fits, else ISO 8601, else None (naive as given)."""
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Probe:
    """What a successful health probe found."""

    detail: str
    quota: str | None = None


@dataclass(frozen=True)
class ClientOptions:
    """Test and tuning overrides every connector accepts (None = the settings' or the default)."""

    retry: RetryPolicy | None = None
    sleep: Callable[[float], None] | None = None
    read_timeout: float | None = None
    session: requests.Session | None = None


class Connector(Protocol):
    TOOL: ClassVar[Tool]

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self: ...

    def check(self) -> HealthReport: ...


PS = TypeVar("PS", bound=PartnerSettings)


class BaseConnector(Generic[PS]):
    """Construction, the HTTP client and ``check()`` for one partner; subclasses add typed operations."""

    TOOL: ClassVar[Tool]
    SETTINGS: ClassVar[type[PartnerSettings]]

    def __init__(
        self,
        settings: PS,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        read_timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.options = ClientOptions(retry=retry, sleep=sleep, read_timeout=read_timeout, session=session)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        read_timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> Self:
        """Build from the partner secret block; a bad block is a configuration error (no values echoed)."""
        settings = cast(PS, validated_settings(cls.SETTINGS, config, cls.TOOL.value))
        return cls(settings, retry=retry, sleep=sleep, read_timeout=read_timeout, session=session)

    def http_client(
        self,
        *,
        secrets: Iterable[str],
        headers: Mapping[str, str] | None = None,
        base_url: str | None = None,
        read_timeout: float | None = None,
    ) -> HttpClient:
        """The shared HTTP layer bound to this partner, with the test/tuning overrides applied."""
        options = self.options
        client = HttpClient(
            tool=self.TOOL.value,
            base_url=base_url or self.settings.base_url,
            secrets=tuple(secrets),
            connect_timeout=self.settings.connect_timeout,
            read_timeout=read_timeout or options.read_timeout or self.settings.read_timeout,
            retry=options.retry or RetryPolicy(),
            default_headers=dict(headers or {}),
            session=options.session or requests.Session(),
        )
        if options.sleep is not None:
            client.sleep = options.sleep
        return client

    # -- health --------------------------------------------------------------------
    def _probe(self) -> Probe:
        """One cheap authenticated call; raise the taxonomy error when it fails."""
        raise NotImplementedError

    def check(self) -> HealthReport:
        """Reachable: the partner answered. Authenticated: the probe's keyed call succeeded."""
        try:
            probe = self._probe()
        except AuthError as exc:
            return HealthReport(tool=self.TOOL, reachable=True, authenticated=False, detail=str(exc))
        except ConnectorError as exc:
            reachable = exc.status is not None  # the server answered, just not with what the probe needs
            return HealthReport(tool=self.TOOL, reachable=reachable, authenticated=False, detail=str(exc))
        return HealthReport(tool=self.TOOL, reachable=True, authenticated=True, quota=probe.quota, detail=probe.detail)
