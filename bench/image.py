"""How big the recognizer image's own layers are: what its runtime stage adds to the Lambda base image
(docker/recognizer.Dockerfile): the distributions requirements/recognizer.txt pins, the exported
graphs, the face database and the function's code. Measured from the files this machine has (no
Docker here), uncompressed and as gzip compresses them (ECR stores and bills compressed layers).
The base image itself is not measured: the cost plan adds a named estimate of it (bench/plan.py)."""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata as md
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import Requirement

from components.project import FUNCTIONS_DIR, PROJECT_DIR

if TYPE_CHECKING:
    from components.settings import StackSettings

REQUIREMENTS = PROJECT_DIR / "requirements" / "recognizer.txt"
CODE = ("face_recognizer", "pipeline_common")  # what the Dockerfile copies into /var/task


class _Counter:
    """A write-only sink that counts the bytes written to it."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def pinned_distributions(requirements: Path = REQUIREMENTS) -> list[str]:
    names = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(Requirement(line).name)
    return names


def _distribution_files(name: str) -> Iterator[Path]:
    dist = md.distribution(name)
    for f in dist.files or []:
        path = Path(str(dist.locate_file(f)))
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


def image_files(models: Path, face_database: Path) -> dict[str, list[Path]]:
    """The files of each part the runtime stage adds, found on this machine."""
    parts = {name: list(_distribution_files(name)) for name in pinned_distributions()}
    parts["models"] = sorted(p for p in Path(models).rglob("*") if p.is_file())
    parts["face database"] = [Path(face_database)]
    parts["code"] = sorted(
        p for package in CODE for p in (FUNCTIONS_DIR / package).rglob("*.py") if "__pycache__" not in p.parts
    )
    return parts


def measure(models: Path, face_database: Path) -> dict:
    """Bytes of each part, their total, and the total as one gzip'd tar (what a pushed layer weighs)."""
    parts = image_files(models, face_database)
    counter = _Counter()
    with (
        gzip.GzipFile(fileobj=counter, mode="wb", compresslevel=6, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for files in parts.values():
            for path in files:
                tar.add(str(path), arcname=str(path), recursive=False)
    sizes = {name: sum(p.stat().st_size for p in files) for name, files in parts.items()}
    return {"parts_bytes": sizes, "bytes": sum(sizes.values()), "gzip_bytes": counter.bytes}


def bench_image(args: argparse.Namespace, settings: StackSettings) -> dict:
    """What the recognizer image adds to its base (bench/image.py): for ECR storage in the cost plan."""
    from bench.alone import database_file

    print("[bench] the recognizer image's own layers: sizes, and gzip'd", file=sys.stderr)
    return measure(args.model_dir, database_file(settings))
