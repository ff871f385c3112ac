"""``make bench``: run every measurement, print one table, write ``benchmarks/results.json``."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from handoff_dev import cost
from handoff_dev.bench import artifacts, burst, coldstart, embedded, paths, warm

RESULTS = cost.RESULTS_FILE
TARGETS = {
    "ingest_cold_start_ratio": 1.3,
    "cold_start_ratio_max": 1.6,
    "ingest_warm_ratio": 2.5,
    "ack_p99_ms": 5000.0,
    "masking_30kb_ms": 1.0,
    "cost_per_1000_calls_usd": 0.20,
    "artifact_zip_mb": 8.0,
}


def _figure(value: float, unit: str, **inputs: Any) -> dict[str, Any]:
    return {"value": round(value, 4), "unit": unit, **inputs}


def run_burst(results: dict[str, Any], timings: dict[str, float], console: Console, quick: bool) -> None:
    """``results["burst"]``: a campaign burst against rate-limited sandboxes (tools/handoff_dev/bench/burst.py)."""
    t = time.perf_counter()
    calls = 60 if quick else 300
    console.log(f"campaign burst: {calls} signed calls within 10 s, partner sandboxes rate-limited")
    results["burst"] = burst.figures(burst.run(calls=calls))
    timings["burst_s"] = time.perf_counter() - t
    for miss in results["burst"]["misses"]:
        console.log(f"[yellow]burst miss: {miss}")


def run(quick: bool = False) -> dict[str, Any]:
    console = Console(width=None if sys.stdout.isatty() else 150, stderr=True)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": _cpus()},
        "method": "medians of repeated runs; ratios against a floor measured in the same run",
    }
    timings: dict[str, float] = {}

    t = time.perf_counter()
    console.log("cold starts (Lambda-like: Python 3.13, the layer as sam build ships it, paired with the floor)")
    like = coldstart.prepare()
    if like.note:
        console.log(f"[yellow]{like.note}")
    colds = coldstart.measure(runs=3 if quick else 9, like=like)
    timings["cold_start_s"] = time.perf_counter() - t
    ingest_cold = next(c for c in colds if c.function == "ingest")
    worst = max(colds, key=lambda c: c.ratio)
    results["ingest_cold_start_ratio"] = _figure(
        ingest_cold.ratio,
        "x floor",
        ratio_min=round(ingest_cold.ratio_min, 3),
        median_ms=round(ingest_cold.median_ms, 1),
        floor_ms=round(ingest_cold.floor_ms, 1),
        floor="same environment: import boto3 + boto3.client('dynamodb')",
        measured="functions/ingest/app.py imported beside the layer + app.service() (its DynamoDB and SFN clients)",
        runs=ingest_cold.runs,
        environment=like.describe(),
        target=TARGETS["ingest_cold_start_ratio"],
    )
    results["cold_start_ratio_max"] = _figure(
        worst.ratio,
        "x floor",
        function=worst.function,
        ratio_min=round(worst.ratio_min, 3),
        target=TARGETS["cold_start_ratio_max"],
    )
    results["cold_start_ms"] = {
        c.function: {
            "median_ms": round(c.median_ms, 1),
            "floor_ms": round(c.floor_ms, 1),
            "ratio_median": round(c.ratio_median, 2),
            "ratio_min": round(c.ratio_min, 2),
        }
        for c in colds
    }

    t = time.perf_counter()
    console.log("warm cost per event (AWS answered in memory)")
    ingest_warm = warm.ingest(count=100 if quick else 200, rounds=3 if quick else 5)
    route_warm = warm.route(count=50 if quick else 100, rounds=3 if quick else 5)
    timings["warm_s"] = time.perf_counter() - t
    assert ingest_warm.ratio is not None and ingest_warm.floor_cpu_ms is not None
    results["ingest_warm_ratio"] = _figure(
        ingest_warm.ratio,
        "x floor",
        cpu_ms=round(ingest_warm.cpu_ms, 3),
        floor_cpu_ms=round(ingest_warm.floor_cpu_ms, 3),
        body_bytes=ingest_warm.body_bytes,
        floor="PutItem + StartExecution + UpdateItem through the same botocore clients, answered at before-send",
        invocations=ingest_warm.invocations,
        target=TARGETS["ingest_warm_ratio"],
    )
    results["route_warm_cpu_ms"] = _figure(route_warm.cpu_ms, "ms CPU", invocations=route_warm.invocations)
    masked = warm.masking(runs=50 if quick else 200)
    results["masking_30kb_ms"] = _figure(
        masked.transcript_ms,
        "ms CPU",
        transcript_bytes=masked.transcript_bytes,
        log_line_us=round(masked.log_line_us, 1),
        clean_text_us=round(masked.clean_text_us, 2),
        measured="redact_text on the warm bench's transcript (a phone number every ~250 characters), median; "
        "one INFO log line with extra keys through the redaction filter; a short text with nothing to mask",
        target=TARGETS["masking_30kb_ms"],
    )

    t = time.perf_counter()
    calls = 60 if quick else 200
    console.log(f"embedded throughput: {calls} mixed signed calls end to end")
    clean = embedded.run(calls=calls, senders=4)
    timings["throughput_s"] = time.perf_counter() - t
    for call_id, why in clean.unsettled.items():
        console.log(f"[yellow]did not settle: {call_id}: {why}[/yellow]")
    results["calls_per_second"] = _figure(
        clean.calls_per_second,
        "calls/s",
        calls=clean.calls,
        senders=clean.senders,
        wall_seconds=round(clean.wall_seconds, 1),
        measured="first POST to the last execution terminal or waiting for review, embedded stack, "
        "each function in its own execution environments (processes)",
        http_statuses=dict(clean.statuses),
        unsettled=clean.unsettled,
        outcomes=_outcomes(clean),
    )
    # Cold starts of the embedded run's environments (init: importing the handler in a fresh interpreter).
    results["embedded_cold_starts_ms"] = {
        function: {"count": len(starts), "median_ms": round(statistics.median(starts), 1)}
        for function, starts in sorted(clean.cold_starts.items())
    }
    results["ack_p50_ms"] = _figure(clean.percentile(50), "ms", calls=clean.calls)
    results["ack_p99_ms"] = _figure(
        clean.percentile(99), "ms", calls=clean.calls, target=TARGETS["ack_p99_ms"], max_ms=round(max(clean.ack_ms), 1)
    )

    t = time.perf_counter()
    faulty_calls = 21 if quick else 42
    console.log(f"transitions with retries: {faulty_calls} calls, partners failing 30% (5xx, 429)")
    faulty = embedded.run(calls=faulty_calls, senders=4, fault_rate=0.30)
    timings["faulty_s"] = time.perf_counter() - t
    # Every path of a realistic mix, walked from the definition (a short run never enters the analysis
    # wait or a review timing out); the clean run's histories check the walk on the paths it entered.
    mix = paths.figures()
    retries_per_faulty_call = sum(e.retries for e in faulty.executions) / max(1, len(faulty.executions))
    mix_transitions = paths.mix_average({f.name: f.transitions for f in mix}, mix)
    measured_by_outcome: dict[str, list[int]] = {}
    for facts in clean.executions:
        measured_by_outcome.setdefault(facts.outcome, []).append(facts.transitions)
    results["transitions_per_call"] = _figure(
        mix_transitions + cost.FAULT_SHARE * retries_per_faulty_call,
        "transitions",
        mix_without_faults=round(mix_transitions, 3),
        fault_share=cost.FAULT_SHARE,
        retries_per_faulty_call=round(retries_per_faulty_call, 3),
        with_faults_calls=faulty.calls,
        per_path={f.name: f.as_dict() for f in mix},
        measured_by_outcome={k: round(statistics.mean(v), 2) for k, v in sorted(measured_by_outcome.items())},
        counted="states entered per path, walked from statemachine/handoff.asl.json over the mix in "
        "tools/handoff_dev/bench/paths.py, plus FAULT_SHARE x the retried task attempts per call of a run with "
        "partners failing 30%; measured_by_outcome: StateEntered events of the clean run (a call waiting for "
        "review counts the states entered so far)",
    )

    t = time.perf_counter()
    console.log("artifact sizes (sam build output)")
    arts = artifacts.measure()
    timings["artifacts_s"] = time.perf_counter() - t
    total_mb = sum(a.zipped_mb for a in arts)
    layer = [a for a in arts if a.name == "SharedLayer"]
    results["artifact_zip_mb"] = _figure(
        total_mb,
        "MB",
        target=TARGETS["artifact_zip_mb"],
        per_artifact={
            a.name: {"zipped_mb": round(a.zipped_mb, 3), "unzipped_mb": round(a.unzipped_mb, 2)} for a in arts
        },
        layer_zipped_mb=round(layer[0].zipped_mb, 3) if layer else None,
        measured="each .aws-sam/build directory zipped with deflate level 6 (make build)",
    )

    inputs = embedded.profile_inputs(clean)
    inputs["transitions"] = results["transitions_per_call"]["value"]
    # The state machine's Lambdas and the outcome events follow the mix, not the clean run's outcome split.
    measured_steps = [inputs["functions"][n] for n in ("MatchFunction", "RouteFunction") if n in inputs["functions"]]
    for name, invocations in paths.lambda_invocations(mix).items():
        use = inputs["functions"].get(name) or {
            # Not entered by the clean run (a review decided): priced like its measured sibling steps.
            "cpu_ms": statistics.median(u["cpu_ms"] for u in measured_steps) if measured_steps else 10.0,
            "wait_ms": statistics.median(u["wait_ms"] for u in measured_steps) if measured_steps else 100.0,
        }
        inputs["functions"][name] = {**use, "invocations": invocations}
    inputs["eventbridge_events"] = paths.mix_average({f.name: f.events for f in mix}, mix)
    inputs["init_ms"] = {_function_resource(c.function): round(c.median_ms, 1) for c in colds}
    inputs["cold_start_share"] = cost.COLD_START_SHARE
    inputs["paths"] = {f.name: f.as_dict() for f in mix}
    profile = cost.CallProfile.from_dict(
        {**inputs, "measured_on": f"make bench, {results['measured_at'][:10]}, {calls} calls + {faulty_calls} faulty"}
    )
    estimate = cost.estimate(1000, profile)
    results["cost_per_1000_calls_usd"] = _figure(
        estimate.handoff_per_1000,
        "USD",
        target=TARGETS["cost_per_1000_calls_usd"],
        inputs={
            "profile": profile.as_dict(),
            "region": cost.REGION,
            "aws_prices_as_of": cost.AWS_PRICES_AS_OF,
            "memory_mb": cost.TEMPLATE_MEMORY_MB,
            "architecture": cost.TEMPLATE_ARCHITECTURE,
            "aws_requests_counted": {f"{s}.{op}": n for (s, op), n in sorted(clean.requests.items())},
        },
        lines={line.item: round(line.usd * 1000, 5) for line in estimate.lines},
        hosted_per_1000_calls={f"{h.vendor} ({h.plan})": round(h.per_1000_calls, 2) for h in estimate.hosted},
        hosted_prices_as_of=cost.HOSTED_PRICES_AS_OF,
        fixed_monthly_usd=round(estimate.fixed_monthly, 2),
    )
    run_burst(results, timings, console, quick)
    timings["total_s"] = time.perf_counter() - started
    results["bench_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    unsettled = {**clean.unsettled, **faulty.unsettled}
    results["degraded"] = {
        "value": bool(unsettled),
        "why": unsettled or "every call settled",
        "note": "degraded figures include calls that never settled; rerun on a quieter machine",
    }
    return results


def _outcomes(run: embedded.ThroughputRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for facts in run.executions:
        counts[facts.outcome] = counts.get(facts.outcome, 0) + 1
    return counts


def _function_resource(code_dir: str) -> str:
    """functions/request_review -> RequestReviewFunction (the template's logical id)."""
    return "".join(part.capitalize() for part in code_dir.split("_")) + "Function"


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def print_table(results: dict[str, Any], console: Console) -> None:
    table = Table(title=f"Handoff benchmarks ({results['measured_at']}, {results['machine']['cpus']} CPUs)")
    for column in ("figure", "value", "target", "from"):
        table.add_column(column)
    rows: list[tuple[str, str, str, Callable[[dict[str, Any]], str]]] = [
        (
            "ingest cold start",
            "ingest_cold_start_ratio",
            "x",
            lambda f: f"{f['median_ms']} ms vs floor {f['floor_ms']} ms",
        ),
        (
            "ingest warm CPU, 30 KB transcript",
            "ingest_warm_ratio",
            "x",
            lambda f: f"{f['cpu_ms']} ms vs floor {f['floor_cpu_ms']} ms",
        ),
        (
            "masking a 30 KB transcript",
            "masking_30kb_ms",
            " ms",
            lambda f: f"log line {f['log_line_us']} us, clean text {f['clean_text_us']} us",
        ),
        (
            "embedded throughput",
            "calls_per_second",
            " calls/s",
            lambda f: f"{f['calls']} calls in {f['wall_seconds']} s, {f['senders']} senders",
        ),
        ("ack p50", "ack_p50_ms", " ms", lambda f: f"{f['calls']} webhooks"),
        ("ack p99", "ack_p99_ms", " ms", lambda f: f"max {f['max_ms']} ms"),
        (
            "state transitions per call",
            "transitions_per_call",
            "",
            lambda f: f"mix {f['mix_without_faults']} + {f['fault_share']:.0%} x {f['retries_per_faulty_call']}",
        ),
        ("artifacts zipped (all)", "artifact_zip_mb", " MB", lambda f: f"layer {f['layer_zipped_mb']} MB"),
        (
            "AWS cost per 1,000 calls",
            "cost_per_1000_calls_usd",
            " USD",
            lambda f: f"list prices {f['inputs']['aws_prices_as_of']}, {f['inputs']['memory_mb']} MB arm64",
        ),
    ]
    for label, key, unit, source in rows:
        figure = results[key]
        target = figure.get("target")
        table.add_row(label, f"{figure['value']:.2f}{unit}", f"<= {target}" if target else "-", source(figure))
    burst_row(results, table)
    for name, path in results["transitions_per_call"]["per_path"].items():
        table.add_row(
            f"  path {name} ({path['share']:.0%})",
            f"{path['transitions']} states",
            "-",
            " > ".join(path["states"]),
        )
    for name, cold in results["cold_start_ms"].items():
        table.add_row(
            f"  cold start {name}",
            f"{cold['median_ms']} ms",
            "-",
            f"{cold['ratio_median']}x floor (min {cold['ratio_min']}x, floor {cold['floor_ms']} ms)",
        )
    for name, art in results["artifact_zip_mb"]["per_artifact"].items():
        table.add_row(f"  artifact {name}", f"{art['zipped_mb']:.3f} MB", "-", f"{art['unzipped_mb']} MB unzipped")
    for who, usd in results["cost_per_1000_calls_usd"]["hosted_per_1000_calls"].items():
        table.add_row(
            f"  {who}",
            f"{usd:.2f} USD",
            "-",
            f"per 1,000 calls, {results['cost_per_1000_calls_usd']['hosted_prices_as_of']}",
        )
    console.print(table)
    console.print(f"bench wall time: {results['bench_seconds']}")
    degraded = results.get("degraded") or {}
    if degraded.get("value"):
        console.print(f"[yellow]DEGRADED run: calls that never settled: {degraded['why']}[/yellow]")


def burst_row(results: dict[str, Any], table: Table) -> None:
    figure = results.get("burst")
    if not figure:
        return
    ratio = figure["settle_ratio_to_floor"]
    table.add_row(
        "campaign burst, settle / partners' floor",
        f"{ratio:.2f}x" if ratio is not None else "n/a",
        f"<= {figure['target']}",
        f"{figure['acked_2xx']}/{figure['calls']} acked 2xx, {figure['dead_lettered_rate_limit']} dead-lettered by a "
        f"rate limit; {figure['settle_seconds']} s vs floor {figure['floor_seconds']} s ({figure['floor_bucket']})",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, not for the README)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--only",
        choices=["burst"],
        help="run one part alone and merge its figures into the existing results file",
    )
    args = parser.parse_args(argv)
    if args.only == "burst":
        console = Console(width=None if sys.stdout.isatty() else 150)
        results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
        timings: dict[str, float] = {}
        run_burst(results, timings, console, args.quick)
        results.setdefault("bench_seconds", {}).update({k: round(v, 1) for k, v in timings.items()})
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
        console.print_json(json.dumps({k: v for k, v in results["burst"].items() if k != "buckets"}))
        print(f"wrote {args.out}")
        return 0
    try:
        results = run(quick=args.quick)
    except embedded.WrongCallAnsweredError as exc:
        print(f"make bench: {exc}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print_table(results, Console(width=None if sys.stdout.isatty() else 150))
    print(f"wrote {args.out}")
    return 0
