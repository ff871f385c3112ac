"""The shared layer leaves out what no function imports (layers/handoff/Makefile, PRUNE; Makefile, the
requirements export). These tests keep that true as Handoff's code changes: everything Handoff imports,
including its lazy imports and the python-stdnum validators it names, must import with the pruned
modules made unimportable, and without ever loading a stdnum module whose data file the layer drops.

A unit test cannot see a layer (the dev environment has every package whole); the Makefile's list is
the contract, read here. `make bench` and the cold-start import check run the built layer itself.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "handoff"
SOURCES = sorted([*(LAYER / "handoff").rglob("*.py"), *(ROOT / "functions").glob("*/app.py")])

# Packages the requirements export leaves out that Handoff must not import itself (botocore, which the
# runtime brings with its own dateutil and six, may).
NOT_IN_LAYER = ("dateutil", "six", "dns")


def pruned_entries() -> list[str]:
    entries: list[str] = []
    for line in (LAYER / "Makefile").read_text().splitlines():
        if line.startswith("PRUNE +="):
            entries += line.split("=", 1)[1].split("#", 1)[0].split()
    return entries


def imported_names(path: Path) -> set[str]:
    """Absolute imports of a module, as ``module`` and ``module.name`` (a name may be a submodule)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}:{alias.name}" for alias in node.names)
    return names


PROBE = r"""
import fnmatch, importlib, importlib.abc, importlib.util, json, pkgutil, re, sys
from pathlib import Path

patterns, data_files, imports, literals = json.load(sys.stdin)

# stdnum modules that read a data file the layer drops (numdb.get('oui'), numdb.get(f'eu/nace{rev}')).
stdnum_root = Path(importlib.util.find_spec("stdnum").origin).parent
for path in stdnum_root.rglob("*.py"):
    for literal in re.findall(r"numdb\.get\((f?'[^']*')", path.read_text()):
        prefix = literal.lstrip("f").strip("'").split("{")[0]
        if any(name == prefix or (literal.startswith("f") and name.startswith(prefix)) for name in data_files):
            module = ".".join(path.relative_to(stdnum_root.parent).with_suffix("").parts)
            patterns.append(module.removesuffix(".__init__"))

def pruned(name):
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name, p + ".*") for p in patterns)

class Pruned(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if pruned(name):
            raise ModuleNotFoundError(f"{name} is not in the layer (layers/handoff/Makefile PRUNE)", name=name)
        return None

sys.meta_path.insert(0, Pruned())
import handoff
for info in pkgutil.walk_packages(handoff.__path__, "handoff."):
    importlib.import_module(info.name)
for name in imports:
    module, _, attribute = name.partition(":")
    loaded = importlib.import_module(module)
    if attribute and not hasattr(loaded, attribute):
        importlib.import_module(f"{module}.{attribute}")
    elif attribute:
        getattr(loaded, attribute)
# python-stdnum modules named in strings where Handoff uses stdnum (redact's validators, imported on
# first need), then every VAT scheme eu.vat imports, country by country.
for literal in literals:
    if not re.fullmatch(r"[a-z]{2,}(\.[a-z_]+)?", literal):
        continue
    if importlib.util.find_spec(f"stdnum.{literal.split('.')[0]}") is None:
        continue
    spec = importlib.util.find_spec(f"stdnum.{literal}")
    if spec is not None and spec.submodule_search_locations is None:  # a validator module, not a country
        importlib.import_module(f"stdnum.{literal}")
from stdnum.eu import vat
for cc in sorted(vat.MEMBER_STATES):  # what eu.vat.is_valid and guess_country import, country by country
    vat.is_valid(f"{cc.upper()}000000000")
from handoff.handlers import function_tracer
function_tracer()  # HANDOFF_TRACE_SUBSEGMENTS=true (TraceSubsegments): Powertools' Tracer, the X-Ray SDK
assert "aws_xray_sdk" in sys.modules
loaded = sorted(name for name in sys.modules if pruned(name))
assert not loaded, loaded
print("ok", len([m for m in sys.modules if m.startswith("stdnum.")]))
"""


def test_handoff_imports_nothing_the_layer_prunes() -> None:
    entries = pruned_entries()
    assert entries, "layers/handoff/Makefile lists no PRUNE entries"
    patterns = [
        entry.removesuffix(".py").replace("/", ".")
        for entry in entries
        if not entry.endswith((".dat", ".js", ".css")) and entry not in ("bin", ".lock")
    ]
    data_files = [entry.removeprefix("stdnum/").removesuffix(".dat") for entry in entries if entry.endswith(".dat")]
    imports = sorted(set().union(*(imported_names(path) for path in SOURCES)))
    literals = sorted(
        {
            node.value
            for path in SOURCES
            if "stdnum" in path.read_text()
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps([patterns, data_files, imports, literals]),
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={
            "PYTHONPATH": str(LAYER),
            "PATH": "/usr/bin:/bin",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "layer-diet",  # Powertools' Tracer patches as it does on Lambda
            "HANDOFF_TRACE_SUBSEGMENTS": "true",
        },
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok")


def test_handoff_does_not_import_what_the_requirements_leave_out() -> None:
    for path in SOURCES:
        for name in imported_names(path):
            top = re.split(r"[.:]", name)[0]
            assert top not in NOT_IN_LAYER, f"{path.relative_to(ROOT)} imports {name}, which the layer leaves out"
