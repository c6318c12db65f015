"""One JSON object per log line, so CloudWatch Logs Insights (and the local stack) can query fields.

Only what the code passes explicitly is logged: never the event, environment or credentials.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time


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


def fields(**values) -> dict:
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
