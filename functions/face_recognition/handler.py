"""Lambda entry point: `face_recognition.handler.handler`.

Settings, face database and models are loaded when Lambda imports this module (its init phase),
once per process, and reused while the container stays warm. A misconfiguration fails here, at
start-up, with one StartupError naming the variable or file, before any request is taken.
"""

from __future__ import annotations

from face_recognition.service import start

_service = start()


def handler(event, context):
    request_id = getattr(context, "aws_request_id", None)
    return {"results": _service.handle_event(event, request_id=request_id)}
