"""Reading a function's settings from its environment, the same way in both functions: values
stripped, checked once at start-up, and every error naming the variable at fault."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# ANALYSIS (the stack's `analysis`; components.topology.ANALYSES names the same two), and the
# sampling's bounds, which components/settings.py checks the same way before a deploy.
FIRST_FRAME, TIMELINE = "first-frame", "timeline"
ANALYSES = (FIRST_FRAME, TIMELINE)
SAMPLE_FPS_RANGE = (0.01, 30.0)
MAX_FRAMES_RANGE = (1, 900)
# What a function takes when SAMPLE_FPS / MAX_FRAMES are unset: Pulumi.yaml's defaults.
DEFAULT_SAMPLE_FPS, DEFAULT_MAX_FRAMES = 1.0, 60
# TRACKING_SECONDS (timeline): a face followed between samples is embedded again after this long; 0:
# every sampled face is embedded (face_recognizer.tracking). The default is Pulumi.yaml's trackingSeconds.
TRACKING_SECONDS_RANGE = (0.0, 600.0)
DEFAULT_TRACKING_SECONDS = 5.0
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


OFF = ("", "0", "off", "none")  # how a setting that can be switched off says so


def distance_or_off(text: str) -> float | None:
    """A positive, finite number, or None for 'off'; ValueError saying what is wrong with `text`.

    The recognizer's DISTANCE_THRESHOLD and the stack's distanceThreshold setting both read it here."""
    if text.strip().lower() in OFF:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number (or 'off')") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{text!r} must be a positive number (or 'off')")
    return value


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


class Env:
    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def get(self, name: str) -> str:
        """The variable's value without surrounding whitespace; "" when unset."""
        return (self._environ.get(name) or "").strip()

    def bucket(self, name: str, *, receives: str) -> str:
        """A required bucket name; `receives` says what the function writes there."""
        value = self.get(name)
        if not value:
            raise ConfigError(f"{name} is not set: it names the bucket that receives {receives}")
        if not _BUCKET.match(value) or ".." in value:
            raise ConfigError(f"{name}={value!r} is not a valid S3 bucket name")
        return value

    def existing_path(self, name: str, *, names: str, directory: bool = False) -> Path:
        """A required file (or folder) that must exist at start-up; `names` says what it is."""
        value = self.get(name)
        if not value:
            raise ConfigError(f"{name} is not set: it names {names}")
        path = Path(value)
        if not (path.is_dir() if directory else path.is_file()):
            raise ConfigError(f"{name}={value}: no such {'directory' if directory else 'file'} (it must be {names})")
        return path

    def log_level(self) -> str:
        level = (self.get("LOG_LEVEL") or "INFO").upper()
        if level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL={self.get('LOG_LEVEL')!r} is not one of {', '.join(LOG_LEVELS)}")
        return level

    def distance_or_off(self, name: str) -> float | None:
        """A positive distance, or None when the variable is unset or 'off'."""
        try:
            return distance_or_off(self.get(name))
        except ValueError as error:
            raise ConfigError(f"{name}={error}") from None

    def analysis(self) -> str:
        """ANALYSIS: first-frame (also when unset: what every deployment before it did) or timeline."""
        value = self.get("ANALYSIS") or FIRST_FRAME
        if value not in ANALYSES:
            raise ConfigError(f"ANALYSIS={value!r} is not one of {', '.join(ANALYSES)}")
        return value

    def sample_fps(self) -> float:
        """SAMPLE_FPS: frames sampled per second of video (timeline)."""
        return self.number("SAMPLE_FPS", *SAMPLE_FPS_RANGE, default=DEFAULT_SAMPLE_FPS)

    def max_frames(self) -> int:
        """MAX_FRAMES: the most frames one video is sampled into (timeline)."""
        return int(self.number("MAX_FRAMES", *MAX_FRAMES_RANGE, default=DEFAULT_MAX_FRAMES, whole=True))

    def tracking_seconds(self) -> float:
        """TRACKING_SECONDS: how long a followed face keeps its embedding (timeline); 0: no tracking."""
        return self.number("TRACKING_SECONDS", *TRACKING_SECONDS_RANGE, default=DEFAULT_TRACKING_SECONDS)

    def number(self, name: str, lo: float, hi: float, *, default: float, whole: bool = False) -> float:
        """A number from lo to hi (a whole one when `whole`); `default` when unset."""
        raw = self.get(name)
        if not raw:
            return default
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a {'whole ' if whole else ''}number") from None
        if not lo <= value <= hi:  # refuses nan and inf too
            raise ConfigError(f"{name}={raw} is outside {lo:g}..{hi:g}")
        return value
