"""The library: every answered video filed so it can be searched, announced, relabelled and forgotten.

For each result the recognizer writes, it also (Library.record):
- stores each face's embedding, box, time, name and distance as `faces.json` under the video's
  prefix in the private, versioned library bucket (pipeline_common.keys.library_prefix): never a
  picture, so a result can be matched again when the live database changes without decoding the
  video again (face_recognizer.relabel);
- writes who appears when to the appearances table (face_recognizer.appearances);
- publishes one event on the results topic (face_recognizer.results_topic).

The library is on when LIBRARY_BUCKET, APPEARANCES_TABLE and RESULTS_TOPIC_ARN are set (the stack
sets all three); without them the recognizer writes its results and nothing else.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from face_recognizer.facedb import EMBEDDING_SIZE
from face_recognizer.recognizer import NO_FACE, SENTINELS, UNKNOWN
from face_recognizer.timeline import FaceMatch, FrameFaces, build
from pipeline_common.env import FIRST_FRAME, ConfigError
from pipeline_common.keys import LIBRARY_FACES, library_prefix

FACES_CONTENT_TYPE = "application/json"
SCHEMA = 1
_VARIABLES = ("LIBRARY_BUCKET", "APPEARANCES_TABLE", "RESULTS_TOPIC_ARN")


@dataclass(frozen=True)
class LibraryConfig:
    bucket: str
    table: str
    topic_arn: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LibraryConfig | None:
        values = [environ.get(v, "") for v in _VARIABLES]
        if not any(values):
            return None
        if not all(values):
            missing = ", ".join(v for v, x in zip(_VARIABLES, values, strict=True) if not x)
            raise ConfigError(f"{missing}: the library needs {', '.join(_VARIABLES)} together")
        return cls(*values)


def encode_embedding(embedding: Any) -> str:
    """A (1, 512) embedding as base64 of little-endian float32: exact, and a third of its JSON digits."""
    return base64.b64encode(np.asarray(embedding, dtype="<f4").reshape(EMBEDDING_SIZE).tobytes()).decode("ascii")


def decode_embedding(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(1, EMBEDDING_SIZE)


@dataclass(frozen=True)
class Filed:
    """One video's answer as the library keeps it: faces per sampled time, and where its results are."""

    video: str  # the upload's key in the input bucket
    analysis: str
    output_bucket: str
    result_key: str  # <stem>.txt
    timeline_key: str | None  # <stem>.json (timeline only)
    stage1: str  # s3://bucket/key of the frame or frames object
    interval_s: float
    distance_threshold: float | None
    database_version: str
    processed_at: str  # ISO 8601 UTC, when the video was first answered: what "newest first" orders by
    frames: tuple[dict, ...] = field(default=())  # {"t": s, "faces": [{box, probability, name, distance, embedding}]}

    @property
    def prefix(self) -> str:
        return library_prefix(self.video)

    @property
    def faces_key(self) -> str:
        return self.prefix + LIBRARY_FACES

    def result_uris(self) -> list[str]:
        keys = [self.result_key] + ([self.timeline_key] if self.timeline_key else [])
        return [f"s3://{self.output_bucket}/{k}" for k in keys]

    def names(self) -> list[str]:
        """Every face's name, in order (what a relabel compares)."""
        return [face["name"] for frame in self.frames for face in frame["faces"]]

    def to_json(self) -> bytes:
        doc = {"schema": SCHEMA, **{k: getattr(self, k) for k in self.__dataclass_fields__}}
        doc["frames"] = list(self.frames)
        return json.dumps(doc, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, blob: bytes) -> Filed:
        doc = json.loads(blob)
        doc.pop("schema", None)
        doc["frames"] = tuple(doc.get("frames") or ())
        return cls(**doc)

    def with_frames(self, frames: list[dict], version: str) -> Filed:
        return replace(self, frames=tuple(frames), database_version=version)


