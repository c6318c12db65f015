"""analysis: timeline: how a video is cut into segments, what names an execution, where a segment's
objects live. Plain data, shared by the splitter (plans, samples), the recognizer (recognises,
merges) and the state machine's input (components/state_machine.py).

A segment is `maxFrames / sampleFps` seconds (60 s at the defaults): exactly what one frames object
may hold, so each function holds one segment's frames, never the video's. Segment boundaries fall
on the sampling grid (k / sampleFps), so sampling segment by segment takes the same instants as
sampling the whole video at once, and a person seen across a boundary is one run of samples.

Keys: a segment's objects live in stage-1 under `segments/<quoted video key>/<upload tag>/`,
`00000.tar` (its frames) and `00000.json` (its faces). The video key is percent-quoted whole (no `/`
left), so two videos never share a folder and no upload's own frames key (`<stem>.tar`) can be
inside one; the upload tag (from the ETag) keeps a re-upload of the same key, started while the
first upload's execution still runs, from overwriting or cleaning up the other's segments.
"""

from __future__ import annotations

import hashlib
import math
import re
import urllib.parse
from dataclasses import dataclass

SEGMENTS_PREFIX = "segments/"
EXECUTION_NAME_MAX = 80  # Step Functions: 1-80 characters of A-Za-z0-9-_ (for CloudWatch's sake)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Segment:
    index: int
    start_s: float
    end_s: float

    def as_dict(self) -> dict:
        return {"index": self.index, "start_s": self.start_s, "end_s": self.end_s}

    def describe(self) -> str:
        return f"segment {self.index} ({self.start_s:g}-{self.end_s:g} s)"

    @classmethod
    def from_dict(cls, raw: dict) -> Segment:
        index, start, end = int(raw["index"]), float(raw["start_s"]), float(raw["end_s"])
        if index < 0 or not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
            raise ValueError(f"not a segment: {raw!r}")
        return cls(index, start, end)


def segment_seconds(sample_fps: float, max_frames: int) -> float:
    """A segment's length: as many sampling intervals as one frames object holds."""
    return max_frames / sample_fps


def plan(duration_s: float, sample_fps: float, max_frames: int) -> list[Segment]:
    """The segments covering [0, duration_s), each on the sampling grid; the last may be shorter."""
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"a video of {duration_s!r} s has nothing to sample")
    length = segment_seconds(sample_fps, max_frames)
    count = max(1, math.ceil(round(duration_s / length, 9)))
    return [
        Segment(i, round(i * length, 6), round(min(duration_s, (i + 1) * length), 6))
        for i in range(count)
        if i * length < duration_s
    ]


def execution_name(bucket: str, key: str, etag: str) -> str:
    """The one execution an upload gets: its key's readable tail and a hash of bucket, key and
    ETag, so a repeated notification or a re-upload of the same bytes names the same execution
    (Step Functions then starts no second one) and different uploads never share a name."""
    digest = hashlib.sha256(f"{bucket}\n{key}\n{etag.strip(chr(34))}".encode()).hexdigest()[:40]
    tail = _UNSAFE.sub("-", key.rsplit("/", 1)[-1]).strip("-")[: EXECUTION_NAME_MAX - len(digest) - 1]
    return f"{tail}-{digest}" if tail else digest


def upload_tag(etag: str) -> str:
    """Which upload of a key an execution's objects belong to (16 hex digits of the ETag's SHA-256)."""
    return hashlib.sha256(etag.strip('"').encode()).hexdigest()[:16]


def video_folder(video_key: str) -> str:
    """stage-1: every upload's segments of one video key (what tools.forget and the grader list)."""
    return SEGMENTS_PREFIX + urllib.parse.quote(video_key, safe="") + "/"


def folder(video_key: str, etag: str) -> str:
    """stage-1: one upload's segments."""
    return f"{video_folder(video_key)}{upload_tag(etag)}/"


def frames_key(video_key: str, etag: str, index: int) -> str:
    """stage-1: one segment's sampled frames (pipeline_common.frames' tar)."""
    return f"{folder(video_key, etag)}{index:05d}.tar"


def faces_key(video_key: str, etag: str, index: int) -> str:
    """stage-1: one segment's recognised frames (face_recognizer.segments)."""
    return f"{folder(video_key, etag)}{index:05d}.json"
