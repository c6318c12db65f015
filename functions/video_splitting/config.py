"""The splitter's settings, read once per process from the environment.

components/topology.py `environment` decides what these variables hold; this module only
reads and validates them, so a bad deployment fails at start-up with a message naming the variable
instead of failing mid-request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline_common.env import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_SAMPLE_FPS,
    FIRST_FRAME,
    MAX_FRAMES_RANGE,
    SAMPLE_FPS_RANGE,
    TIMELINE,
    ConfigError,
    Env,
)

DEFAULT_FFMPEG = "/opt/bin/ffmpeg"  # where the ffmpeg layer puts the binary (components.topology.LAYER_FFMPEG)

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
    # ANALYSIS: first-frame (the first frame as <stem>.jpg) or timeline (sampled frames as one <stem>.tar)
    analysis: str = FIRST_FRAME
    sample_fps: float = DEFAULT_SAMPLE_FPS  # SAMPLE_FPS, timeline only
    max_frames: int = DEFAULT_MAX_FRAMES  # MAX_FRAMES, timeline only: the most frames one segment holds
    state_machine: str | None = None  # STATE_MACHINE_NAME, timeline only: it runs one execution per video

    def __post_init__(self) -> None:
        """The sampling bounds hold however the settings are made (from_env, or a caller's own): a
        tiny rate would make the interval between samples infinite, which no JSON may hold."""
        lo, hi = SAMPLE_FPS_RANGE
        if not lo <= self.sample_fps <= hi:  # nan too
            raise ConfigError(f"sample_fps={self.sample_fps!r} is outside {lo:g}..{hi:g}")
        if not MAX_FRAMES_RANGE[0] <= self.max_frames <= MAX_FRAMES_RANGE[1]:
            raise ConfigError(f"max_frames={self.max_frames!r} is outside {MAX_FRAMES_RANGE[0]}..{MAX_FRAMES_RANGE[1]}")

    @property
    def timeline(self) -> bool:
        return self.analysis == TIMELINE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SplitterConfig:
        env = Env(environ)
        return cls(
            stage1_bucket=env.bucket("STAGE1_BUCKET", receives="<stem>.jpg frames"),
            ffmpeg_path=_ffmpeg_path(env),
            recognizer_function=_recognizer(env),
            log_level=env.log_level(),
            analysis=env.analysis(),
            sample_fps=env.sample_fps(),
            max_frames=env.max_frames(),
            state_machine=env.get("STATE_MACHINE_NAME") or None,
        )


def _ffmpeg_path(env: Env) -> str:
    path = env.get("FFMPEG_PATH") or DEFAULT_FFMPEG
    if not os.path.isabs(path):
        raise ConfigError(f"FFMPEG_PATH={path!r} must be an absolute path to the ffmpeg binary")
    if not os.path.isfile(path):
        where = "" if env.get("FFMPEG_PATH") else " (the default: is the ffmpeg layer attached?)"
        raise ConfigError(f"FFMPEG_PATH={path}: no such file{where}")
    if not os.access(path, os.X_OK):
        raise ConfigError(f"FFMPEG_PATH={path}: not executable")
    return path


def _recognizer(env: Env) -> str | None:
    """Set only in direct-invocation wiring."""
    name = env.get("RECOGNIZER_FUNCTION") or None
    if name is not None and not _FUNCTION.match(name):
        raise ConfigError(f"RECOGNIZER_FUNCTION={name!r} is not a Lambda function name or ARN")
    return name
