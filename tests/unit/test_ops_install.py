"""The operator CLI installs on its own (`pip install ".[ops]"`): no moto, SAM or sandboxes behind the ops commands."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from handoff_dev.cli_errors import DEV_ONLY_MODULES, DEV_ONLY_PACKAGES, describe

ROOT = Path(__file__).resolve().parents[2]


def test_loading_the_cli_imports_nothing_of_the_development_environment() -> None:
    script = (
        "import sys, handoff_dev.cli\n"
        f"dev = {DEV_ONLY_MODULES!r}; parts = {DEV_ONLY_PACKAGES!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in dev or m.startswith(parts)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]"


def test_the_ops_extra_brings_the_cli_and_the_wheel_leaves_the_development_parts_out() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ops = project["project"]["optional-dependencies"]["ops"]
    assert {d.split(">")[0] for d in ops} == {"typer", "rich"}
    excluded = project["tool"]["hatch"]["build"]["targets"]["wheel"]["exclude"]
    assert sorted(p.removeprefix("tools/").replace("/", ".") for p in excluded) == sorted(DEV_ONLY_PACKAGES)


def test_a_development_command_in_the_ops_install_says_what_to_install() -> None:
    failure = describe(ModuleNotFoundError("No module named 'handoff_dev.embedded'", name="handoff_dev.embedded"))
    assert failure.exit_code == 5
    assert "make install" in failure.line() and ".[ops]" in failure.line()
