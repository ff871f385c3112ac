"""Cold start per function, measured as Lambda runs it.

Lambda's python3.13 runtime starts a fresh interpreter whose standard library
and boto3 are precompiled, puts the layer (as ``sam build`` ships it, bytecode
included) on ``/opt/python``, imports the handler from a read-only ``/var/task``
and runs the module's init. The bench rebuilds that picture locally:

- Python 3.13 (the runtime's version), found the way the layer build finds it;
  without one the bench still runs on this interpreter and says so.
- ``opt/python``: the layer built by its own Makefile (``build-SharedLayer``),
  for this machine's platform instead of arm64, so its compiled wheels load.
- ``runtime``: boto3 and its dependencies at the locked versions, precompiled,
  and nothing else (the dev environment's pyOpenSSL/awscrt, which botocore
  imports when present, are not there; neither are they on Lambda).
- ``task``: the function's ``app.py`` alone; nothing writes bytecode (-B), as on
  a read-only file system.

The floor is ``import boto3; boto3.client("dynamodb")`` in the same environment:
the least any Python Lambda that talks to AWS pays. Each function run is paired
with a floor run right before it (interleaved, so a noisy neighbour hurts both
alike) and the figures are the min and median of the paired ratios.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from handoff_dev.embedded.stack import PROJECT_ROOT

FUNCTIONS_DIR = PROJECT_ROOT / "functions"
LAYER_DIR = PROJECT_ROOT / "layers" / "handoff"
BENCH_DIR = PROJECT_ROOT / ".bench" / "lambda-like"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")

# What a function builds on its first invocation that a warm one reuses (its "init"). Every other
# function's first invocation builds at least the DynamoDB client the floor builds (the call store,
# the review store, the notification ledger): leaving it out would let a function that creates its
# client lazily look cheaper than the floor while its first invocation pays the difference.
INIT_HOOKS: dict[str, str] = {
    "ingest": "handoff.ingest.wiring:service",
    "customer_sync": "handoff.partners.dispatch:default_consumer",
    "partner_ingest": "handoff.aws:client:events",  # its publisher creates this client on first use
    "policy_validator": "handoff.aws:client:appconfig",
}
DEFAULT_INIT_HOOK = "handoff.aws:client:dynamodb"

CHILD = r"""
import sys, time
t0 = time.perf_counter()
paths, mode = sys.argv[1].split(":"), sys.argv[2]
sys.path[:0] = [p for p in paths if p]
if mode == "floor":
    import boto3
    boto3.client("dynamodb")
else:
    import importlib
    import app
    hook = sys.argv[3]
    if hook:
        module, name, *args = hook.split(":")
        getattr(importlib.import_module(module), name)(*args)
print(f"{(time.perf_counter() - t0) * 1000:.3f}")
"""

LAMBDA_LIKE_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",  # Powertools Tracer patches as it does on Lambda (Tracing: Active)
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    "LAMBDA_TASK_ROOT": "/var/task",
    "POWERTOOLS_SERVICE_NAME": "handoff",
    "POWERTOOLS_METRICS_NAMESPACE": "Handoff",
    "HANDOFF_TABLE": "handoff-bench",
    "HANDOFF_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:handoff-bench",
    "HANDOFF_WEBHOOK_SECRET_ID": "handoff-bench-webhook",
    "HANDOFF_PARTNER_SECRET": "handoff-bench-partners",
    "HANDOFF_REVIEW_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/review",
}


@dataclass(frozen=True)
class ColdStart:
    function: str
    median_ms: float
    floor_ms: float
    runs: int
    ratio_min: float
    ratio_median: float

    @property
    def ratio(self) -> float:
        return self.ratio_median


@dataclass(frozen=True)
class LambdaLike:
    """Where the interpreter, the layer and the runtime's boto3 are, and how faithful that is."""

    python: str
    python_version: str
    layer: Path
    runtime: Path
    task_root: Path
    faithful: bool
    note: str

    def describe(self) -> dict[str, Any]:
        return {
            "python": self.python_version,
            "layer": "sam build's layer Makefile, this machine's platform, bytecode as shipped",
            "runtime": "boto3 + botocore precompiled, nothing else",
            "faithful": self.faithful,
            "note": self.note,
        }


def functions() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/app.py"))


def find_python313() -> str | None:
    """The runtime's Python: what uv finds, else a pyenv install (the layer Makefile looks the same way)."""
    uv = _uv()
    found = subprocess.run(  # noqa: S603
        [uv, "python", "find", "--no-python-downloads", "3.13"], capture_output=True, text=True, check=False
    )
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    return candidates[-1] if candidates else None


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv") or os.path.expanduser("~/.local/bin/uv")


def _platform_tag() -> str:
    machine = os.uname().machine
    return f"{'aarch64' if machine in ('arm64', 'aarch64') else machine}-manylinux_2_28"


def _locked_runtime() -> list[str]:
    """boto3 and its dependencies at the versions in uv.lock (Lambda ships a boto3 of its own; close enough)."""
    text = (PROJECT_ROOT / "uv.lock").read_text()
    pins = []
    for name in RUNTIME_PACKAGES:
        marker = f'name = "{name}"\nversion = "'
        at = text.find(marker)
        pins.append(f"{name}=={text[at + len(marker) : text.find(chr(34), at + len(marker))]}" if at >= 0 else name)
    return pins


