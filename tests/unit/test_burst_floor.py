"""The campaign burst's floor: the least time the partners' limits allow, and misses reported with a cause."""

from __future__ import annotations

from collections import Counter

from handoff_dev.bench.burst import BucketLoad, BurstRun, figures


def burst_run(settle: float, buckets: list[BucketLoad], **overrides: object) -> BurstRun:
    fields: dict[str, object] = {
        "calls": 300,
        "senders": 6,
        "post_seconds": 9.5,
        "statuses": Counter({202: 300}),
        "acked_2xx": 300,
        "not_acked": [],
        "settle_seconds": settle,
        "buckets": buckets,
        "dead_lettered": 0,
        "dead_lettered_rate_limit": 0,
        "dead_letter_errors": Counter(),
        "failed_rate_limit": [],
        "outcomes": Counter({"acted": 300}),
        "cpu_seconds": 10.0,
    }
    return BurstRun(**{**fields, **overrides})  # type: ignore[arg-type]


def test_a_bucket_floor_is_what_exceeds_its_burst_over_its_rate() -> None:
    assert BucketLoad("slack", "post_message:#billing", 64, 0, 1.0, 4).floor_seconds == 60.0
    assert BucketLoad("planyo", "account", 15, 0, 10.0, 20).floor_seconds == 0.0


def test_the_floor_is_the_slowest_bucket_and_the_ratio_divides_by_it() -> None:
    slack = BucketLoad("slack", "post_message:#bookings", 84, 30, 1.0, 4)
    planyo = BucketLoad("planyo", "account", 620, 100, 10.0, 20)
    result = figures(burst_run(100.0, [planyo, slack]))
    assert result["floor_seconds"] == 80.0 and result["floor_bucket"] == "slack post_message:#bookings"
    assert result["settle_ratio_to_floor"] == 1.25 and result["misses"] == []


def test_misses_are_named_with_their_cause() -> None:
    slack = BucketLoad("slack", "post_message:#bookings", 44, 0, 1.0, 4)
    result = figures(
        burst_run(
            200.0,
            [slack],
            acked_2xx=299,
            not_acked=["burst_0007: HTTP 503"],
            dead_lettered=1,
            dead_lettered_rate_limit=1,
            stuck=["burst_0100: RUNNING in Act"],
        )
    )
    misses = " | ".join(result["misses"])
    assert "burst_0007: HTTP 503" in misses and "1 notifications dead-lettered" in misses
    assert "5.00x the partners' floor" in misses and "burst_0100: RUNNING in Act" in misses
