"""The one HTTP layer every connector uses.

Why a thin wrapper over ``requests`` rather than each connector calling it:
session reuse, timeouts, bounded retries that honour ``Retry-After``, the
mapping of status codes to the error taxonomy, and redaction of credentials in
every message are the same for all partners and must not drift.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from aws_lambda_powertools import Logger

from handoff.connectors.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    RejectedInputError,
    RetryableError,
)
from handoff.connectors.redaction import redact_text, redact_url

logger = Logger(child=True)


class _UrlSecretFilter(logging.Filter):
    """urllib3 logs each request line at DEBUG; mask secret query parameters in it for every partner."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(redact_text(redact_url(a), ()) if isinstance(a, str) else a for a in record.args)
        return True


_urllib3_logger = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _UrlSecretFilter) for f in _urllib3_logger.filters):
    _urllib3_logger.addFilter(_UrlSecretFilter())

RETRY_AFTER_CAP_SECONDS = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    """In-client retries: small and fast; Step Functions retries the rest."""

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, RETRY_AFTER_CAP_SECONDS)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


NO_RETRY = RetryPolicy(attempts=1)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form); None if absent or odd."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class HttpClient:
    """A partner-bound HTTP client: base URL, timeouts, secrets to redact."""

    tool: str
    base_url: str
    secrets: Iterable[str] = ()
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    default_headers: Mapping[str, str] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep

    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | bytes | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        retry: RetryPolicy | None = None,
        ok_statuses: tuple[int, ...] = (),
        classify: Callable[[requests.Response], ConnectorError | None] | None = None,
    ) -> requests.Response:
        """Send one request, retrying what the taxonomy marks retryable.

        ``classify`` lets a connector map a partner's in-body error envelope
        (Planyo's ``response_code``, Plisio's ``status: error``) onto the same
        taxonomy; it is called for every response and returns None when fine.
        """
        policy = retry or self.retry
        url = self.url(path)
        merged = {**self.default_headers, **(headers or {})}
        last: ConnectorError | None = None
        for attempt in range(policy.attempts):
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    json=json,
                    headers=merged,
                    auth=auth,
                    timeout=(self.connect_timeout, self.read_timeout),
                )
                error = self._error_for(response, ok_statuses, classify)
            except requests.Timeout:
                error = RetryableError(self.tool, f"timed out calling {method} {redact_url(url)}")
            except requests.ConnectionError as exc:
                error = RetryableError(
                    self.tool, f"connection failed for {method} {redact_url(url)}: {type(exc).__name__}"
                )
            if error is None:
                return response
            last = self._redacted(error)
            if not last.retryable or attempt + 1 >= policy.attempts:
                break
            retry_after = getattr(last, "retry_after", None)
            delay = policy.delay(attempt, retry_after)
            logger.info(
                "partner call retrying",
                extra={"tool": self.tool, "attempt": attempt + 1, "delay": round(delay, 3), "status": last.status},
            )
            self.sleep(delay)
        assert last is not None
        raise last

    def _error_for(
        self,
        response: requests.Response,
        ok_statuses: tuple[int, ...],
        classify: Callable[[requests.Response], ConnectorError | None] | None,
    ) -> ConnectorError | None:
        status = response.status_code
        where = f"{response.request.method} {redact_url(str(response.url))}"
        if status in ok_statuses:
            return None
        if status == 429:
            return RateLimitedError(
                self.tool,
                f"rate limited (429) on {where}",
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            return RetryableError(self.tool, f"server error {status} on {where}", status=status)
        if status in (401, 403):
            return AuthError(self.tool, f"credentials rejected ({status}) on {where}", status=status)
        if status == 404:
            return NotFoundError(self.tool, f"not found (404) on {where}", status=status)
        if status == 409:
            return ConflictError(self.tool, f"conflict (409) on {where}: {_snippet(response)}", status=status)
        if status >= 400:
            return RejectedInputError(self.tool, f"rejected ({status}) on {where}: {_snippet(response)}", status=status)
        if classify is not None:
            return classify(response)
        return None

    def _redacted(self, error: ConnectorError) -> ConnectorError:
        clean = redact_text(str(error), self.secrets)
        error.args = (clean,)
        return error


def _snippet(response: requests.Response, limit: int = 300) -> str:
    text = response.text or ""
    return text[:limit]
