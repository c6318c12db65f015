"""One JSON object per log line, so CloudWatch Logs Insights (and the local stack) can query fields.

Only what the code passes explicitly is logged: never the event, environment or credentials.
Every line written while an invocation is handled carries its request id (`request(...)`), so one
invocation's lines can be found together in CloudWatch.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


@contextmanager
def request(request_id: str | None) -> Iterator[None]:
    """Every line logged inside carries `request_id` (Lambda's aws_request_id)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "level": record.levelname,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "service": self.service,
            "message": record.getMessage(),
        }
        request_id = _request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def get_logger(service: str) -> logging.Logger:
    """A logger writing JSON lines to stderr at LOG_LEVEL (default INFO)."""
    logger = logging.getLogger(service)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter(service))
        logger.addHandler(handler)
        logger.propagate = False  # Lambda's root handler would print every line twice
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    return logger


def fields(**values: object) -> dict[str, dict[str, object]]:
    """`logger.info("msg", extra=fields(key=...))` attaches structured fields to one line."""
    return {"fields": values}


def log_startup_failure(service: str, message: str, error_type: str) -> None:
    """Log why a function could not start, unless LOG_LEVEL itself is the bad setting (then the
    StartupError the caller raises is all Lambda shows)."""
    try:
        logger = get_logger(service)
    except ValueError:
        return
    logger.error("start-up failed", extra=fields(error=message, error_type=error_type))


class Laps:
    """Stage timings, in milliseconds, for a function's one log line per object.

    laps = Laps()
    download(...); laps.lap("download")
    run_ffmpeg(...); laps.lap("ffmpeg")
    log.info("frame written", extra=fields(ms=laps.ms()))  # {"download": 5.1, "ffmpeg": 23.2, "total": 28.3}
    """

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.stages: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        """The time since the previous lap belongs to `stage`."""
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + (now - self.last) * 1000
        self.last = now

    def add(self, stages: dict[str, float]) -> None:
        """Stages timed elsewhere, which together took the time since the previous lap."""
        self.stages.update(stages)
        self.last = time.perf_counter()

    def ms(self) -> dict[str, float]:
        """Every stage and the total, rounded to a tenth of a millisecond."""
        return {k: round(v, 1) for k, v in {**self.stages, "total": (self.last - self.started) * 1000}.items()}
