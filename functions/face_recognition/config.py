"""The recognizer's settings, read once per process from the environment.

components/settings.py `recognizer_environment` decides what these variables hold; this module only
reads and validates them, so a bad deployment fails at start-up with a message naming the variable
instead of failing mid-request.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from pipeline_common.env import ConfigError, Env

MAX_THREADS = 64
_OFF = ("", "off", "none", "0")


@dataclass(frozen=True)
class RecognizerConfig:
    output_bucket: str
    face_db_path: Path
    torch_home: Optional[Path]          # None: facenet-pytorch's default (~/.cache/torch)
    threads: Optional[int]              # None: leave torch's default
    distance_threshold: Optional[float]  # None: always report the nearest name
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "RecognizerConfig":
        env = Env(environ)
        get = env.get
        bucket = env.bucket("OUTPUT_BUCKET", receives="<stem>.txt results")

        db = get("FACE_DB_PATH")
        if not db:
            raise ConfigError("FACE_DB_PATH is not set: it names the face database file ([embeddings, names])")
        face_db_path = Path(db)
        if not face_db_path.is_file():
            raise ConfigError(f"FACE_DB_PATH={db}: no such file")

        home = get("TORCH_HOME")
        torch_home = Path(home) if home else None
        if torch_home is not None and not torch_home.is_dir():
            raise ConfigError(f"TORCH_HOME={home}: no such directory (it must hold checkpoints/ with the vggface2 weights)")

        threads: Optional[int] = None
        raw = get("TORCH_NUM_THREADS")
        if raw:
            try:
                threads = int(raw)
            except ValueError:
                raise ConfigError(f"TORCH_NUM_THREADS={raw!r} is not a whole number") from None
            if not 1 <= threads <= MAX_THREADS:
                raise ConfigError(f"TORCH_NUM_THREADS={threads} is outside 1..{MAX_THREADS}")

        threshold: Optional[float] = None
        raw = get("DISTANCE_THRESHOLD")
        if raw.lower() not in _OFF:
            try:
                threshold = float(raw)
            except ValueError:
                raise ConfigError(f"DISTANCE_THRESHOLD={raw!r} is not a number (or 'off')") from None
            if not (math.isfinite(threshold) and threshold > 0):
                raise ConfigError(f"DISTANCE_THRESHOLD={raw!r} must be a positive number (or 'off')")

        level = env.log_level()

        return cls(output_bucket=bucket, face_db_path=face_db_path, torch_home=torch_home,
                   threads=threads, distance_threshold=threshold, log_level=level)
