"""The recognizer's thumbnails for the HTML report (face_recognizer.thumbnails), both analyses, real
splitter, real ffmpeg, real ONNX graphs, S3 over moto's server: each range's best face as a small
JPEG under the video's library prefix, report.json naming it with its box; in first-frame mode the
face that answered, found through the frame's source-video metadata; and the log line the dashboard
counts."""

from __future__ import annotations

import io
import json
import logging

import pytest
from PIL import Image

from components import dashboard, topology
from face_recognizer.recognizer import Recognizer
from face_recognizer.service import RecognitionService
from face_recognizer.thumbnails import Thumbnails, thumbnail
from pipeline_common import keys
from tests.s3_events import s3_event
from tools.demo import samples
from tools.modelbuild.ffmpeg import ffmpeg_exe
from video_splitting.config import SplitterConfig
from video_splitting.service import SOURCE_VIDEO_METADATA, SplittingService

INPUT, STAGE1, OUTPUT, LIBRARY = "lb-input", "lb-stage-1", "lb-output", "lb-library"
A, B = samples.PEOPLE["astronaut"], samples.PEOPLE["camera"]
KEY = "dir/two people+.mp4"  # a space, a plus, a folder: quoted whole into the prefix


@pytest.fixture(scope="module")
def database(people_database_file):
    from face_recognizer.facedb import FaceDatabase

    return FaceDatabase.load(people_database_file)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return samples.sequence_video(
        [("astronaut", 2), ("chelsea", 1), ("camera", 2)], tmp_path_factory.mktemp("c") / "c.mp4"
    )


@pytest.fixture
def buckets(s3):
    for bucket in (INPUT, STAGE1, OUTPUT, LIBRARY):
        s3.create_bucket(Bucket=bucket)
    return s3


def _run(s3, clip, models, database, analysis: str) -> tuple[RecognitionService, dict]:
    s3.upload_file(str(clip), INPUT, KEY)
    config = SplitterConfig(STAGE1, ffmpeg_exe(), None, analysis=analysis, sample_fps=1.0, max_frames=60)
    [written] = SplittingService(config, s3=s3).handle_event(s3_event(INPUT, KEY))
    service = RecognitionService(
        Recognizer(models, database, None), OUTPUT, s3=s3, analysis=analysis, thumbnails=Thumbnails(s3, LIBRARY)
    )
    [handler] = service.log.handlers
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        service.handle_event(s3_event(STAGE1, written["key"]))
    finally:
        handler.setStream(previous)
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    return service, line


def _faces(s3) -> tuple[dict, dict[str, bytes]]:
    prefix = keys.library_prefix(KEY)
    assert prefix == "videos/dir%2Ftwo%20people%2B.mp4/"
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=LIBRARY)["Contents"]}
    assert all(k.startswith(prefix) for k in listed)
    faces = json.loads(s3.get_object(Bucket=LIBRARY, Key=prefix + "report.json")["Body"].read())
    thumbs = {k[len(prefix) :]: s3.get_object(Bucket=LIBRARY, Key=k)["Body"].read() for k in listed if "thumb-" in k}
    return faces, thumbs


def _small_jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and max(image.size) <= 96 and len(data) < 8000
    return image


def test_a_timeline_files_each_ranges_best_face_under_the_video(buckets, clip, models, database):
    _, line = _run(buckets, clip, models, database, topology.TIMELINE)
    faces, thumbs = _faces(buckets)
    assert faces["video"] == KEY and faces["analysis"] == "timeline" and faces["schema_version"] == 1
    timeline = json.loads(buckets.get_object(Bucket=OUTPUT, Key="dir/two people+.json")["Body"].read())
    ranges = [(p["name"], r) for p in timeline["people"] for r in p["ranges"]]
    assert [(f["name"], f["start_s"], f["end_s"], f["box"], f["t"]) for f in faces["faces"]] == [
        (name, r["start_s"], r["end_s"], r["box"], r["best_at_s"]) for name, r in ranges
    ]
    assert sorted(f["name"] for f in faces["faces"]) == sorted([A, B])
    assert set(thumbs) == {f["thumb"] for f in faces["faces"]} == {"thumb-0.jpg", "thumb-1.jpg"}
    for data in thumbs.values():
        _small_jpeg(data)
    width, height = faces["frame_size"]  # the sampled frames' size: each box lies within it
    assert all(
        0 <= f["box"][0] < f["box"][2] <= width and 0 <= f["box"][1] < f["box"][3] <= height for f in faces["faces"]
    )
    assert line["message"] == dashboard.TIMELINE_RECOGNISED and line["name"] == timeline["answer"]


def test_a_first_frame_files_the_face_that_answered_with_its_box(buckets, clip, models, database):
    _, line = _run(buckets, clip, models, database, topology.FIRST_FRAME)
    head = buckets.head_object(Bucket=STAGE1, Key="dir/two people+.jpg")
    assert head["Metadata"][SOURCE_VIDEO_METADATA] == "dir%2Ftwo%20people%2B.mp4"
    faces, thumbs = _faces(buckets)
    [face] = faces["faces"]
    assert faces["analysis"] == "first-frame" and face["name"] == A == line["name"]
    assert len(face["box"]) == 4 and face["thumb"] == "thumb-0.jpg" and set(thumbs) == {"thumb-0.jpg"}
    _small_jpeg(thumbs["thumb-0.jpg"])
    assert line["message"] == dashboard.RECOGNISED


