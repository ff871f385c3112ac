"""``make bench`` entry point: figures, not pass/fail (see tools/handoff_dev/bench/)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "handoff"), str(ROOT / "tools")]

from handoff_dev.bench.runner import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
