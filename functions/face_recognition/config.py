"""The recognizer's settings, read once per process from the environment.

components/topology.py `environment` decides what these variables hold; this module only
reads and validates them, so a bad deployment fails at start-up with a message naming the variable
instead of failing mid-request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline_common.env import ConfigError, Env

MAX_THREADS = 64
# The embedding network's precision (MODEL_PRECISION, from the stack's recognizerPrecision): the image
# holds the graph of that precision (tools/export_models.py; int8 only after its agreement gate).
PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class RecognizerConfig:
    output_bucket: str
    face_db_path: Path
    model_dir: Path  # the exported graphs (tools/export_models.py)
    threads: int | None  # None: ONNX Runtime's default (one per visible core)
    distance_threshold: float | None  # None: always report the nearest name
    log_level: str = "INFO"
    precision: str = "fp32"  # the embedding network's: PRECISIONS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RecognizerConfig:
        env = Env(environ)
        return cls(
            output_bucket=env.bucket("OUTPUT_BUCKET", receives="<stem>.txt results"),
            face_db_path=env.existing_path("FACE_DB_PATH", names="the face database file ([embeddings, names])"),
            model_dir=env.existing_path(
                "MODEL_DIR", directory=True, names="the folder of exported models (tools/export_models.py)"
            ),
            threads=_threads(env),
            distance_threshold=env.distance_or_off("DISTANCE_THRESHOLD"),
            log_level=env.log_level(),
            precision=_precision(env),
        )


def _precision(env: Env) -> str:
    raw = env.get("MODEL_PRECISION") or PRECISIONS[0]
    if raw not in PRECISIONS:
        raise ConfigError(f"MODEL_PRECISION={raw!r} is not one of {', '.join(PRECISIONS)}")
    return raw


def _threads(env: Env) -> int | None:
    raw = env.get("MODEL_THREADS")
    if not raw:
        return None
    try:
        threads = int(raw)
    except ValueError:
        raise ConfigError(f"MODEL_THREADS={raw!r} is not a whole number") from None
    if not 1 <= threads <= MAX_THREADS:
        raise ConfigError(f"MODEL_THREADS={threads} is outside 1..{MAX_THREADS}")
    return threads