def test_a_thumbnail_keeps_the_face_and_a_margin_within_the_frame():
    frame = Image.new("RGB", (400, 300), (0, 0, 0))
    frame.paste((255, 255, 255), (100, 100, 200, 220))
    small = _small_jpeg(thumbnail(frame, (100, 100, 200, 220)))
    assert small.size == (80, 96)  # 130 x 156 with the margin, fitted into 96 px
    corner = _small_jpeg(thumbnail(frame, (-20, -20, 30, 30)))  # a box past the edge: clamped
    assert corner.size[0] > 0


def test_a_segmented_timeline_gives_the_whole_videos_thumbnails_and_leaves_no_crops(
    buckets, clip, models, database, tmp_path
):
    """Step Functions' path (face_recognizer.segments): segments of two seconds, so a range has
    several frames in one segment (their distances may tie once stored rounded) and one spans two;
    each recognise writes its ranges' best crops, the merge copies the merged ranges' bests to
    thumbnails and deletes the crops. The report names each range of the merged timeline with its
    best face's time, box and a thumbnail, as the whole video's does."""
    from face_recognizer import segments as recognise_segments
    from pipeline_common import frames, segments
    from video_splitting import ffmpeg

    service, _ = _run(buckets, clip, models, database, topology.TIMELINE)  # the whole video at once
    whole, _ = _faces(buckets)
    for o in buckets.list_objects_v2(Bucket=LIBRARY)["Contents"]:
        buckets.delete_object(Bucket=LIBRARY, Key=o["Key"])

    sampled = ffmpeg.sample_frames(ffmpeg_exe(), clip, tmp_path, label="clip", fps=1.0, max_frames=60)
    duration = sampled.frames[-1].t + 1.0
    plan = segments.plan(duration, 1.0, 2)
    assert len(sampled.frames) == 5 and len(plan) == 3
    video = {"bucket": INPUT, "key": KEY, "etag": "e1"}
    for segment in plan:
        mine = [f for f in sampled.frames if segment.start_s <= f.t < segment.end_s]
        entries = tuple(frames.Entry(frames.frame_name(i), f.t, f.width, f.height, f.size) for i, f in enumerate(mine))
        tar = tmp_path / f"{segment.index}.tar"
        frames.write(tar, frames.Index(f"s3://{INPUT}/{KEY}", 1.0, 2, entries), [f.path for f in mine], remove=False)
        key = segments.frames_key(KEY, "e1", segment.index)
        buckets.upload_file(str(tar), STAGE1, key)
        count = {"bucket": STAGE1, "key": key, "count": len(mine)}
        recognise_segments.recognise(service, {"video": video, "segment": segment.as_dict(), "frames": count})
    crops = [o["Key"] for o in buckets.list_objects_v2(Bucket=LIBRARY)["Contents"]]
    assert crops and all(k.startswith(keys.library_prefix(KEY) + "crops/") for k in crops)

    merge = {"video": video, "stage1_bucket": STAGE1, "segments": [s.as_dict() for s in plan], "duration_s": duration}
    recognise_segments.merge(service, merge)
    report, thumbs = _faces(buckets)  # lists the library: only report.json and the thumbnails are left
    listed = {o["Key"] for o in buckets.list_objects_v2(Bucket=LIBRARY)["Contents"]}
    assert listed == {keys.library_report_key(KEY)} | {keys.library_prefix(KEY) + name for name in thumbs}
    timeline = json.loads(buckets.get_object(Bucket=OUTPUT, Key="dir/two people+.json")["Body"].read())
    ranges = [(p["name"], r) for p in timeline["people"] for r in p["ranges"]]
    assert [(f["name"], f["start_s"], f["end_s"], f["box"], f["t"]) for f in report["faces"]] == [
        (name, r["start_s"], r["end_s"], r["box"], r["best_at_s"]) for name, r in ranges
    ]
    assert sorted((r["start_s"], r["end_s"]) for _, r in ranges) == [(0.0, 2.0), (3.0, 5.0)]  # one across two
    # the same people and ranges as the whole video's report (the frames were sampled apart: boxes may differ)
    assert [(f["name"], f["start_s"], f["end_s"]) for f in report["faces"]] == [
        (f["name"], f["start_s"], f["end_s"]) for f in whole["faces"]
    ]
    assert report["frame_size"] == whole["frame_size"]
    assert set(thumbs) == {f["thumb"] for f in report["faces"]} == {"thumb-0.jpg", "thumb-1.jpg"}
    for data in thumbs.values():
        _small_jpeg(data)
    assert timeline["schema_version"] == 2 and timeline["duration_s"] == round(duration, 3)
    assert timeline["segments"] == 3
