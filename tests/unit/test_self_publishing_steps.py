"""A step that ends a path publishes its own outcome: after its work, with what it returns, retried on refusal."""

from __future__ import annotations

from typing import Any

import pytest

from handoff.connectors.errors import RetryableError
from handoff.events import publish
from handoff.models import ActResult, CallEnvelope, CallSummary


def _envelope() -> CallEnvelope:
    return CallEnvelope(call=CallSummary(call_id="call_pub", event="call.ended", summary="Move my booking"))


def test_the_outcome_is_published_after_the_work_with_the_envelope_the_work_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []
    sent: list[Any] = []

    def work(envelope: CallEnvelope, context: Any) -> CallEnvelope:
        order.append("work")
        return envelope.model_copy(update={"act": ActResult(results=[])})

    def fake_publish(request: publish.PublishRequest) -> dict[str, Any]:
        order.append("publish")
        sent.append(request)
        return {"call_id": "call_pub", "detail_type": request.detail_type, "signals": []}

    monkeypatch.setattr(publish, "publish_step", fake_publish)
    done = publish.publishing("call.handed_off", work)(_envelope(), None)
    assert order == ["work", "publish"]
    assert sent[0].detail_type == "call.handed_off" and sent[0].state == done.dump()
    assert sent[0].state["act"] == {"results": []}


def test_no_outcome_is_published_when_the_work_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "publish_step", lambda request: pytest.fail("published after a failure"))

    def failing(envelope: CallEnvelope, context: Any) -> CallEnvelope:
        raise RuntimeError("partner down")

    with pytest.raises(RuntimeError, match="partner down"):
        publish.publishing("call.handed_off", failing)(_envelope(), None)


def test_a_refused_publish_is_a_retryable_error_naming_the_event_and_not_the_cause_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(request: publish.PublishRequest) -> dict[str, Any]:
        raise ConnectionError("endpoint https://user:hunter2@events.invalid refused")

    monkeypatch.setattr(publish, "publish_step", refused)
    with pytest.raises(RetryableError) as caught:
        publish.publish_or_retry("call.review_requested", _envelope().dump())
    assert "call.review_requested was not published (ConnectionError)" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_an_unknown_outcome_is_refused_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "publish_step", lambda request: pytest.fail("sent"))
    with pytest.raises(ValueError, match="detail_type"):
        publish.publish_or_retry("call.teleported", _envelope().dump())
