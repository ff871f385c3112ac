"""DialNexa webhook ingest, the pure part: signature check, envelope parsing, limits.

No I/O here: the ingest Lambda reads the raw body, calls :func:`verify` and
:func:`parse_webhook`, and does the DynamoDB and Step Functions work itself.
"""

from __future__ import annotations

from handoff.ingest.envelope import (
    Call,
    CallEvent,
    Envelope,
    EventName,
    InvalidWebhook,
    MalformedWebhook,
    OversizedWebhook,
    Ping,
    UnknownEvent,
    execution_name,
    merge_calls,
    parse_webhook,
    starts_execution,
)
from handoff.ingest.signature import SignatureCheck, extract_signature, sign, verify

__all__ = [
    "Call",
    "CallEvent",
    "Envelope",
    "EventName",
    "InvalidWebhook",
    "MalformedWebhook",
    "OversizedWebhook",
    "Ping",
    "SignatureCheck",
    "UnknownEvent",
    "execution_name",
    "extract_signature",
    "merge_calls",
    "parse_webhook",
    "sign",
    "starts_execution",
    "verify",
]