def now_iso() -> str:
    """UTC to the microsecond, fixed width: sorts as time does (the index's "newest first")."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def face_entry(match: FaceMatch) -> dict:
    return {
        "box": [round(float(v), 1) for v in match.box],
        "probability": round(float(match.probability), 4),
        "name": match.name,
        "distance": round(float(match.distance), 4),
        "embedding": None if match.embedding is None else encode_embedding(match.embedding),
    }


def frames_of(results: list[FrameFaces]) -> list[dict]:
    return [{"t": round(r.t, 3), "faces": [face_entry(f) for f in r.faces]} for r in results]


def frame_faces(filed: Filed) -> list[FrameFaces]:
    """The stored frames as face_recognizer.timeline builds a timeline from (embeddings left out)."""
    return [
        FrameFaces(
            float(frame["t"]),
            tuple(
                FaceMatch(f["name"], float(f["distance"]), _box(f["box"]), float(f["probability"] or 0))
                for f in frame["faces"]
            ),
        )
        for frame in filed.frames
    ]


def _box(box: list | None) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box or (0.0, 0.0, 0.0, 0.0)
    return float(x1), float(y1), float(x2), float(y2)


def timeline_of(filed: Filed) -> dict:
    """The timeline fields (face_recognizer.timeline.build) of a stored timeline result."""
    return build(frame_faces(filed), filed.interval_s)


def answer_of(filed: Filed) -> tuple[str, list[str]]:
    """The text answer and the people named, as the recognizer would write them from these faces."""
    if filed.analysis == FIRST_FRAME:
        faces = filed.frames[0]["faces"] if filed.frames else []
        name = faces[0]["name"] if faces else NO_FACE
        return name, [] if name in SENTINELS else [name]
    doc = timeline_of(filed)
    return doc["answer"], [p["name"] for p in doc["people"]]


@dataclass(frozen=True)
class Appearance:
    person: str
    ranges: list[list[float]]
    best_distance: float


def appearances_of(filed: Filed) -> list[Appearance]:
    """Who appears when: a timeline's ranges per person; in first-frame mode the answer, at the first
    frame's time (a range of no length: one frame was looked at)."""
    if filed.analysis == FIRST_FRAME:
        name, people = answer_of(filed)
        if not people:
            return []
        t = float(filed.frames[0]["t"])
        return [Appearance(name, [[t, t]], float(filed.frames[0]["faces"][0]["distance"]))]
    return [
        Appearance(p["name"], [[r["start_s"], r["end_s"]] for r in p["ranges"]], p["best_distance"])
        for p in timeline_of(filed)["people"]
    ]


def event(kind: str, filed: Filed) -> dict:
    """The message the results topic carries for one result written or changed."""
    answer, people = answer_of(filed)
    return {
        "event": kind,  # result, relabel or forget
        "video": filed.video,
        "analysis": filed.analysis,
        "answer": answer,
        "people": people,
        "results": filed.result_uris(),
        "database_version": filed.database_version,
    }


UNKNOWN_NAME = UNKNOWN  # what a forgotten person's faces become


def first_frame_faces(name: str, distance: float | None, box: Any, embedding: Any) -> tuple[dict, ...]:
    """A first-frame result's one sampled time: the face it answered with (the largest), or none."""
    if distance is None:
        return ({"t": 0.0, "faces": []},)
    face = {
        "box": [round(float(v), 1) for v in box] if box is not None else None,
        "probability": None,
        "name": name,
        "distance": round(float(distance), 4),
        "embedding": None if embedding is None else encode_embedding(embedding),
    }
    return ({"t": 0.0, "faces": [face]},)


def video_key(source: str) -> str:
    """The video key from a frames object's index (`s3://bucket/key`) or a frame's metadata (quoted)."""
    from urllib.parse import unquote

    if source.startswith("s3://"):
        return source[len("s3://") :].split("/", 1)[1]
    return unquote(source)


def is_database_change(event: Mapping[str, Any], faces_bucket: str | None) -> bool:
    """An S3 notification about the live database object (the faces bucket's), not about a frame."""
    records = event.get("Records") or []
    return (
        bool(faces_bucket)
        and bool(records)
        and all((r.get("s3") or {}).get("bucket", {}).get("name") == faces_bucket for r in records)
    )
