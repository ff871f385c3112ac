"""Opt-in sandbox rate limits: a token bucket per key, 429 + Retry-After past the burst, refilled by time.

A fake clock moves time, so nothing here sleeps; the Slack connector's sleep advances the same clock.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from handoff.connectors.http import RetryPolicy
from handoff.connectors.slack import SlackConnector, SlackMessage
from handoff_dev.sandboxes.base import ASSUMED_PARTNER_LIMIT, RateLimit, TokenBucket
from handoff_dev.sandboxes.planyo import PlanyoSandbox
from handoff_dev.sandboxes.slack import BOT_TOKEN, POST_MESSAGE_LIMIT, SlackSandbox


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock) -> Iterator[SlackSandbox]:
    with SlackSandbox() as sandbox:
        sandbox.limit_rates(clock=clock)
        yield sandbox


def post(sandbox: SlackSandbox, channel: str) -> requests.Response:
    return requests.post(
        f"{sandbox.base_url}/api/chat.postMessage",
        json={"channel": channel, "text": "hello"},
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},
        timeout=5,
    )


def test_a_bucket_gives_its_burst_then_says_how_long_until_the_next_token(clock: Clock) -> None:
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.take() == 0.0
    clock.advance(60)
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]


def test_slack_posts_are_limited_per_channel_past_the_burst_with_429_ratelimited_and_retry_after(
    slack: SlackSandbox, clock: Clock
) -> None:
    burst = POST_MESSAGE_LIMIT.burst
    assert [post(slack, "#billing").status_code for _ in range(burst)] == [200] * burst
    refused = post(slack, "#billing")
    assert refused.status_code == 429
    assert refused.json() == {"ok": False, "error": "ratelimited"} and refused.headers["Retry-After"] == "1"
    assert post(slack, "#sales").status_code == 200, "another channel has its own bucket"
    clock.advance(1.0)
    assert post(slack, "C0BILLING").status_code == 200, "refilled after one second (same channel by id)"
    assert post(slack, "#billing").status_code == 429
    assert len(slack.history("#billing")) == burst + 1 and slack.throttled["post_message:#billing"] == 2


def test_rate_limits_are_off_unless_asked(clock: Clock) -> None:
    with SlackSandbox() as sandbox:
        assert all(post(sandbox, "#billing").status_code == 200 for _ in range(POST_MESSAGE_LIMIT.burst + 3))
        sandbox.limit_rates(clock=clock)
        sandbox.limit_rates(on=False)
        assert post(sandbox, "#billing").status_code == 200


def test_partners_without_published_limits_get_the_one_stated_assumption(clock: Clock) -> None:
    assert "ASSUMED" in ASSUMED_PARTNER_LIMIT.source and PlanyoSandbox.RATE_LIMIT is ASSUMED_PARTNER_LIMIT
    with PlanyoSandbox() as planyo:
        planyo.limit_rates(RateLimit(rate=1.0, burst=2, source="test"), clock=clock)
        answers = [requests.get(f"{planyo.base_url}/rest/", params={"method": "x"}, timeout=5) for _ in range(3)]
        assert [a.status_code for a in answers][2] == 429 and answers[2].headers["Retry-After"] == "1"
        assert all(a.status_code != 429 for a in answers[:2])


def test_the_slack_connector_waits_out_retry_after_and_posts_every_message(slack: SlackSandbox, clock: Clock) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    connector = SlackConnector.from_config(
        slack.config(), retry=RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0), sleep=sleep
    )
    count = POST_MESSAGE_LIMIT.burst + 2
    for i in range(count):
        connector.post_message(SlackMessage(text=f"outcome {i}", channel="#claims"))
    assert len(slack.history("#claims")) == count
    assert waits == [1.0, 1.0] and slack.throttled["post_message:#claims"] == 2
