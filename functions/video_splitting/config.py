"""The splitter's settings, read once per process from the environment.

components/settings.py `splitter_environment` decides what these variables hold; this module only
reads and validates them, so a bad deployment fails at start-up with a message naming the variable
instead of failing mid-request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline_common.env import ConfigError, Env

DEFAULT_FFMPEG = "/opt/bin/ffmpeg"  # where the ffmpeg layer puts the binary (components.settings.LAYER_FFMPEG)

# A function name, or its full/partial ARN, optionally with a version or alias: what Invoke accepts.
_FUNCTION = re.compile(
    r"^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?"
    r"[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$"
)


@dataclass(frozen=True)
class SplitterConfig:
    stage1_bucket: str
    ffmpeg_path: str
    recognizer_function: str | None  # set only in direct-invocation wiring
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SplitterConfig:
        env = Env(environ)
        get = env.get
        bucket = env.bucket("STAGE1_BUCKET", receives="<stem>.jpg frames")

        ffmpeg_path = get("FFMPEG_PATH") or DEFAULT_FFMPEG
        if not os.path.isabs(ffmpeg_path):
            raise ConfigError(f"FFMPEG_PATH={ffmpeg_path!r} must be an absolute path to the ffmpeg binary")
        if not os.path.isfile(ffmpeg_path):
            where = "" if get("FFMPEG_PATH") else " (the default: is the ffmpeg layer attached?)"
            raise ConfigError(f"FFMPEG_PATH={ffmpeg_path}: no such file{where}")
        if not os.access(ffmpeg_path, os.X_OK):
            raise ConfigError(f"FFMPEG_PATH={ffmpeg_path}: not executable")

        recognizer = get("RECOGNIZER_FUNCTION") or None
        if recognizer is not None and not _FUNCTION.match(recognizer):
            raise ConfigError(f"RECOGNIZER_FUNCTION={recognizer!r} is not a Lambda function name or ARN")

        level = env.log_level()

        return cls(stage1_bucket=bucket, ffmpeg_path=ffmpeg_path, recognizer_function=recognizer, log_level=level)
