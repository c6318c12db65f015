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
    if isinstance(event, dict) and event.get("action") in ("recognise", "merge"):  # a timeline execution's task
        return segment_task(event, request_id, deadline(context))
    return {"results": _service.handle_event(event, request_id=request_id, deadline=deadline(context))}


def segment_task(event: dict, request_id: str | None, until: float | None) -> dict:
    """A timeline execution's task (face_recognizer.segments): one segment, or the merge."""
    from face_recognizer import segments
    from pipeline_common.log import request

    with request(request_id):
        if event["action"] == "merge":
            return segments.merge(_service, event)
        return segments.recognise(_service, event, until)


def deadline(context: object) -> float | None:
    """When the invocation must have written its results (time.monotonic()); None without a context."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining_ms):
        return None
    return time.monotonic() + remaining_ms() / 1000 - _REPORT_MARGIN_S
