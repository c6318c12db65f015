"""Lambda entry point: `face_recognizer.handler.handler`.

Settings, face database and models are loaded when Lambda imports this module (its init phase),
once per process, and reused while the container stays warm. A misconfiguration fails here, at
start-up, with one StartupError naming the variable or file, before any request is taken.

A failure that would recur on every retry (a timeline too long for the timeout) is dead-lettered at
once when DEAD_LETTER_QUEUE names the function's queue (pipeline_common.dead_letter).
"""

from __future__ import annotations

import os
import time
from typing import Any

from face_recognizer.service import start
from pipeline_common import aws, dead_letter
from pipeline_common.log import fields

_service = start()
_DEAD_LETTER_QUEUE = os.environ.get("DEAD_LETTER_QUEUE") or None

# Time kept back so a timeline that cannot finish fails naming its object before Lambda ends it.
_REPORT_MARGIN_S = 3.0


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", None)
    # a timeline execution's task
    if isinstance(event, dict) and event.get("action") in ("recognise", "merge", "cleanup"):
        return segment_task(event, request_id, deadline(context))
    try:
        return {"results": _service.handle_event(event, request_id=request_id, deadline=deadline(context))}
    except Exception as exc:
        if not (getattr(exc, "permanent", False) and _DEAD_LETTER_QUEUE):
            raise
        try:
            sent = dead_letter.send(aws.client("sqs"), event, exc, context=context, queue_name=_DEAD_LETTER_QUEUE)
        except Exception as failed:  # the queue out of reach: Lambda's retries and destination still apply
            _service.log.error("could not dead-letter a permanent failure", extra=fields(error=str(failed)))
            raise exc from None
        _service.log.error(
            "permanent failure dead-lettered without retries",
            extra=fields(error=str(exc), error_type=type(exc).__name__, queue=_DEAD_LETTER_QUEUE, message_id=sent),
        )
        return {"dead_lettered": {"errorType": type(exc).__name__, "errorMessage": str(exc)}}


def segment_task(event: dict, request_id: str | None, until: float | None) -> dict:
    """A timeline execution's task (face_recognizer.segments): one segment, or the merge."""
    from face_recognizer import segments
    from pipeline_common.log import request

    with request(request_id):
        if event["action"] == "merge":
            return segments.merge(_service, event)
        if event["action"] == "cleanup":
            return segments.cleanup(_service, event)
        return segments.recognise(_service, event, until)


def deadline(context: object) -> float | None:
    """When the invocation must have written its results (time.monotonic()); None without a context."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining_ms):
        return None
    return time.monotonic() + remaining_ms() / 1000 - _REPORT_MARGIN_S
