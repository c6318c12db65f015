"""Lambda entry point: `video_splitting.handler.handler`.

Settings, the ffmpeg check and the AWS clients happen when Lambda imports this module (its init
phase), once per process, and are reused while the container stays warm. A misconfiguration fails
here, at start-up, with one StartupError naming the variable, before any request is taken.
"""

from __future__ import annotations

from typing import Any

from video_splitting.ffmpeg import DEFAULT_TIMEOUT_S, SAMPLE_TIMEOUT_S
from video_splitting.service import start

_splitter = start()

# Time kept back from ffmpeg so a failure is reported before Lambda's own timeout ends the invocation.
_REPORT_MARGIN_S = 3.0


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(event, dict) and event.get("action") == "sample":  # a timeline execution's segment
        return sample(event, request_id, ffmpeg_timeout(context, SAMPLE_TIMEOUT_S))
    # analysis timeline decodes the whole video: only the invocation's own time bounds ffmpeg then.
    limit = SAMPLE_TIMEOUT_S if _splitter.config.timeline else DEFAULT_TIMEOUT_S
    frames = _splitter.handle_event(event, request_id=request_id, timeout_s=ffmpeg_timeout(context, limit))
    return {"frames": frames}


def sample(event: dict, request_id: str | None, timeout_s: float) -> dict:
    """One segment of a timeline execution (video_splitting.segments); a failure raises, naming it,
    so the state machine retries it and then fails the video."""
    from pipeline_common.log import request
    from video_splitting.segments import Segmenter

    with request(request_id):
        return Segmenter(_splitter).sample(event, timeout_s=timeout_s)


def ffmpeg_timeout(context: object, limit: float = DEFAULT_TIMEOUT_S) -> float:
    """ffmpeg's time limit for one video: `limit`, or less when the invocation has less left."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining_ms):
        return limit
    return max(1.0, min(limit, remaining_ms() / 1000 - _REPORT_MARGIN_S))
