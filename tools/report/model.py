"""What the report shows, read from a stack: a plain, JSON-able model the pages are built from.

    {"title", "generated", "source", "analysis", "warning",
     "videos": [{"video": key, "page": "video-0.html", "status": answered | dead-lettered | pending,
                 "reason", "answer", "people": [...], "duration_s", "database",
                 "timeline": <stem>.json or None, "faces": report.json or None,
                 "frame": "media/0/frame.jpg" or None, "thumbs": {"thumb-0.jpg": "media/0/thumb-0.jpg"}}]}

Statuses come from tools.grade's report (a result, else the dead-letter record that explains its
absence, else pending). Pictures are copied into the report's folder under names the report makes
(`media/<n>/...`): an object key is never a local path, and a thumbnail name report.json gives is
used only when it is exactly `thumb-<n>.jpg`. report.json and the thumbnails are in the library
bucket (face_recognizer.thumbnails); a stack without one gives pages without faces.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline_common import keys

NO_FACE, UNKNOWN = "no-face", "unknown"
THUMB_NAME = re.compile(r"^thumb-[0-9]{1,6}\.jpg$")
MAX_PICTURE_BYTES = 1 << 20  # a thumbnail is a few KB: anything past this is not one
MAX_FRAME_BYTES = 32 << 20  # the pipeline's frame limit (pipeline_common.limits), and far past any JSON it writes


def duration_of(timeline: dict | None) -> float | None:
    """`duration_s` (schema 2); for a timeline written before it, the same from its last sample."""
    if not timeline:
        return None
    if isinstance(timeline.get("duration_s"), int | float):
        return float(timeline["duration_s"])
    last, interval = timeline.get("last_frame_s"), timeline.get("interval_s")
    if isinstance(last, int | float) and isinstance(interval, int | float):
        return round(float(last) + float(interval), 3)
    return None


def status_of(row: dict, dead: dict[str, str]) -> tuple[str, str | None]:
    if row.get("result") is not None:
        return "answered", None
    if row["video"] in dead:
        return "dead-lettered", dead[row["video"]]
    return "pending", None


def people_of(row: dict, timeline: dict | None) -> list[str]:
    if timeline:
        return [str(p["name"]) for p in timeline.get("people", [])]
    answer = row.get("result")
    return [answer] if answer and answer not in (NO_FACE, UNKNOWN) else []


def _get(s3: Any, bucket: str | None, key: str, limit: int) -> bytes | None:
    """An object's bytes, or None when there is no such bucket or object (or it is too large)."""
    if not bucket:
        return None
    from botocore.exceptions import ClientError

    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError:
        return None
    if int(response.get("ContentLength") or 0) > limit:
        response["Body"].close()
        return None
    return response["Body"].read()


def _json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def build(
    s3: Any,
    buckets: Any,
    library: str | None,
    grade_report: Any,
    out_dir: Path,
    *,
    source: str = "",
    title: str | None = None,
) -> dict:
    """The model of every video in `grade_report` (tools.grade.grade plus add_dead_letters), its
    pictures copied under out_dir/media/; `library` is the library bucket (None: no faces)."""
    timeline_mode = grade_report.get("analysis") == "timeline"
    dead = (grade_report.get("dead_letters") or {}).get("videos", {})
    videos = []
    for n, row in enumerate(grade_report["videos"]):
        video = row["video"]
        status, reason = status_of(row, dead)
        timeline = None
        if timeline_mode and row.get("result") is not None:
            timeline = _json(_get(s3, buckets.output, keys.timeline_key(keys.frames_key(video)), MAX_FRAME_BYTES))
        faces = _json(_get(s3, library, keys.library_report_key(video), MAX_FRAME_BYTES))
        media = out_dir / "media" / str(n)
        thumbs: dict[str, str] = {}
        for face in (faces or {}).get("faces", []) if isinstance((faces or {}).get("faces"), list) else []:
            name = face.get("thumb") if isinstance(face, dict) else None
            if not isinstance(name, str) or not THUMB_NAME.match(name) or name in thumbs:
                continue
            data = _get(s3, library, keys.library_prefix(video) + name, MAX_PICTURE_BYTES)
            if data is not None:
                media.mkdir(parents=True, exist_ok=True)
                (media / name).write_bytes(data)
                thumbs[name] = f"media/{n}/{name}"
        frame = None
        if not timeline_mode and status == "answered":
            data = _get(s3, buckets.stage1, keys.frame_key(video), MAX_FRAME_BYTES)
            if data is not None:
                media.mkdir(parents=True, exist_ok=True)
                (media / "frame.jpg").write_bytes(data)
                frame = f"media/{n}/frame.jpg"
        videos.append(
            {
                "video": video,
                "page": f"video-{n}.html",
                "status": status,
                "reason": reason,
                "answer": row.get("result"),
                "people": people_of(row, timeline),
                "duration_s": duration_of(timeline),
                "database": row.get("face_db_version"),
                "timeline": timeline,
                "faces": faces,
                "frame": frame,
                "thumbs": thumbs,
            }
        )
    untrained = any(((v["timeline"] or {}).get("model") or {}).get("untrained") for v in videos)
    return {
        "title": title or "Who appears when",
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "source": source,
        "analysis": grade_report.get("analysis"),
        "warning": "Untrained stand-in weights: names mean something only against faces enrolled with them."
        if untrained
        else None,
        "videos": videos,
    }
