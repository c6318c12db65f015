"""Lambda entry point: `face_recognizer.handler.handler`.

Settings, face database and models are loaded when Lambda imports this module (its init phase),
once per process, and reused while the container stays warm. A misconfiguration fails here, at
start-up, with one StartupError naming the variable or file, before any request is taken.
"""

from __future__ import annotations

import time
from typing import Any

from face_recognizer.service import start

_service = start()

# Time kept back so a timeline that cannot finish fails naming its object before Lambda ends it.
_REPORT_MARGIN_S = 3.0


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", None)
    return {"results": _service.handle_event(event, request_id=request_id, deadline=deadline(context))}


def deadline(context: object) -> float | None:
    """When the invocation must have written its results (time.monotonic()); None without a context."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining_ms):
        return None
    return time.monotonic() + remaining_ms() / 1000 - _REPORT_MARGIN_S
