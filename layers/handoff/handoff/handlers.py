"""The handler shapes every function shares, so a handler is only glue.

- ``state_step(run)``: a state of the state machine. The Lambda event is the
  envelope; Powertools Parser validates it as ``CallEnvelope`` (a bad document
  fails at the boundary, before any work), ``run`` is the step's one service
  function, and the returned envelope is the state's whole output.
- ``bus_consumer(run)``: an EventBridge target (notify, customer sync):
  ``run(detail_type, detail, event_id, context)``.
- ``raw_body(event)``: the bytes an HTTP route was sent (signatures cover them).

Each shape sets up Logger (with log redaction). Tracer is opt-in
(``HANDOFF_TRACE_SUBSEGMENTS=true``, the template's ``TraceSubsegments``): the
X-Ray SDK's import and patching cost 150-300 ms of every cold start, and
``Tracing: Active`` already records each invocation without it; turn it on to
see every AWS and partner call as a subsegment while chasing a slow call.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger

from handoff.redact import install_log_redaction

if TYPE_CHECKING:
    from handoff.models import CallEnvelope

StepService = Callable[["CallEnvelope", Any], "CallEnvelope"]
BusService = Callable[[str, dict[str, Any], str, Any], dict[str, Any]]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def function_logger() -> Logger:
    """The function's Powertools logger, with secrets and personal data masked."""
    logger = Logger()
    install_log_redaction(logger)
    return logger


class HandlerTracer(Protocol):
    def capture_lambda_handler(self, lambda_handler: Callable[..., Any]) -> Callable[..., Any]: ...


class _Untraced:
    """Stands in for Powertools' Tracer when subsegments are off: the handler runs as it is."""

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any]) -> Callable[..., Any]:
        return lambda_handler


def function_tracer() -> HandlerTracer:
    """Powertools' Tracer when ``HANDOFF_TRACE_SUBSEGMENTS`` is true, else a no-op (no X-Ray SDK import)."""
    if os.environ.get("HANDOFF_TRACE_SUBSEGMENTS", "false").lower() != "true":
        return _Untraced()
    from aws_lambda_powertools import Tracer

    return Tracer()


def state_step(run: StepService) -> Handler:
    """A state machine step: envelope in (parsed), ``run``, envelope out."""
    from aws_lambda_powertools.utilities.parser import event_parser

    from handoff.models import CallEnvelope

    # The models are built on first use (defer_build); every invocation of a step parses the
    # envelope, so build it now, in the init phase, rather than in the first invocation.
    CallEnvelope.model_rebuild(force=True)
    logger = function_logger()
    tracer = function_tracer()

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @event_parser(model=CallEnvelope)
    def handler(envelope: CallEnvelope, context: Any) -> dict[str, Any]:
        logger.append_keys(call_id=envelope.call.call_id)
        return run(envelope, context).dump()

    return handler


def bus_consumer(run: BusService) -> Handler:
    """An EventBridge target: ``run(detail_type, detail, event_id, context)``; a failure raises (retry, then DLQ)."""
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

    logger = function_logger()
    tracer = function_tracer()

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @event_source(data_class=EventBridgeEvent)
    def handler(event: EventBridgeEvent, context: Any) -> dict[str, Any]:
        logger.append_keys(event_id=event.get_id, detail_type=event.detail_type)
        return run(event.detail_type, dict(event.detail), event.get_id, context)

    return handler


def raw_body(event: dict[str, Any]) -> bytes | None:
    """The body exactly as sent (API Gateway base64-encodes binary bodies); None when that base64 is invalid."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
    return str(body).encode("utf-8")
