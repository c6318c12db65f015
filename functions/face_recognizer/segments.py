"""analysis: timeline, any length: the recognizer's two parts of a video's Step Functions execution.

`recognise` (one Map iteration's second task): the segment's frames object, read as a stream one
frame at a time (RecognitionService.frames_faces, as a whole-video timeline is), every face matched;
what each frame showed is written beside the frames, `segments/<video>/<n>.json` in stage-1, and only
the segment's number and frame count go back into the execution's state (Step Functions passes at
most 256 KB between states; a segment's faces would not fit for long videos).

`merge` (after every segment succeeded): the segments' faces read in order and joined into ONE
timeline (face_recognizer.timeline.build over all the video's samples: the segments sit on one
sampling grid, so a person seen across a boundary is one run, hence one range, as are no-face and
unknown runs), written as `<stem>.json` then `<stem>.txt`, the person seen most over the whole
video. A segment that is missing, or whose frames are not within its time range, fails the merge
naming it: never a partial timeline presented as complete.

Thumbnails (face_recognizer.thumbnails, when the library is on): `recognise` builds the segment's
own timeline and writes the crop of each of its ranges' best faces to the library bucket
(`crops/<segment>-<k>.jpg` under the video's prefix), listed in the segment's JSON; a merged range's
best face is the best of its pieces' bests, so `merge` copies each one's crop to `thumb-<n>.jpg`,
writes report.json, and deletes the crops once the result is written.

`cleanup` (the execution's last task, after the merge): deletes the segment objects the execution
wrote in stage-1, each by its exact key from the plan (never a listing, never the upload); deleting
a missing key succeeds, so a retried cleanup does what one would.
"""

from __future__ import annotations

import json
import time
from typing import Any

from face_recognizer import library
from face_recognizer.thumbnails import Crops, FaceKey, ThumbnailError, crop_key, face_key, timeline_faces
from face_recognizer.timeline import SCHEMA_VERSION, FaceMatch, FrameFaces, build
from pipeline_common import segments
from pipeline_common.env import TIMELINE
from pipeline_common.events import S3Object
from pipeline_common.keys import frame_key, frames_key, library_prefix, result_key, timeline_key
from pipeline_common.log import Laps, fields

FORMAT = 1
_EDGE_S = 1e-3  # a sample's time may sit this far past its segment's end (ffmpeg's rounding)


class SegmentError(RuntimeError):
    """A segment cannot be recognised or the segments cannot be merged; the message names them."""


def _video(event: dict) -> S3Object:
    try:
        return S3Object(str(event["video"]["bucket"]), str(event["video"]["key"]))
    except (KeyError, TypeError) as exc:
        raise SegmentError(f"no video in the event ({exc})") from None


def _etag(event: dict) -> str:
    """The upload's ETag, as the execution's start recorded it: which upload's segments are read."""
    try:
        return str(event["video"]["etag"])
    except (KeyError, TypeError) as exc:
        raise SegmentError(f"no video ETag in the event ({exc})") from None


