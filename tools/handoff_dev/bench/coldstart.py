"""Cold start per function: import the handler and build what it builds at init, in a fresh interpreter.

The floor is ``import boto3`` plus one client in a fresh interpreter: the least
any Python Lambda that talks to AWS pays. Runs are interleaved (floor, every
function, floor, ...) so a noisy neighbour hurts both sides alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from handoff_dev.embedded.stack import PROJECT_ROOT

FUNCTIONS_DIR = PROJECT_ROOT / "functions"
LAYER_DIR = PROJECT_ROOT / "layers" / "handoff"

# What a function builds on its first invocation that a warm one reuses (its "init").
INIT_HOOKS: dict[str, str] = {"ingest": "service", "customer_sync": "consumer", "partner_ingest": "publisher"}

CHILD = r"""
import sys, time
t0 = time.perf_counter()
mode = sys.argv[1]
if mode == "floor":
    import boto3
    boto3.client("dynamodb")
else:
    sys.path[:0] = [sys.argv[2], sys.argv[3]]
    import app
    hook = sys.argv[4]
    if hook:
        getattr(app, hook)()
print(f"{(time.perf_counter() - t0) * 1000:.3f}")
"""

LAMBDA_LIKE_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",  # Powertools Tracer patches as it does on Lambda (Tracing: Active)
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    "POWERTOOLS_SERVICE_NAME": "handoff",
    "POWERTOOLS_METRICS_NAMESPACE": "Handoff",
    "HANDOFF_TABLE": "handoff-bench",
    "HANDOFF_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:handoff-bench",
    "HANDOFF_WEBHOOK_SECRET_ID": "handoff-bench-webhook",
    "HANDOFF_PARTNER_SECRET": "handoff-bench-partners",
    "HANDOFF_REVIEW_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/review",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@dataclass(frozen=True)
class ColdStart:
    function: str
    median_ms: float
    floor_ms: float
    runs: int

    @property
    def ratio(self) -> float:
        return self.median_ms / self.floor_ms


def functions() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/app.py"))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "HANDOFF_"))}
    env.update(LAMBDA_LIKE_ENV)
    env.pop("PYTHONPATH", None)
    return env


def _once(mode: str, function: str = "") -> float:
    args = [sys.executable, "-c", CHILD, mode]
    if mode != "floor":
        args += [str(FUNCTIONS_DIR / function), str(LAYER_DIR), INIT_HOOKS.get(function, "")]
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {function or 'floor'} failed: {done.stderr.strip()[-500:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(names: list[str] | None = None, runs: int = 7) -> list[ColdStart]:
    """Median init time per function and of the floor, interleaved, ``runs`` each."""
    names = names or functions()
    _once("floor")  # warm the OS file cache once for everyone
    for name in names:
        _once("function", name)
    floor: list[float] = []
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(runs):
        floor.append(_once("floor"))
        for name in names:
            samples[name].append(_once("function", name))
    floor_ms = statistics.median(floor)
    return [ColdStart(name, statistics.median(samples[name]), floor_ms, runs) for name in names]


def code_dir(function: str) -> Path:
    return FUNCTIONS_DIR / function
