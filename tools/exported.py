"""The recognizer's models as the commands use them: one folder of exported ONNX graphs and its
manifest.json (the function's MODEL_DIR), resolved once where a command starts, from `--model-dir`
or exported from `--torch-home`'s weights. Only the model build (tools/modelbuild) reads weights."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.project import DEFAULT_TORCH_HOME
from face_recognizer.onnx_models import MANIFEST

if TYPE_CHECKING:
    from components.settings import StackSettings

MODEL_DIR_HELP = (
    "folder of the recognizer's exported models (manifest.json and its ONNX graphs, as "
    "`python -m tools.export_models --out` writes them); default: exported from --torch-home's weights"
)


def add_arguments(parser: argparse.ArgumentParser, *, torch_home_default: Path | None, torch_home_help: str) -> None:
    """`--model-dir` or `--torch-home` (the default when neither is given: `torch_home_default`, or, when that
    is None, $TORCH_HOME else data/torch)."""
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--model-dir", type=Path, help=MODEL_DIR_HELP)
    models.add_argument("--torch-home", type=Path, default=torch_home_default, help=torch_home_help)


def torch_home(args: argparse.Namespace) -> Path:
    """The weights' folder the arguments name."""
    return Path(args.torch_home or os.environ.get("TORCH_HOME") or DEFAULT_TORCH_HOME)


def resolve(
    args: argparse.Namespace, *, stand_in: bool = False, precision: str = "fp32", database: Path | None = None
) -> Path:
    """The models folder the arguments name: `--model-dir` as given, or the export of `--torch-home`'s
    weights for `precision` (made once per checkpoint and variant; with `stand_in`, from the untrained
    stand-in weights when there are none). FileNotFoundError names what is missing."""
    if args.model_dir is not None:
        folder = Path(args.model_dir).resolve()
        if not (folder / MANIFEST).is_file():
            raise FileNotFoundError(
                f"--model-dir {folder}: no {MANIFEST} there (python -m tools.export_models --out writes one)"
            )
        return folder
    from tools.modelbuild import weights
    from tools.modelbuild.export_models import ensure_exported

    home = torch_home(args).resolve()
    if stand_in:
        weights.prepare(home)
    started = time.monotonic()
    folder = ensure_exported(home, precision=precision, database=database)
    if time.monotonic() - started > 1:
        print(f"[models] exported the recognizer's models from {home} to {folder}", file=sys.stderr)
    return folder


def for_stack(args: argparse.Namespace, settings: StackSettings, *, stand_in: bool = False) -> Path:
    """The models the image build makes for these settings (their precision; a live database is not
    there at build time, so the int8 gate then checks cosines only, as the image build does)."""
    database = settings.face_database if isinstance(settings.face_database, Path) else None
    return resolve(args, stand_in=stand_in, precision=settings.recognizer_precision, database=database)


def manifest(model_dir: Path) -> dict[str, Any]:
    """What the export recorded: the graphs, their precision, and the weights they came from."""
    return dict(json.loads((Path(model_dir) / MANIFEST).read_text(encoding="utf-8")))


def untrained(model_dir: Path) -> bool:
    """True when the graphs were exported from the untrained stand-in weights."""
    return bool(manifest(model_dir).get("untrained"))


def banner(model_dir: Path) -> str:
    """What every run on stand-in weights prints where it cannot scroll away."""
    from tools.modelbuild import weights

    return weights.banner(Path(manifest(model_dir).get("source", model_dir)))
