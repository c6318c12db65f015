"""The library bucket's per-video data, for the HTML report (tools/report): each answer's faces.

Under `library_prefix(video_key)` (pipeline_common.keys): `thumb-<n>.jpg`, a small JPEG crop of
each time range's best face (first-frame mode: of the face that answered), and `faces.json` naming
them (per face: its time, box, name, distance, range and thumbnail; the frame's size, so a box can
be drawn over the frame). Written before the result: whoever sees a result finds its faces.
"""

from __future__ import annotations

import io
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from PIL import Image

from pipeline_common import aws
from pipeline_common.keys import VIDEO_METADATA, library_faces_key, library_prefix, thumb_name

THUMB_PX = 96  # the longest side of a thumbnail
THUMB_QUALITY = 80  # JPEG quality: a 96 px face is 2-4 KB
MARGIN = 0.15  # of the box's size on each side: a little hair and chin around the detector's box
SCHEMA_VERSION = 1


FaceKey = tuple[float, tuple[float, ...]]  # a face's time and rounded box, as a timeline range names it


class LibraryError(RuntimeError):
    """A library object could not be written; the message names it."""


def thumbnail(image: Image.Image, box: Any) -> bytes:
    """A JPEG of the face in `box` (x1, y1, x2, y2) with a margin, at most THUMB_PX a side."""
    width, height = image.size
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    mx, my = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
    bounds = (
        int(max(x1 - mx, 0)),
        int(max(y1 - my, 0)),
        int(min(x2 + mx, width)),
        int(min(y2 + my, height)),
    )
    if bounds[2] <= bounds[0] or bounds[3] <= bounds[1]:
        bounds = (0, 0, width, height)
    face = image.crop(bounds)
    face.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    face.convert("RGB").save(out, format="JPEG", quality=THUMB_QUALITY, optimize=True)
    return out.getvalue()


def face_key(t: float, box: Any) -> FaceKey:
    """How a timeline range's best face (its `best_at_s` and rounded `box`) finds its crop."""
    return round(float(t), 3), tuple(round(float(v), 1) for v in box[:4])


def video_key_from_uri(uri: str) -> str | None:
    """The key of `s3://bucket/key` (a frames index's `video`); None for anything else."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        return None
    return uri[5:].split("/", 1)[1] or None


def video_key_from_metadata(metadata: dict | None) -> str | None:
    raw = (metadata or {}).get(VIDEO_METADATA)
    return urllib.parse.unquote(raw) if raw else None


def timeline_faces(document: dict, crops: dict[FaceKey, bytes]) -> tuple[list[dict], list[bytes]]:
    """faces.json's entries for a timeline (face_recognizer.timeline.build's document): one per
    person range and unknown range, each with its best face's crop; and the crops, in order."""
    entries: list[dict] = []
    thumbs: list[bytes] = []
    groups = [("person", p["name"], p["ranges"]) for p in document.get("people", [])]
    groups.append(("unknown", None, (document.get("unknown") or {}).get("ranges", [])))
    for kind, name, ranges in groups:
        for r in ranges:
            if "box" not in r:
                continue
            crop = crops.get(face_key(r["best_at_s"], r["box"]))
            entry = {
                "kind": kind,
                "name": name,
                "start_s": r["start_s"],
                "end_s": r["end_s"],
                "t": r["best_at_s"],
                "box": r["box"],
                "distance": r.get("best_distance"),
                "thumb": None,
            }
            if crop is not None:
                entry["thumb"] = thumb_name(len(thumbs))
                thumbs.append(crop)
            entries.append(entry)
    return entries, thumbs


@dataclass
class Library:
    """Writes one video's faces.json and thumbnails into the library bucket."""

    s3: Any
    bucket: str

    def write(self, video_key: str, document: dict, thumbs: list[bytes]) -> str:
        """The thumbnails, then faces.json (so every thumbnail it names exists); its s3:// URI."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = library_prefix(video_key)
        objects = [(prefix + thumb_name(n), data, "image/jpeg") for n, data in enumerate(thumbs)]
        body = json.dumps({"schema_version": SCHEMA_VERSION, "video": video_key, **document}, indent=1)
        objects.append((library_faces_key(video_key), body.encode("utf-8"), "application/json"))
        for key, data, content_type in objects:
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
            except (ClientError, BotoCoreError) as exc:
                reason = aws.error_code(exc) if isinstance(exc, ClientError) else exc
                raise LibraryError(f"cannot write s3://{self.bucket}/{key} ({reason})") from None
        return f"s3://{self.bucket}/{library_faces_key(video_key)}"
