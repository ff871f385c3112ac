"""Artifact size: each function and layer directory of ``sam build`` output, zipped as SAM uploads it."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from handoff_dev.embedded.stack import PROJECT_ROOT

BUILD_DIR = PROJECT_ROOT / ".aws-sam" / "build"


@dataclass(frozen=True)
class Artifact:
    name: str
    files: int
    unzipped_mb: float
    zipped_mb: float


def zipped_size(directory: Path) -> tuple[int, int, int]:
    """(files, bytes unzipped, bytes zipped with deflate) of a directory tree."""
    buffer = io.BytesIO()
    files = raw = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for root, _, names in os.walk(directory):
            for name in sorted(names):
                path = Path(root) / name
                archive.write(path, path.relative_to(directory))
                files += 1
                raw += path.stat().st_size
    return files, raw, len(buffer.getvalue())


def measure(build_dir: Path = BUILD_DIR) -> list[Artifact]:
    if not build_dir.is_dir():
        raise FileNotFoundError(f"{build_dir} is missing: run `make build` first")
    artifacts = []
    for directory in sorted(p for p in build_dir.iterdir() if p.is_dir()):
        files, raw, zipped = zipped_size(directory)
        artifacts.append(Artifact(directory.name, files, raw / 1e6, zipped / 1e6))
    return artifacts
