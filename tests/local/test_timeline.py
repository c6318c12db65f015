"""analysis: timeline through the embedded stack, in both wirings, as `python -m local run --analysis
timeline` runs it: a real moto server, real worker processes running both functions, real ffmpeg
sampling real H.264 videos, real MTCNN and InceptionResnetV1 graphs (the stand-in weights, faces
enrolled with them). The demo's clip of two people one after the other gives both, with their
times, in `<stem>.json` and in the run's report and table; a video longer than one segment
(maxFrames / sampleFps) gives one timeline across its segments (tests/local/test_segments.py: more)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from components.topology import ARCHITECTURES, TIMELINE
from local.session import describe, run_videos
from local.stack import LocalStack, load_settings
from pipeline_common import segments
from tools.demo import samples
from tools.grade import format_table, mapping_expectation
from tools.timelines import judge

pytestmark = pytest.mark.slow

# maxFrames 10 at 1 frame a second: 10 s segments; the 12 s clip is two.
STACK_FILE = """\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: vfp-tl
  video-face-pipeline:maxRetryAttempts: "1"
  video-face-pipeline:sampleFps: "1"
  video-face-pipeline:maxFrames: "10"
"""
COLLINS, CAMERAMAN = samples.PEOPLE["astronaut"], samples.PEOPLE["camera"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("timeline-clips")
    return {
        "two people.mp4": samples.sequence_video(samples.SEQUENCE, folder / "two people.mp4"),
        # the issue's: person A 0-2 s, nobody 2-3 s, person B 3-5 s; and both in every frame
        "a b.mp4": samples.sequence_video([("astronaut", 2), ("chelsea", 1), ("camera", 2)], folder / "a b.mp4"),
        "pair.mp4": samples.sequence_video([("pair", 2)], folder / "pair.mp4", size=(1024, 512)),
        "cat.mp4": samples.sequence_video([("chelsea", 2)], folder / "cat.mp4", size=(320, 240)),
        "too long.mp4": samples.sequence_video([("coffee", 12)], folder / "too long.mp4", size=(160, 120), fps=2),
    }


@pytest.fixture(scope="module", params=ARCHITECTURES)
def stack(request, tmp_path_factory, face_db, model_dir):
    path = tmp_path_factory.mktemp("stack") / "Pulumi.timeline.yaml"
    path.write_text(STACK_FILE)
    settings = load_settings(path, db=face_db, architecture=request.param, analysis=TIMELINE)
    logs = tmp_path_factory.mktemp(f"logs-{request.param}")
    with LocalStack(settings, model_dir=model_dir, concurrency=2, log_dir=logs, retry_delay_s=0.2) as running:
        yield running


def test_two_people_one_after_the_other_are_both_in_the_json_and_the_report_with_their_times(stack, clips, tmp_path):
    s = stack.settings
    assert (s.analysis, s.sample_fps, s.max_frames) == (TIMELINE, 1.0, 10)
    files = [clips[name] for name in ("two people.mp4", "cat.mp4", "a b.mp4", "pair.mp4")]
    expect = mapping_expectation(
        {
            "two people.mp4": samples.SEQUENCE_LABEL,
            "cat.mp4": "no-face",
            "a b.mp4": {"people": {COLLINS: [[0, 2]], CAMERAMAN: [[3, 5]]}},
            "pair.mp4": {"people": {COLLINS: [[0, 2]], CAMERAMAN: [[0, 2]]}},
        }
    )
    report = run_videos(stack, files, expect=expect, prefix="tl/", timeout_s=240, progress=False)

    assert report["analysis"] == TIMELINE and report["local"]["analysis"] == TIMELINE
    assert report["checks"]["stage1_exact"] and report["checks"]["output_exact"]
    assert report["checks"]["results_correct"] and report["checks"]["timelines_correct"]
    assert report["local"]["accounted_for"] and not report["local"]["failed"]
    s3 = stack.client("s3")
    output = {o["Key"] for o in s3.list_objects_v2(Bucket=s.output_bucket, Prefix="tl/")["Contents"]}
    stems = ("two people", "cat", "a b", "pair")
    # each video's segment (its frames and faces) is deleted by its execution's Cleanup, after the result
    deadline = time.monotonic() + 60
    while (
        s3.list_objects_v2(Bucket=s.stage1_bucket, Prefix="segments/tl%2F").get("KeyCount")
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    for stem in stems:  # none of the one segment's objects (up to 10 s, one segment a video) is left
        folder = segments.video_folder(f"tl/{stem}.mp4")
        assert "Contents" not in s3.list_objects_v2(Bucket=s.stage1_bucket, Prefix=folder)
    assert not s3.list_objects_v2(Bucket=s.stage1_bucket, Prefix="segments/tl%2F").get("KeyCount")
    assert output == {f"tl/{stem}{suffix}" for stem in stems for suffix in (".txt", ".json")}

    # <stem>.json: Collins 0-3 s, nobody 3-4 s, the cameraman 4-6 s, exactly at 1 fps over 10 fps stills
    document = json.loads(s3.get_object(Bucket=s.output_bucket, Key="tl/two people.json")["Body"].read())
    people = {p["name"]: [(r["start_s"], r["end_s"]) for r in p["ranges"]] for p in document["people"]}
    assert people == {COLLINS: [(0.0, 3.0)], CAMERAMAN: [(4.0, 6.0)]}
    assert [(r["start_s"], r["end_s"]) for r in document["no_face"]] == [(3.0, 4.0)]
    assert (document["frames_analysed"], document["frames_without_face"]) == (6, 1)
    assert document["answer"] == COLLINS  # seen in 3 frames, the cameraman in 2
    assert document["video"] == f"s3://{s.input_bucket}/tl/two people.mp4"
    assert document["database"]["version"] and document["model"]["source_sha256"]
    text = s3.get_object(Bucket=s.output_bucket, Key="tl/two people.txt")["Body"].read().decode()
    assert text == COLLINS

    # the report: each row carries the timeline and how it compares with the label
    rows: dict[str, Any] = {r["video"]: r for r in report["videos"]}  # rows known to hold their timelines
    row = rows["tl/two people.mp4"]
    assert row["result"] == COLLINS and row["correct"]
    assert row["timeline"]["people"] == {COLLINS: [(0.0, 3.0)], CAMERAMAN: [(4.0, 6.0)]}
    assert row["timeline_judged"] == judge(row["timeline"], row["labels"]) and row["timeline_judged"]["correct"]
    assert rows["tl/cat.mp4"]["timeline"]["people"] == {} and rows["tl/cat.mp4"]["result"] == "no-face"
    assert rows["tl/cat.mp4"]["timeline"]["no_face"] == [(0.0, 2.0)]
    # A 0-2 s, nobody 2-3 s, B 3-5 s; two faces in one frame: both, in every frame
    assert rows["tl/a b.mp4"]["timeline"]["people"] == {COLLINS: [(0.0, 2.0)], CAMERAMAN: [(3.0, 5.0)]}
    assert rows["tl/a b.mp4"]["timeline"]["no_face"] == [(2.0, 3.0)]
    assert rows["tl/pair.mp4"]["timeline"]["people"] == {COLLINS: [(0.0, 2.0)], CAMERAMAN: [(0.0, 2.0)]}
    assert all(rows[f"tl/{stem}.mp4"]["timeline_judged"]["correct"] for stem in stems)
    assert report["timeline_scores"][COLLINS]["recall"] == report["timeline_scores"][CAMERAMAN]["recall"] == 1.0
    assert report["timeline_scores"][CAMERAMAN]["time_recall"] == 1.0
    # and the table `local run` prints
    table = format_table(report) + "\n" + describe(report)
    assert f"{COLLINS} 0-3 s, {CAMERAMAN} 4-6 s; no face 3-4 s" in table
    assert "stage-1 only the uploads' segments: yes" in table
    assert f"{s.architecture}, timeline:" in table


def test_a_video_longer_than_one_segment_gives_one_timeline(stack, clips):
    """maxFrames 10 at 1 fps: 10 s segments; the 12 s clip is two, merged into one timeline."""
    s = stack.settings
    report = run_videos(stack, [clips["too long.mp4"]], prefix="long/", timeout_s=240, progress=False)
    assert report["local"]["accounted_for"] and not report["local"]["failed"]
    s3 = stack.client("s3")
    document = json.loads(s3.get_object(Bucket=s.output_bucket, Key="long/too long.json")["Body"].read())
    assert (document["segments"], document["frames_analysed"]) == (2, 12)
    assert [(r["start_s"], r["end_s"]) for r in document["no_face"]] == [(0.0, 12.0)]  # one range across 10 s


def test_stage1_notifies_nothing_the_state_machine_runs_the_recognizer(stack):
    s = stack.settings
    config = stack.client("s3").get_bucket_notification_configuration(Bucket=s.stage1_bucket)
    assert not config.get("QueueConfigurations") and not config.get("LambdaFunctionConfigurations")
    assert stack.state_machine_arn is not None