def recognise(service: Any, event: dict, deadline: float | None = None) -> dict:
    """One segment's faces written to stage-1; its number, frames and where they are."""
    video, etag = _video(event), _etag(event)
    try:
        segment = segments.Segment.from_dict(event["segment"])
        source = S3Object(str(event["frames"]["bucket"]), str(event["frames"]["key"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SegmentError(f"{video}: not a segment to recognise ({exc})") from None
    where = f"{video} {segment.describe()}"
    if source.key != segments.frames_key(video.key, etag, segment.index):
        raise SegmentError(f"{where}: {source} is not its frames object")
    laps = Laps()
    held = service._held(source)
    laps.lap("database")
    crops = Crops() if service.thumbnails is not None else None
    if event["frames"].get("count") == 0:  # the splitter found no picture there (past the video stream's end)
        index, results = None, []
    else:
        index, results, _crowded = service.frames_faces(source, held, laps, deadline, crops)
    for frame in results:
        if not segment.start_s - _EDGE_S <= frame.t < segment.end_s + _EDGE_S:
            raise SegmentError(f"{where}: a frame at {frame.t:g} s is outside the segment")
    document = {
        "format": FORMAT,
        "video": str(video),
        "segment": segment.as_dict(),
        "sample_fps": index.sample_fps if index is not None else None,
        "database_version": held.version,
        # each face as the library stores it (its embedding too), so the merge can file the video
        "frames": library.frames_of(results),
    }
    if crops is not None and index is not None and results:
        document["frame_size"] = list(crops.frame_size) if crops.frame_size else None
        # The segment's own timeline from its faces as the merge will read them (distances rounded as
        # stored), so each range's best is the face the merge's range picks among equals.
        stored = [FrameFaces(float(f["t"]), tuple(_match(m) for m in f["faces"])) for f in document["frames"]]
        document["crops"] = _write_crops(
            service, video.key, segments.upload_tag(etag), segment.index, build(stored, index.interval_s), crops
        )
    out = S3Object(source.bucket, segments.faces_key(video.key, etag, segment.index))
    _put(service, out, json.dumps(document, separators=(",", ":")).encode("utf-8"), where)
    laps.lap("write")
    service.log.info(
        "segment recognised",
        extra=fields(
            video=str(video),
            segment=segment.index,
            frames=len(results),
            faces=sum(len(frame.faces) for frame in results),
            embedded=sum(not face.tracked for frame in results for face in frame.faces),  # the rest followed
            faces_object=str(out),
            ms=laps.ms(),
        ),
    )
    return {"index": segment.index, "frames": len(results)}


def _write_crops(service: Any, video_key: str, upload: str, segment: int, timeline: dict, crops: Crops) -> list[dict]:
    """The crops of the segment's own ranges' best faces, in the library; {t, box, key} each."""
    entries, thumbs = timeline_faces(timeline, crops.faces)
    listed = [e for e in entries if e["thumb"] is not None]
    out = []
    for k, (entry, data) in enumerate(zip(listed, thumbs, strict=True)):
        key = crop_key(video_key, upload, segment, k)
        try:
            service.thumbnails.put(key, data, "image/jpeg")
        except ThumbnailError as exc:
            raise SegmentError(f"s3://{video_key} segment {segment}: {exc}") from None
        out.append({"t": entry["t"], "box": entry["box"], "key": key})
    return out


def _put(service: Any, out: S3Object, body: bytes, where: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline_common import aws

    try:
        service.s3.put_object(Bucket=out.bucket, Key=out.key, Body=body, ContentType="application/json")
    except ClientError as exc:
        raise SegmentError(f"{where}: cannot write {out} ({aws.error_code(exc)})") from None
    except BotoCoreError as exc:
        raise SegmentError(f"{where}: cannot write {out} ({exc})") from None


def _read(service: Any, obj: S3Object, where: str) -> dict:
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline_common import aws

    try:
        body = service.s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"]
        try:
            return dict(json.loads(body.read()))
        finally:
            body.close()
    except ClientError as exc:
        raise SegmentError(f"{where}: cannot read {obj} ({aws.error_code(exc)})") from None
    except (BotoCoreError, ValueError, TypeError) as exc:
        raise SegmentError(f"{where}: cannot read {obj} ({exc})") from None


def _frames(raw: dict, segment: segments.Segment, where: str) -> list[FrameFaces]:
    try:
        if raw.get("format") != FORMAT or segments.Segment.from_dict(raw["segment"]) != segment:
            raise ValueError("written for another segment")
        out = [FrameFaces(float(f["t"]), tuple(_match(m) for m in f["faces"])) for f in raw["frames"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SegmentError(f"{where}: its faces are not what recognise writes ({exc})") from None
    return out


def _match(m: dict) -> FaceMatch:
    embedding = m.get("embedding")
    return FaceMatch(
        str(m["name"]),
        float(m["distance"]),
        _box(m["box"]),
        float(m["probability"]),
        embedding=None if embedding is None else library.decode_embedding(str(embedding)),
    )


def _box(raw: list) -> tuple[float, float, float, float]:
    a, b, c, d = (float(v) for v in raw)
    return (a, b, c, d)


def merge(service: Any, event: dict) -> dict:
    """The video's one timeline, `<stem>.json` and `<stem>.txt`, from all its segments' faces."""
    video, etag = _video(event), _etag(event)
    started = time.monotonic()
    try:
        stage1 = str(event["stage1_bucket"])
        planned = [segments.Segment.from_dict(s) for s in event["segments"]]
        duration_s = float(event["duration_s"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SegmentError(f"{video}: not a video to merge ({exc})") from None
    if [s.index for s in planned] != list(range(len(planned))) or not planned:
        raise SegmentError(f"{video}: the segments are not numbered 0..{len(planned) - 1}")
    results: list[FrameFaces] = []
    versions: list[str] = []
    fps = 0.0
    crops = _SegmentCrops(library_prefix(video.key))
    ended: segments.Segment | None = None
    for segment in planned:
        where = f"{video} {segment.describe()}"
        raw = _read(service, S3Object(stage1, segments.faces_key(video.key, etag, segment.index)), where)
        frames = _frames(raw, segment, where)
        crops.add(raw)
        if not frames:  # no picture there: only after the video stream's end, so nothing may follow
            ended = ended or segment
            continue
        if ended is not None:
            raise SegmentError(f"{where}: has frames after {ended.describe()}, which had none")
        if results and frames[0].t <= results[-1].t:
            raise SegmentError(f"{where}: starts at {frames[0].t:g} s, not after the segment before it")
        results.extend(frames)
        fps = float(raw["sample_fps"])
        versions.append(str(raw.get("database_version")))
    if not results:
        raise SegmentError(f"{video}: no segment has a frame")
    models = service.recognizer.models
    version = versions[0] if len(set(versions)) == 1 else ",".join(dict.fromkeys(versions))
    document = {
        "schema_version": SCHEMA_VERSION,
        "video": str(video),
        "analysis": TIMELINE,
        "sample_fps": fps,
        "segments": len(planned),
        **build(results, 1.0 / fps),
        "duration_s": round(duration_s, 3),  # the video's, which the samples' span (build's) is within
        "distance_threshold": service.recognizer.distance_threshold,
        "database": {"version": version},
        "model": {
            "source_sha256": models.manifest.get("source_sha256"),
            "untrained": models.untrained,
            "format": models.manifest.get("format"),
            "precision": models.precision,
        },
    }
    out_key, json_key = result_key(frame_key(video.key)), timeline_key(frames_key(video.key))
    body = json.dumps(document, indent=1).encode("utf-8")
    if service.thumbnails is not None:  # each range's best face, before the result
        crops.write(service.thumbnails, video, document)
    service._put(video, json_key, body, "application/json", version)  # the timeline first, then the answer
    service._write(video, out_key, document["answer"], version)
    if service.library is not None:  # the index, the stored embeddings and the video's one event
        stored = tuple(library.frames_of(results))
        folder = S3Object(stage1, segments.video_folder(video.key))  # every upload's: forget deletes them
        service._file(folder, video.key, TIMELINE, out_key, json_key, 1.0 / fps, version, stored)
    if service.thumbnails is not None:  # the result is written: the segments' crops are not needed again
        crops.delete(service.thumbnails, video)
    service.log.info(
        "timeline merged",
        extra=fields(
            video=str(video),
            segments=len(planned),
            frames=len(results),
            name=document["answer"],
            result=f"s3://{service.output_bucket}/{out_key}",
            face_db_version=version,
            ms=round((time.monotonic() - started) * 1000, 1),
        ),
    )
    return {"name": document["answer"], "segments": len(planned), "frames": len(results)}


def cleanup(service: Any, event: dict) -> dict:
    """Delete the video's segment objects in stage-1 (frames and faces) now that its timeline is written."""
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline_common import aws

    video, etag = _video(event), _etag(event)
    try:
        stage1 = str(event["stage1_bucket"])
        planned = [segments.Segment.from_dict(s) for s in event["segments"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SegmentError(f"{video}: not a video to clean up ({exc})") from None
    keys = [
        k
        for s in planned
        for k in (segments.frames_key(video.key, etag, s.index), segments.faces_key(video.key, etag, s.index))
    ]
    for key in keys:
        try:
            service.s3.delete_object(Bucket=stage1, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise SegmentError(f"{video}: cannot delete s3://{stage1}/{key} ({aws.reason(exc)})") from None
    service.log.info("segments deleted", extra=fields(video=str(video), segments=len(planned), objects=len(keys)))
    return {"deleted": len(keys)}


class _SegmentCrops:
    """The crops the segments wrote (recognise), by the face each is of."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix + "crops/"
        self.by_face: dict[FaceKey, str] = {}
        self.frame_size: list | None = None

    def add(self, raw: dict) -> None:
        try:
            for c in raw.get("crops") or ():
                key = str(c["key"])
                if key.startswith(self.prefix):  # only this video's crops
                    self.by_face[face_key(c["t"], c["box"])] = key
        except (KeyError, TypeError, ValueError):
            return  # a segment's listing that is not what recognise writes: its ranges get no thumbnail
        self.frame_size = self.frame_size or raw.get("frame_size")

    def write(self, thumbnails: Any, video: S3Object, document: dict) -> None:
        entries, sources = timeline_faces(document, self.by_face)
        report = {"analysis": TIMELINE, "frame_size": self.frame_size, "faces": entries}
        try:
            thumbnails.write_copied(video.key, report, sources)
        except ThumbnailError as exc:
            raise SegmentError(f"{video}: {exc}") from None

    def delete(self, thumbnails: Any, video: S3Object) -> None:
        try:
            thumbnails.delete(sorted(set(self.by_face.values())))
        except ThumbnailError as exc:
            raise SegmentError(f"{video}: {exc}") from None
