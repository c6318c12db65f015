"""analysis: timeline: every face of every sampled frame, matched, then who appears when.

`match_faces` embeds at most MAX_FACES_PER_FRAME faces a frame, one crop at a time (a face followed
from the previous sample reuses its track's match: face_recognizer.tracking); `build` groups
each person's frames into ranges exact to one sampling interval and picks the text answer.
The rules: functions/README.md (Timeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from PIL import Image

from face_recognizer.facedb import FaceDatabase
from face_recognizer.faces import Face, crop_face
from face_recognizer.recognizer import NO_FACE, UNKNOWN, identify
from face_recognizer.tracking import Tracker
from pipeline_common import limits
from pipeline_common.log import Laps

Box = tuple[float, float, float, float]
# The `<stem>.json` document's version: 2 added `schema_version` and `duration_s` (1 had neither;
# readers of either take both: tools/timelines.py).
SCHEMA_VERSION = 2


class EveryFace(Protocol):
    """What a timeline needs of a model runtime (onnx_models.OnnxFaceModels)."""

    def detect_faces(self, image: Image.Image) -> list[tuple[Box, float]]: ...

    def embed_face(self, face: Face) -> np.ndarray: ...


@dataclass(frozen=True)
class FaceMatch:
    name: str  # a database name, or UNKNOWN
    distance: float
    box: Box
    probability: float
    embedding: Any = field(default=None, compare=False, repr=False)  # (1, 512): kept for relabelling (library)
    tracked: bool = field(default=False, compare=False)  # True: its track's match, this face not embedded


@dataclass(frozen=True)
class FrameFaces:
    t: float  # seconds from the start of the video
    faces: tuple[FaceMatch, ...]  # largest first; empty: no face


def match_faces(
    models: EveryFace,
    image: Image.Image,
    database: FaceDatabase,
    threshold: float | None,
    laps: Laps,
    tracker: Tracker[FaceMatch] | None = None,
    t: float = 0.0,
) -> tuple[tuple[FaceMatch, ...], int]:
    """The largest MAX_FACES_PER_FRAME faces of `image`, each named by the database (laps: detect,
    embed, match), and how many faces detection found. With a `tracker` (the sample's time `t`), a
    face that continues one of the previous sample's tracks takes that track's match instead."""
    found = models.detect_faces(image)
    laps.lap("detect")
    kept = found[: limits.MAX_FACES_PER_FRAME]

    def embed(i: int) -> FaceMatch:
        box, probability = kept[i]
        embedding = models.embed_face(
            Face(box=box, probability=probability, faces=len(found), crop=crop_face(image, box))
        )
        laps.lap("embed")
        name, distance = identify(database, embedding, threshold)
        laps.lap("match")
        return FaceMatch(name, distance, box, probability, embedding)

    if tracker is None:
        return tuple(embed(i) for i in range(len(kept))), len(found)
    matches = []
    for (box, probability), (match, reused) in zip(kept, tracker.step(t, kept, embed), strict=True):
        matches.append(replace(match, box=box, probability=probability, tracked=True) if reused else match)
    laps.lap("track")
    return tuple(matches), len(found)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted sample indices, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _seconds(t: float) -> float:
    return round(t, 3)


def build(frames: list[FrameFaces], interval_s: float) -> dict:
    """The timeline of one video from its frames in time order: people, unknown faces, no-face
    ranges, counts and the text answer (see the module's doc)."""
    if not frames:
        raise ValueError("a timeline needs at least one frame")
    ends = [f.t for f in frames[1:]] + [frames[-1].t + interval_s]

    def ranges(best: Mapping[int, FaceMatch | None]) -> list[dict]:
        out = []
        for a, b in _runs(sorted(best)):
            matches = [(face, frames[i].t) for i in range(a, b + 1) if (face := best[i]) is not None]
            entry: dict = {"start_s": _seconds(frames[a].t), "end_s": _seconds(ends[b]), "frames": b - a + 1}
            if matches:
                top, at = min(matches, key=lambda m: m[0].distance)
                entry.update(
                    best_distance=round(top.distance, 4),
                    best_at_s=_seconds(at),
                    box=[round(v, 1) for v in top.box],
                )
            out.append(entry)
        return out

    # Each name's best face in each frame it is seen in (a name twice in one frame counts once).
    seen: dict[str, dict[int, FaceMatch]] = {}
    for i, frame in enumerate(frames):
        for face in frame.faces:
            mine = seen.setdefault(face.name, {})
            if i not in mine or face.distance < mine[i].distance:
                mine[i] = face
    unknown = seen.pop(UNKNOWN, {})
    # Seen most first; ties to the smaller best distance, then the name.
    order = sorted(seen, key=lambda n: (-len(seen[n]), min(f.distance for f in seen[n].values()), n))
    people = [
        {
            "name": name,
            "frames": len(seen[name]),
            "best_distance": round(min(f.distance for f in seen[name].values()), 4),
            "ranges": ranges(seen[name]),
        }
        for name in order
    ]
    without = {i: None for i, frame in enumerate(frames) if not frame.faces}
    answer = people[0]["name"] if people else (UNKNOWN if unknown else NO_FACE)
    return {
        "answer": answer,
        "frames_analysed": len(frames),
        "frames_without_face": len(without),
        "interval_s": _seconds(interval_s),
        "last_frame_s": _seconds(frames[-1].t),
        # The span the samples cover: the last sample's time plus one interval, the video's length to
        # within one sampling interval (the same bound as every range's end).
        "duration_s": _seconds(ends[-1]),
        "people": people,
        "unknown": {"frames": len(unknown), "ranges": ranges(unknown)},
        "no_face": ranges(without),
        "frames": [
            {
                "t": _seconds(frame.t),
                "faces": [
                    {
                        "name": f.name,
                        "distance": round(f.distance, 4),
                        "box": [round(v, 1) for v in f.box],
                        "probability": round(f.probability, 4),
                    }
                    for f in frame.faces
                ],
            }
            for frame in frames
        ],
    }
