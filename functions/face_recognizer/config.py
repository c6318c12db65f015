"""The recognizer's settings, read once per process from the environment.

components/topology.py `environment` decides what these variables hold; this module only
reads and validates them, so a bad deployment fails at start-up with a message naming the variable
instead of failing mid-request.

The face database is either a file (FACE_DB_PATH: baked into the image) or live (FACE_DB_BUCKET and
FACE_DB_KEY: the stack's faces bucket, checked for a new version at most every
FACE_DB_RELOAD_SECONDS); exactly one of the two is set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline_common.env import DEFAULT_MAX_FRAMES, DEFAULT_TRACKING_SECONDS, FIRST_FRAME, TIMELINE, ConfigError, Env

MAX_THREADS = 64
MAX_RELOAD_SECONDS = 3600


@dataclass(frozen=True)
class LiveDatabaseConfig:
    bucket: str
    key: str
    reload_s: float  # at most this long between a new version's upload and its first use; 0: every frame

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


# The embedding network's precision (MODEL_PRECISION, from the stack's recognizerPrecision): the image
# holds the graph of that precision (tools/export_models.py; int8 only after its agreement gate).
PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class RecognizerConfig:
    output_bucket: str
    face_db_path: Path | None  # the database file; None when the database is live
    model_dir: Path  # the exported graphs (tools/export_models.py)
    threads: int | None  # None: ONNX Runtime's default (one per visible core)
    distance_threshold: float | None  # None: always report the nearest name
    log_level: str = "INFO"
    live_database: LiveDatabaseConfig | None = None  # set exactly when face_db_path is None
    precision: str = "fp32"  # the embedding network's: PRECISIONS
    # ANALYSIS: first-frame (a frame in, <stem>.txt out) or timeline (a video's sampled frames in,
    # <stem>.json and <stem>.txt out); MAX_FRAMES bounds the frames one timeline object may hold.
    analysis: str = FIRST_FRAME
    max_frames: int = DEFAULT_MAX_FRAMES
    tracking_s: float = DEFAULT_TRACKING_SECONDS  # TRACKING_SECONDS: face_recognizer.tracking; 0: off

    @property
    def timeline(self) -> bool:
        return self.analysis == TIMELINE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RecognizerConfig:
        env = Env(environ)
        live = _live_database(env)
        return cls(
            output_bucket=env.bucket("OUTPUT_BUCKET", receives="<stem>.txt results"),
            face_db_path=None
            if live
            else env.existing_path(
                "FACE_DB_PATH", names="the face database file ([embeddings, names]; or FACE_DB_BUCKET, for a live one)"
            ),
            model_dir=env.existing_path(
                "MODEL_DIR", directory=True, names="the folder of exported models (tools/export_models.py)"
            ),
            threads=_threads(env),
            distance_threshold=env.distance_or_off("DISTANCE_THRESHOLD"),
            log_level=env.log_level(),
            live_database=live,
            precision=_precision(env),
            analysis=env.analysis(),
            max_frames=env.max_frames(),
            tracking_s=env.tracking_seconds(),
        )


def _live_database(env: Env) -> LiveDatabaseConfig | None:
    if not env.get("FACE_DB_BUCKET"):
        for name in ("FACE_DB_KEY", "FACE_DB_RELOAD_SECONDS"):
            if env.get(name):
                raise ConfigError(f"{name} is set but FACE_DB_BUCKET is not: a live face database needs its bucket")
        return None
    if env.get("FACE_DB_PATH"):
        raise ConfigError(
            "FACE_DB_PATH and FACE_DB_BUCKET are both set: the face database is either a file or live, not both"
        )
    bucket = env.bucket("FACE_DB_BUCKET", receives="the live face database")
    key = env.get("FACE_DB_KEY")
    if not key:
        raise ConfigError("FACE_DB_KEY is not set: it names the live face database's object in FACE_DB_BUCKET")
    raw = env.get("FACE_DB_RELOAD_SECONDS")
    if not raw:
        raise ConfigError("FACE_DB_RELOAD_SECONDS is not set: how often to look for a new version of the database")
    try:
        reload_s = float(raw)
    except ValueError:
        raise ConfigError(f"FACE_DB_RELOAD_SECONDS={raw!r} is not a number of seconds") from None
    if not (math.isfinite(reload_s) and 0 <= reload_s <= MAX_RELOAD_SECONDS):
        raise ConfigError(f"FACE_DB_RELOAD_SECONDS={raw} is outside 0..{MAX_RELOAD_SECONDS}")
    return LiveDatabaseConfig(bucket, key, reload_s)


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
