"""Reviews on the call record (moto DynamoDB): recorded, listed by the sparse index, decided once, crashes finished."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from moto import mock_aws

from handoff.review.model import (
    NotAnApprover,
    ReviewAlreadyDecided,
    ReviewDecision,
    Reviewer,
    ReviewExpired,
    ReviewNotFound,
    ReviewRecord,
)
from handoff.review.service import STALE_DECISION, apply, complete_decided, decide, record_request
from handoff.review.store import BadPageToken, ReviewStore

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 6, 12, 9, 0, tzinfo=UTC)
ANA = Reviewer("arn:aws:iam::123456789012:user/ana", "Ana")
BO = Reviewer("arn:aws:iam::123456789012:user/bo")


class _Loader(yaml.SafeLoader):
    """template.yaml's short tags read as plain values: only the table's shape is needed here."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _table_properties() -> dict[str, Any]:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)  # nosec B506
    props: dict[str, Any] = template["Resources"]["HandoffTable"]["Properties"]
    return props


@pytest.fixture
def store() -> Iterator[ReviewStore]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        props = _table_properties()
        ddb.create_table(
            TableName="handoff",
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ReviewStore("handoff", ddb)


class FakeSfn:
    """Step Functions as the service uses it: records sends, can fail them, has a history."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.errors: list[str] = []
        self.history: list[dict[str, Any]] = []

    def _send(self, kind: str, token: str, payload: str) -> None:
        if self.errors:
            code = self.errors.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": code}}, kind)
        self.sent.append((kind, token, payload))

    def send_task_success(self, taskToken: str, output: str) -> None:  # noqa: N803 - boto3's names
        self._send("success", taskToken, output)

    def send_task_failure(self, taskToken: str, error: str, cause: str) -> None:  # noqa: N803 - boto3's names
        self._send("failure", taskToken, cause)

    def get_execution_history(self, **_: Any) -> dict[str, Any]:
        return {"events": self.history}


def _state(call_id: str, owner: str = "Bookings") -> dict[str, Any]:
    return {
        "call": {"call_id": call_id, "event": "call.ended"},
        "settings": {"review_timeout_seconds": 3600},
        "match": {
            "status": "weak",
            "candidates": [{"tool": "planyo", "kind": "reservation", "record_id": "48213", "confidence": 0.7}],
        },
        "decision": {
            "mode": "review",
            "actions": [{"tool": "planyo", "operation": "modify_reservation", "target": "48213"}],
            "owner": {"team": owner},
            "urgency": "high",
            "reasons": ["weak match"],
            "handoff": {"title": f"Review {call_id}"},
        },
    }


def _record(store: ReviewStore, call_id: str, at: datetime = T0, token: str | None = None) -> ReviewRecord:
    event = {
        "task_token": token or f"token-{call_id}",
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:handoff:{call_id}",
        "requested_at": at.isoformat(),
        "state": _state(call_id),
    }
    return record_request(store, event, default_timeout_seconds=86400)


APPROVE = ReviewDecision(decision="approve", note="ok")
REJECT = ReviewDecision(decision="reject", reason="prank call")


# --------------------------------------------------------------------------- recording and reading
def test_a_recorded_review_reads_back_with_its_token_actions_candidates_owner_and_deadline(store: ReviewStore) -> None:
    _record(store, "call_a")
    review = store.get("call_a")
    assert review is not None
    assert (review.task_token, review.owner, review.urgency, review.status) == (
        "token-call_a",
        "Bookings",
        "high",
        "waiting",
    )
    assert [a.key for a in review.actions] == ["planyo:modify_reservation:48213"]
    assert [c.record_id for c in review.candidates] == ["48213"]
    assert review.deadline == T0 + timedelta(hours=1)


def test_a_call_without_a_review_is_not_found(store: ReviewStore) -> None:
    assert store.get("call_never") is None
    with pytest.raises(ReviewNotFound, match="no review is waiting for call call_never"):
        decide(store, FakeSfn(), "call_never", APPROVE, ANA)


def test_listing_pages_through_every_waiting_review_oldest_first(store: ReviewStore) -> None:
    for i in range(23):
        _record(store, f"call_{i:02d}", T0 + timedelta(seconds=i))
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = store.open_page("waiting", limit=10, next_token=token)
        pages += 1
        seen.extend(r.call_id for r in page.rows)
        token = page.next_token
        if not token:
            break
    assert seen == [f"call_{i:02d}" for i in range(23)] and pages == 3
    assert store.open_page("waiting", limit=1).rows[0].reasons == ["weak match"]


def test_a_page_token_that_was_not_handed_out_is_refused(store: ReviewStore) -> None:
    with pytest.raises(BadPageToken):
        store.open_page("waiting", next_token="bm90IGEgdG9rZW4=")


# --------------------------------------------------------------------------- deciding once
def test_an_approval_sends_the_outcome_once_and_leaves_the_index(store: ReviewStore) -> None:
    _record(store, "call_ok")
    sfn = FakeSfn()
    result = decide(store, sfn, "call_ok", APPROVE, ANA, now=T0 + timedelta(minutes=5))
    assert result.applied and result.decision == "approve"
    [(kind, token, payload)] = sfn.sent
    assert (kind, token) == ("success", "token-call_ok")
    assert json.loads(payload)["reviewer"] == ANA.id
    review = store.get("call_ok")
    assert review is not None and review.status == "approved" and review.decided_by == ANA.id
    assert store.open_page("waiting").rows == []


def test_a_rejection_is_a_task_failure_carrying_who_and_why(store: ReviewStore) -> None:
    _record(store, "call_no")
    sfn = FakeSfn()
    decide(store, sfn, "call_no", REJECT, BO)
    [(kind, _, cause)] = sfn.sent
    assert kind == "failure" and json.loads(cause)["reason"] == "prank call"
    assert store.get("call_no").status == "rejected"  # type: ignore[union-attr]


def test_a_second_decision_is_refused_naming_who_decided_and_when_and_sends_nothing(store: ReviewStore) -> None:
    _record(store, "call_twice")
    sfn = FakeSfn()
    decide(store, sfn, "call_twice", APPROVE, ANA, now=T0 + timedelta(minutes=5))
    with pytest.raises(ReviewAlreadyDecided) as refused:
        decide(store, sfn, "call_twice", REJECT, BO)
    assert str(refused.value) == (
        f"call call_twice was already approved by Ana ({ANA.id}) at 2025-06-12T09:05:00+00:00"
    )
    assert len(sfn.sent) == 1


def test_of_two_decisions_racing_on_one_review_exactly_one_claims_it(store: ReviewStore) -> None:
    review = _record(store, "call_race")
    outcome: dict[str, Any] = {"approved": True, "reviewer": ANA.id}
    assert store.claim(review, "approve", ANA, outcome, T0) is True
    assert store.claim(review, "reject", BO, outcome, T0) is False


def test_a_decision_on_one_call_never_touches_another(store: ReviewStore) -> None:
    _record(store, "call_x")
    _record(store, "call_y")
    decide(store, FakeSfn(), "call_x", APPROVE, ANA)
    assert store.get("call_y").status == "waiting"  # type: ignore[union-attr]


def test_someone_the_check_refuses_changes_nothing(store: ReviewStore) -> None:
    _record(store, "call_guarded")
    sfn = FakeSfn()

    def only_bo(review: ReviewRecord) -> None:
        raise NotAnApprover(review.call_id, "you are not an approver for bookings; nothing changed")

    with pytest.raises(NotAnApprover):
        decide(store, sfn, "call_guarded", APPROVE, ANA, authorize=only_bo)
    assert sfn.sent == [] and store.get("call_guarded").status == "waiting"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the crash window
def test_a_send_that_fails_leaves_the_decision_recorded_and_the_sweep_sends_the_same_outcome(
    store: ReviewStore,
) -> None:
    _record(store, "call_crash")
    sfn = FakeSfn()
    sfn.errors = ["ThrottlingException"]
    result = decide(store, sfn, "call_crash", APPROVE, ANA, now=T0)
    assert not result.applied and sfn.sent == []
    assert [r.call_id for r in store.open_page("decided").rows] == ["call_crash"]
    assert complete_decided(store, sfn, now=T0 + STALE_DECISION / 2) == []  # its sender may still be at work
    assert complete_decided(store, sfn, now=T0 + STALE_DECISION * 2) == ["call_crash"]
    [(_, _, payload)] = sfn.sent
    assert json.loads(payload) == result.outcome
    assert store.get("call_crash").status == "approved"  # type: ignore[union-attr]
    assert store.open_page("decided").rows == []


def test_the_same_reviewer_retrying_a_decision_that_was_not_sent_finishes_it(store: ReviewStore) -> None:
    _record(store, "call_retry")
    sfn = FakeSfn()
    sfn.errors = ["ServiceUnavailable"]
    assert not decide(store, sfn, "call_retry", APPROVE, ANA, now=T0).applied
    again = decide(store, sfn, "call_retry", APPROVE, ANA, now=T0 + timedelta(seconds=2))
    assert again.applied and len(sfn.sent) == 1


def test_another_reviewer_after_a_lost_send_finishes_the_first_decision_and_is_refused(store: ReviewStore) -> None:
    _record(store, "call_lost")
    sfn = FakeSfn()
    sfn.errors = ["ServiceUnavailable"]
    decide(store, sfn, "call_lost", APPROVE, ANA, now=T0)
    with pytest.raises(ReviewAlreadyDecided, match="already approved by Ana"):
        decide(store, sfn, "call_lost", REJECT, BO, now=T0 + STALE_DECISION * 2)
    assert [kind for kind, _, _ in sfn.sent] == ["success"]


def test_a_send_that_landed_before_a_crash_is_recognised_from_the_history(store: ReviewStore) -> None:
    review = _record(store, "call_landed")
    outcome = APPROVE.outcome(review, ANA, T0).model_dump(mode="json")
    assert store.claim(review, "approve", ANA, outcome, T0)
    sfn = FakeSfn()
    sfn.errors = ["InvalidToken"]
    sfn.history = [
        {"type": "TaskStateEntered", "timestamp": T0, "stateEnteredEventDetails": {"name": "RequestReview"}},
        {"type": "TaskSucceeded", "timestamp": T0, "taskSucceededEventDetails": {"output": json.dumps(outcome)}},
    ]
    claimed = store.get("call_landed")
    assert claimed is not None
    assert apply(store, sfn, claimed, T0).applied
    assert store.get("call_landed").status == "approved"  # type: ignore[union-attr]


def test_a_token_that_timed_out_closes_the_review_as_expired_and_says_how_to_ask_again(store: ReviewStore) -> None:
    _record(store, "call_late")
    sfn = FakeSfn()
    sfn.errors = ["TaskTimedOut"]
    with pytest.raises(ReviewExpired, match="dlq redrive call_late"):
        decide(store, sfn, "call_late", APPROVE, ANA)
    assert store.get("call_late").status == "expired"  # type: ignore[union-attr]
    assert store.open_page("waiting").rows == [] and store.open_page("decided").rows == []


def test_a_redriven_review_opens_again_with_its_new_token(store: ReviewStore) -> None:
    _record(store, "call_again")
    decide(store, FakeSfn(), "call_again", APPROVE, ANA)
    _record(store, "call_again", T0 + timedelta(days=1), token="token-redrive-1")
    review = store.get("call_again")
    assert review is not None
    assert (review.status, review.task_token, review.decided_by) == ("waiting", "token-redrive-1", "")
