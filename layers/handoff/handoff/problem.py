"""One error-body shape for every HTTP route: RFC 9457 problem details.

Ingest, the Planyo callback, the Slack interaction URL and the review route all
answer a refusal with the same JSON object, so a client (DialNexa's delivery
log, a team's approval surface, ops reading a curl answer) needs one parser::

    {"type": "urn:handoff:problem:unauthorized", "title": "unauthorized", "status": 401,
     "detail": "signature mismatch", "errors": [{"field": "reviewer", "message": "…"}]}

``type`` is a stable URN per kind of problem (RFC 9457 §3.1.1 allows any URI; a
URN needs no host), ``errors`` lists field-level problems of a body that failed
validation and is left out when there are none. Extension members (RFC 9457
§3.2), such as ``call_id``, go in ``extensions``. This module is plain data so
the domain services return problems without importing an HTTP framework;
``respond`` turns any answer into a Powertools ``Response``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
JSON_CONTENT_TYPE = "application/json"
TYPE_PREFIX = "urn:handoff:problem:"


class FieldError(BaseModel):
    """One field of a request body and what is wrong with it."""

    model_config = ConfigDict(frozen=True)

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, for a machine (type, status) and a person (title, detail)."""

    model_config = ConfigDict(frozen=True)

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = ""
    errors: tuple[FieldError, ...] = ()
    extensions: dict[str, Any] = Field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The JSON object sent on the wire (``errors`` only when there are some)."""
        out: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors:
            out["errors"] = [e.model_dump() for e in self.errors]
        for key, value in self.extensions.items():
            out.setdefault(key, value)
        return out


def problem_type(title: str) -> str:
    """``"body too large"`` -> ``"urn:handoff:problem:body-too-large"``: a stable id from the title."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "problem"
    return TYPE_PREFIX + slug


def problem(
    status: int,
    title: str,
    detail: str = "",
    *,
    errors: list[FieldError] | tuple[FieldError, ...] = (),
    type: str | None = None,  # noqa: A002 - the RFC's member name
    **extensions: Any,
) -> Problem:
    """Build a problem; ``type`` defaults to the URN made from the title."""
    return Problem(
        type=type or problem_type(title),
        title=title,
        status=status,
        detail=detail,
        errors=tuple(errors),
        extensions=extensions,
    )


def field_errors(exc: ValidationError) -> list[FieldError]:
    """A pydantic ``ValidationError`` as one ``FieldError`` per failing field.

    The location becomes a dotted path (``actions.0.target``); a model-level
    validator that raises ``"field: message"`` is attributed to that field.
    """
    errors: list[FieldError] = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        location = ".".join(str(part) for part in error["loc"])
        if not location and ":" in message:
            location, _, message = message.partition(":")
        errors.append(FieldError(field=location.strip() or "body", message=message.strip()))
    return errors


def validation_problem(exc: ValidationError, title: str = "invalid request", status: int = 400) -> Problem:
    """A 400 naming every failing field, with a one-line ``detail`` summarising them."""
    errors = field_errors(exc)
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return problem(status, title, detail, errors=errors)


def content_type(status: int) -> str:
    """Every answer of 400 or more is a problem document; the rest are plain JSON."""
    return PROBLEM_CONTENT_TYPE if status >= 400 else JSON_CONTENT_TYPE


def http_answer(status: int, body: dict[str, Any] | Problem) -> dict[str, Any]:
    """The same answer as :func:`respond`, as the API Gateway (HTTP API, payload 2.0) result dict.

    For single-route functions (ingest, the Planyo callback) that need no event-handler
    framework: Powertools' resolver and the asyncio it imports cost ~200 ms of a cold start.
    """
    if isinstance(body, Problem):
        status, body = body.status, body.body()
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type(status)},
        "body": json.dumps(body, default=str),
    }


def respond(status: int, body: dict[str, Any] | Problem) -> Response[str]:
    """A Powertools ``Response`` for an answer body or a problem (the content type follows the status)."""
    from aws_lambda_powertools.event_handler import Response

    if isinstance(body, Problem):
        status, body = body.status, body.body()
    return Response(status_code=status, content_type=content_type(status), body=json.dumps(body, default=str))
