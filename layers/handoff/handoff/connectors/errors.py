"""One error taxonomy for every partner, so the state machine can act on it.

The class name is what Step Functions sees as the ``Error`` of a failed Lambda
task (Lambda reports ``errorType``), so the Retry clauses in ``statemachine/``
match ``RetryableError`` and every other class goes straight to Catch.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base for every partner failure. Messages never carry secrets."""

    retryable = False

    def __init__(self, tool: str, message: str, *, status: int | None = None) -> None:
        self.tool = tool
        self.status = status
        super().__init__(f"{tool}: {message}")


class RetryableError(ConnectorError):
    """Timeouts, dropped connections, 5xx and 429: worth trying again later."""

    retryable = True

    def __init__(
        self,
        tool: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(tool, message, status=status)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    """A 429: the partner's rate limit, not a fault. Its own class name lets the state machine
    wait long enough for the partner's limit to drain (a campaign burst can queue minutes of
    requests behind one account's limit) instead of spending the short retries meant for faults."""


class NotFoundError(ConnectorError):
    """The record does not exist in the tool."""



class ConflictError(ConnectorError):
    """The tool already has this record (duplicate create, stale update)."""



class RejectedInputError(ConnectorError):
    """The tool refused the request as invalid; retrying the same input cannot help."""



class AuthError(ConnectorError):
    """Wrong or missing credentials, or a configuration problem. Never retried."""

