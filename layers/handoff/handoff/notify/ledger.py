"""Where each outcome's Slack message is: (channel, ts) kept on the call record, looked up before posting.

Why on the call record and not only an idempotency key: Slack has no
idempotency key, so "posted once" needs to know *where* the message is. The
record also lets a later outcome (the decision) rewrite the review message in
place with ``chat.update``. Each outcome has one attribute ``slack_<outcome>``:

* ``{"state": "posting", "channel": <as routed>, "since": <epoch>}`` written
  (conditionally, first writer wins) just before ``chat.postMessage``;
* ``{"state": "posted", "channel": <id>, "ts": <ts>}`` once Slack answered.

A delivery that finds "posting" (an earlier try timed out or died mid-call)
looks the message up in the channel by its metadata before posting again.
Partner events have no call record; their entries live under ``NOTIFY#<key>``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from handoff.store import call_key


@dataclass(frozen=True)
class MessageRef:
    state: Literal["posting", "posted"]
    channel: str
    ts: str = ""
    since: float = 0.0

    @property
    def posted(self) -> bool:
        return self.state == "posted" and bool(self.ts)


def _attr(outcome: str) -> str:
    return f"slack_{outcome}"


class MessageLedger:
    """The (channel, ts) of each outcome's message for one call, in the Handoff table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def _key(self, call_id: str, on_call_record: bool) -> dict[str, Any]:
        return {"pk": {"S": call_key(call_id) if on_call_record else f"NOTIFY#{call_id}"}}

    def refs(self, call_id: str, *, on_call_record: bool = True) -> dict[str, MessageRef]:
        """Every outcome message recorded for the call (consistent read)."""
        item = self.client.get_item(
            TableName=self.table_name, Key=self._key(call_id, on_call_record), ConsistentRead=True
        ).get("Item", {})
        found: dict[str, MessageRef] = {}
        for name, value in item.items():
            if not name.startswith("slack_") or "M" not in value:
                continue
            m = value["M"]
            found[name.removeprefix("slack_")] = MessageRef(
                state="posted" if m.get("state", {}).get("S") == "posted" else "posting",
                channel=m.get("channel", {}).get("S", ""),
                ts=m.get("ts", {}).get("S", ""),
                since=float(m.get("since", {}).get("N", "0")),
            )
        return found

    def begin(
        self, call_id: str, outcome: str, channel: str, *, on_call_record: bool = True, take_over: bool = False
    ) -> bool:
        """Claim the post (False when another delivery already claimed or finished it)."""
        value = {"M": {"state": {"S": "posting"}, "channel": {"S": channel}, "since": {"N": f"{time.time():.3f}"}}}
        condition = "attribute_not_exists(#a)" if not take_over else "#a.#s = :posting"
        values: dict[str, Any] = {":v": value}
        names = {"#a": _attr(outcome)}
        if take_over:
            values[":posting"] = {"S": "posting"}
            names["#s"] = "state"
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(call_id, on_call_record),
                UpdateExpression="SET #a = :v",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, call_id: str, outcome: str, *, on_call_record: bool = True) -> None:
        """Drop an unfinished claim: Slack answered that nothing was posted, so the next try may post."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(call_id, on_call_record),
                UpdateExpression="REMOVE #a",
                ConditionExpression="#a.#s = :posting",
                ExpressionAttributeNames={"#a": _attr(outcome), "#s": "state"},
                ExpressionAttributeValues={":posting": {"S": "posting"}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def done(self, call_id: str, outcome: str, channel: str, ts: str, *, on_call_record: bool = True) -> None:
        """Record where the message is (overwrites the claim)."""
        value = {"M": {"state": {"S": "posted"}, "channel": {"S": channel}, "ts": {"S": ts}}}
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(call_id, on_call_record),
            UpdateExpression="SET #a = :v",
            ExpressionAttributeNames={"#a": _attr(outcome)},
            ExpressionAttributeValues={":v": value},
        )
