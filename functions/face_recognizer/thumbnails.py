"""Face thumbnails for the HTML report (tools/report), in the library bucket beside faces.json.

Under `library_prefix(video_key)` (pipeline_common.keys): `thumb-<n>.jpg`, a small JPEG crop of
each time range's best face (first-frame mode: of the face that answered), and `report.json` naming
them (per face: its time, box, name, distance, range and thumbnail; the frame's size, so a box can
be drawn over the frame). faces.json (face_recognizer.library) is the library's; this is the
report's. A segmented timeline's recognise writes its ranges' best crops under `crops/`; the merge
copies the merged ranges' bests to `thumb-<n>.jpg` and deletes the crops.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PIL import Image

from face_recognizer.recognizer import UNKNOWN
from pipeline_common import aws
from pipeline_common.env import FIRST_FRAME
from pipeline_common.keys import library_prefix, library_report_key, thumb_name

THUMB_PX = 96  # the longest side of a thumbnail
THUMB_QUALITY = 80  # JPEG quality: a 96 px face is 2-4 KB
MARGIN = 0.15  # of the box's size on each side: a little hair and chin around the detector's box
SCHEMA_VERSION = 1
CROPS = "crops/"  # a segment's crops, under the video's prefix, until the merge

FaceKey = tuple[float, tuple[float, ...]]  # a face's time and rounded box, as a timeline range names it
T = TypeVar("T")


class ThumbnailError(RuntimeError):
    """A library object could not be written, copied or deleted; the message names it."""


def thumbnail(image: Image.Image, box: Any) -> bytes:
    """A JPEG of the face in `box` (x1, y1, x2, y2) with a margin, at most THUMB_PX a side."""
    width, height = image.size
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    mx, my = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
    bounds = (int(max(x1 - mx, 0)), int(max(y1 - my, 0)), int(min(x2 + mx, width)), int(min(y2 + my, height)))
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


@dataclass
class Crops:
    """Every face's crop of a timeline's frames, until its ranges say which are best (frames_faces)."""

    faces: dict[FaceKey, bytes] = field(default_factory=dict)
    frame_size: tuple[int, int] | None = None

    def add(self, t: float, image: Image.Image, boxes: Sequence[Any]) -> None:
        for box in boxes:
            self.faces[face_key(t, box)] = thumbnail(image, box)
        self.frame_size = image.size


def timeline_faces(document: Mapping[str, Any], crops: Mapping[FaceKey, T]) -> tuple[list[dict], list[T]]:
    """report.json's entries for a timeline (face_recognizer.timeline.build's document): one per
    person range and unknown range, each with its best face's crop when `crops` has it; and those
    crops, in thumbnail order."""
    entries: list[dict] = []
    thumbs: list[T] = []
    groups = [("person", p["name"], p["ranges"]) for p in document.get("people", [])]
    groups.append(("unknown", None, (document.get("unknown") or {}).get("ranges", [])))
    for kind, name, ranges in groups:
        for r in ranges:
            if "box" not in r:
                continue
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
            crop = crops.get(face_key(r["best_at_s"], r["box"]))
            if crop is not None:
                entry["thumb"] = thumb_name(len(thumbs))
                thumbs.append(crop)
            entries.append(entry)
    return entries, thumbs


def first_frame(
    image: Image.Image, name: str, distance: float | None, box: Any, faces: int
) -> tuple[dict, list[bytes]]:
    """report.json's document and thumbnail for a first frame: the face that answered, if any."""
    entries: list[dict] = []
    thumbs: list[bytes] = []
    if box is not None:
        thumbs.append(thumbnail(image, box))
        entries.append(
            {
                "kind": "person" if name != UNKNOWN else "unknown",
                "name": name,
                "t": 0.0,
                "box": [round(float(v), 1) for v in box[:4]],
                "distance": None if distance is None else round(distance, 4),
                "faces_in_frame": faces,
                "thumb": thumb_name(0),
            }
        )
    return {"analysis": FIRST_FRAME, "frame_size": list(image.size), "faces": entries}, thumbs


def crop_key(video_key: str, upload: str, segment: int, k: int) -> str:
    """A segment's k-th range's best face, until the merge copies it (or not) to a thumbnail;
    `upload` (segments.upload_tag) keeps two uploads of one key apart."""
    return f"{library_prefix(video_key)}{CROPS}{upload}/{segment}-{k}.jpg"


@dataclass
class Thumbnails:
    """Writes one video's report.json and thumbnails into the library bucket."""

    s3: Any
    bucket: str

    def write(self, video_key: str, document: dict, thumbs: list[bytes]) -> str:
        """The thumbnails, then report.json (so every thumbnail it names exists); its s3:// URI."""
        prefix = library_prefix(video_key)
        for n, data in enumerate(thumbs):
            self.put(prefix + thumb_name(n), data, "image/jpeg")
        return self._report(video_key, document)

    def write_copied(self, video_key: str, document: dict, sources: list[str]) -> str:
        """As write, each thumbnail copied from a crop already in the bucket (a segment's)."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = library_prefix(video_key)
        for n, source in enumerate(sources):
            key = prefix + thumb_name(n)
            try:
                self.s3.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    ContentType="image/jpeg",
                    MetadataDirective="REPLACE",
                )
            except (ClientError, BotoCoreError) as exc:
                raise ThumbnailError(f"cannot copy s3://{self.bucket}/{source} to {key} ({aws.reason(exc)})") from None
        return self._report(video_key, document)

    def delete(self, keys: Sequence[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for key in keys:
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                raise ThumbnailError(f"cannot delete s3://{self.bucket}/{key} ({aws.reason(exc)})") from None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise ThumbnailError(f"cannot write s3://{self.bucket}/{key} ({aws.reason(exc)})") from None

    def _report(self, video_key: str, document: dict) -> str:
        body = json.dumps({"schema_version": SCHEMA_VERSION, "video": video_key, **document}, indent=1)
        key = library_report_key(video_key)
        self.put(key, body.encode("utf-8"), "application/json")
        return f"s3://{self.bucket}/{key}"