def _fingerprint() -> str:
    digest = hashlib.sha256()
    inputs = [
        *LAYER_DIR.joinpath("handoff").rglob("*.py"),
        LAYER_DIR / "Makefile",
        LAYER_DIR / "requirements.txt",  # its export options change the layer without touching uv.lock
        PROJECT_ROOT / "uv.lock",
    ]
    for path in sorted(inputs):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def prepare(root: Path = BENCH_DIR) -> LambdaLike:
    """Build (or reuse) the Lambda-like environment: layer, runtime packages, task roots."""
    python = find_python313()
    interpreter = python or sys.executable
    version = subprocess.run(  # noqa: S603
        [interpreter, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stamp = root / "fingerprint"
    fingerprint = f"{_fingerprint()}-{version}"
    layer, runtime, task_root = root / "opt", root / "runtime", root / "task"
    if not (stamp.exists() and stamp.read_text() == fingerprint):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        env = {**os.environ, "UV": _uv()}
        make_vars = [f"ARTIFACTS_DIR={layer}", f"LAYER_PLATFORM={_platform_tag()}", f"UV={_uv()}"]
        if python:
            make_vars.append(f"PY313={python}")
        subprocess.run(  # noqa: S603
            ["make", "-s", "-C", str(LAYER_DIR), "build-SharedLayer", *make_vars],  # noqa: S607
            check=True,
            env=env,
            capture_output=True,
        )
        subprocess.run(  # noqa: S603
            [
                _uv(),
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                version.rsplit(".", 1)[0],
                "--python-platform",
                _platform_tag(),
                "--target",
                str(runtime),
                *_locked_runtime(),
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run([interpreter, "-m", "compileall", "-q", "-j", "0", str(runtime)], check=True)  # noqa: S603
        stamp.write_text(fingerprint)
    for function in functions():
        target = task_root / function
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(FUNCTIONS_DIR / function / "app.py", target / "app.py")
    note = "" if python else f"no Python 3.13 here: measured on {version}, which Lambda does not run"
    return LambdaLike(interpreter, version, layer / "python", runtime, task_root, python is not None, note)


@cache
def _template_environment() -> dict[str, dict[str, str]]:
    """Each function's template variable names (values that are references become placeholders)."""

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        return {suffix: loader.construct_scalar(node)} if isinstance(node, yaml.ScalarNode) else None

    Loader.add_multi_constructor("!", tag)
    template = yaml.load((PROJECT_ROOT / "template.yaml").read_text(), Loader=Loader)  # noqa: S506  # nosec B506 - a SafeLoader subclass
    defaults = {k: str(v.get("Default", "")) for k, v in (template.get("Parameters") or {}).items()}

    def value(key: str, raw: Any) -> str:
        if isinstance(raw, str | int | float):
            return str(raw)
        if isinstance(raw, dict) and raw.get("Ref") in defaults:
            return defaults[raw["Ref"]]
        return f"bench-{key.lower()}"

    shared = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    by_code: dict[str, dict[str, str]] = {}
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        own = (props.get("Environment") or {}).get("Variables") or {}
        merged = {**shared, **own}
        name = Path(str(props.get("CodeUri", ""))).name
        by_code[name] = {k: value(k, v) for k, v in merged.items()}
    return by_code


def _env(function: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "HANDOFF_", "PYTHON"))}
    env.update(_template_environment().get(function, {}))
    env.update(LAMBDA_LIKE_ENV)
    if function:
        env["AWS_LAMBDA_FUNCTION_NAME"] = function
    return env


def _once(like: LambdaLike, mode: str, function: str = "") -> float:
    paths = [str(like.runtime)]
    if mode != "floor":
        paths[:0] = [str(like.task_root / function), str(like.layer)]
    args = [
        like.python,
        "-E",
        "-s",
        "-B",
        "-c",
        CHILD,
        ":".join(paths),
        mode,
        INIT_HOOKS.get(function, DEFAULT_INIT_HOOK),
    ]
    done = subprocess.run(args, env=_env(function), capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {function or 'floor'} failed: {done.stderr.strip()[-500:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(names: list[str] | None = None, runs: int = 9, like: LambdaLike | None = None) -> list[ColdStart]:
    """Paired (floor, function) cold starts, interleaved, ``runs`` pairs per function."""
    names = names or functions()
    like = like or prepare()
    _once(like, "floor")  # warm the OS file cache once for everyone
    for name in names:
        _once(like, "function", name)
    pairs: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for _ in range(runs):
        for name in names:
            floor = _once(like, "floor")
            pairs[name].append((floor, _once(like, "function", name)))
    results = []
    for name in names:
        ratios = [f / b for b, f in pairs[name]]
        results.append(
            ColdStart(
                function=name,
                median_ms=statistics.median(f for _, f in pairs[name]),
                floor_ms=statistics.median(b for b, _ in pairs[name]),
                runs=runs,
                ratio_min=min(ratios),
                ratio_median=statistics.median(ratios),
            )
        )
    return results


def code_dir(function: str) -> Path:
    return FUNCTIONS_DIR / function
