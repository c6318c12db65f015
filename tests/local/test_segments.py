"""analysis: timeline of any length through the embedded stack, in both wirings: moto's Step
Functions interpreter runs the stack's state machine (components/state_machine.py), whose Lambda
tasks reach the real workers (real ffmpeg seeking over HTTP into real H.264, real ONNX graphs with
the stand-in weights). Short segments (maxFrames 10 at 1 fps: 10 s) keep the videos short."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from components.topology import ARCHITECTURES, TIMELINE
from local.session import run_videos
from local.stack import LocalStack, load_settings
from pipeline_common import segments
from tools.demo import samples
from tools.grade import mapping_expectation
from tools.modelbuild.ffmpeg import run_ffmpeg

pytestmark = pytest.mark.slow

STACK_FILE = """\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: vfp-seg
  video-face-pipeline:maxRetryAttempts: "0"
  video-face-pipeline:sampleFps: "1"
  video-face-pipeline:maxFrames: "10"
  video-face-pipeline:segmentConcurrency: "3"
"""
COLLINS, CAMERAMAN = samples.PEOPLE["astronaut"], samples.PEOPLE["camera"]
# Collins 0-23 s (across the 10 s and 20 s boundaries), a cat 23-26 s, the cameraman 26-34 s (across 30 s)
LONG: list[tuple[str, float]] = [("astronaut", 23), ("chelsea", 3), ("camera", 8)]


def finished(sfn, arn: str, timeout_s: float = 120) -> list[dict]:
    """The state machine's executions once none is running (Cleanup runs after the result is written)."""
    deadline = time.monotonic() + timeout_s
    while True:
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        if all(e["status"] != "RUNNING" for e in executions) or time.monotonic() > deadline:
            return executions
        time.sleep(0.5)


def corrupt_middle(source: Path, target: Path, seconds: float, bad: tuple[float, float]) -> Path:
    """`source` as Motion JPEG in AVI (every frame coded alone), with the inside of each frame shown
    between `bad` seconds scrambled: only the segment holding them cannot be decoded."""
    coded = target.with_suffix(".clean.avi")
    run_ffmpeg("-i", str(source), "-c:v", "mjpeg", "-q:v", "5", str(coded))
    data = bytearray(coded.read_bytes())
    starts = [m.start() for m in re.finditer(rb"\xff\xd8\xff", bytes(data))]  # each frame's JPEG
    per_second = len(starts) / seconds
    for k in range(int(bad[0] * per_second), int(bad[1] * per_second)):
        for i in range(starts[k] + 1000, starts[k + 1] - 1000):
            data[i] = (i * 7919) % 256
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("segment-clips")
    long = samples.sequence_video(LONG, folder / "long.mp4", size=(320, 240))
    plain = samples.sequence_video([("astronaut", 15), ("camera", 15)], folder / "plain.mp4", size=(320, 240))
    return {"long.mp4": long, "bad.avi": corrupt_middle(plain, folder / "bad.avi", 30, (12, 18))}


@pytest.fixture(scope="module", params=ARCHITECTURES)
def stack(request, tmp_path_factory, face_db, model_dir):
    path = tmp_path_factory.mktemp("stack") / "Pulumi.segments.yaml"
    path.write_text(STACK_FILE)
    settings = load_settings(path, db=face_db, architecture=request.param, analysis=TIMELINE)
    logs = tmp_path_factory.mktemp(f"logs-{request.param}")
    with LocalStack(settings, model_dir=model_dir, concurrency=2, log_dir=logs, retry_delay_s=0.2) as running:
        yield running


def test_a_person_across_segment_boundaries_is_one_range_and_a_duplicate_upload_one_result(stack, clips):
    s = stack.settings
    expect = mapping_expectation({"long.mp4": {"people": {COLLINS: [[0, 23]], CAMERAMAN: [[26, 34]]}}})
    report = run_videos(stack, [clips["long.mp4"]], expect=expect, prefix="seg/", timeout_s=300, progress=False)
    assert report["local"]["accounted_for"] and not report["local"]["failed"], report["videos"]
    s3 = stack.client("s3")
    document = json.loads(s3.get_object(Bucket=s.output_bucket, Key="seg/long.json")["Body"].read())
    people = {p["name"]: [(r["start_s"], r["end_s"]) for r in p["ranges"]] for p in document["people"]}
    # one range each, every boundary within one sampling interval (1 s) of the truth
    assert set(people) == {COLLINS, CAMERAMAN} and all(len(r) == 1 for r in people.values()), people
    (c0, c1), (m0, m1) = people[COLLINS][0], people[CAMERAMAN][0]
    assert c0 == 0 and abs(c1 - 23) <= 1 and abs(m0 - 26) <= 1 and abs(m1 - 34) <= 1, people
    assert len(document["no_face"]) == 1
    assert document["answer"] == COLLINS
    assert document["segments"] == 4 and document["duration_s"] == pytest.approx(34, abs=0.2)
    assert s3.get_object(Bucket=s.output_bucket, Key="seg/long.txt")["Body"].read().decode() == COLLINS

    sfn = stack.client("stepfunctions")
    executions = finished(sfn, stack.state_machine_arn)
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    # Cleanup deleted the execution's segment objects (frames and faces), not the upload
    assert "Contents" not in s3.list_objects_v2(Bucket=s.stage1_bucket, Prefix=segments.video_folder("seg/long.mp4"))
    assert s3.head_object(Bucket=s.input_bucket, Key="seg/long.mp4")["ContentLength"] > 0
    history = sfn.get_execution_history(executionArn=executions[0]["executionArn"])["events"]
    assert any(e.get("stateExitedEventDetails", {}).get("name") == "Cleanup" for e in history)
    # a retried cleanup (the task again, its objects already gone) succeeds the same way
    planned = [{"index": i, "start_s": 10.0 * i, "end_s": 10.0 * i + 10} for i in range(4)]
    etag = s3.head_object(Bucket=s.input_bucket, Key="seg/long.mp4")["ETag"]
    video = {"bucket": s.input_bucket, "key": "seg/long.mp4", "etag": etag.strip('"')}
    payload = {"action": "cleanup", "video": video, "stage1_bucket": s.stage1_bucket, "segments": planned}
    again = stack.client("lambda").invoke(FunctionName=s.recognizer.name, Payload=json.dumps(payload).encode())
    assert "FunctionError" not in again and json.loads(again["Payload"].read()) == {"deleted": 8}
    # the same bytes again (a duplicate upload, or S3 delivering the event twice): no second execution
    first = s3.get_object(Bucket=s.output_bucket, Key="seg/long.json")["LastModified"]
    s3.upload_file(str(clips["long.mp4"]), s.input_bucket, "seg/long.mp4")
    assert stack.wait_idle(120)
    assert len(sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]) == 1
    assert s3.get_object(Bucket=s.output_bucket, Key="seg/long.json")["LastModified"] == first


def test_a_corrupt_middle_segment_fails_the_video_by_name_and_writes_no_timeline(stack, clips):
    s = stack.settings
    report = run_videos(stack, [clips["bad.avi"]], prefix="bad/", timeout_s=300, progress=False)
    assert "bad/bad.avi" in report["local"]["failed"], report["videos"]
    s3 = stack.client("s3")
    assert "Contents" not in s3.list_objects_v2(Bucket=s.output_bucket, Prefix="bad/")  # no timeline, no answer
    records = [r for r in stack.dead_letters() if "timeline" in r]
    assert len(records) == 1
    record = records[0]
    assert record["requestPayload"] == {"bucket": s.input_bucket, "key": "bad/bad.avi"}
    cause = record["responsePayload"]["errorMessage"]
    assert "bad/bad.avi segment 1 (10-20 s): corrupt" in cause, cause
    sfn = stack.client("stepfunctions")
    failed = sfn.list_executions(stateMachineArn=stack.state_machine_arn, statusFilter="FAILED")["executions"]
    assert len(failed) == 1
    history = sfn.get_execution_history(executionArn=failed[0]["executionArn"])["events"]
    types = [e["type"] for e in history]
    # (moto's history may list an iteration that was still running after the failure, unlike AWS's)
    assert {"MapStateFailed", "TaskFailed", "ExecutionFailed"} <= set(types), types
    assert "MapStateSucceeded" not in types and "ExecutionSucceeded" not in types


def test_a_video_longer_than_six_hours_is_refused_by_name(stack, tmp_path):
    """A 1 KB Motion JPEG whose three frames span 8 h 20 min: refused from its header, before any segment."""
    s = stack.settings
    video = tmp_path / "night.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=64x64:r=1/10000", "-t", "30000", "-c:v", "mjpeg", str(video))
    report = run_videos(stack, [video], prefix="night/", timeout_s=120, progress=False)
    assert report["local"]["failed"] == {"night/night.mkv": "video-splitting-dlq after 1 attempts: SplitError"}
    [record] = [r for r in stack.dead_letters() if r["requestContext"].get("condition") == "RetriesExhausted"]
    message = record["responsePayload"]["errorMessage"]
    assert message == f"s3://{s.input_bucket}/night/night.mkv: 30,000 s long, over the 21,600 s (6 h) a timeline takes"
    executions = stack.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert all(not e["name"].startswith("night") for e in executions)


def test_a_sound_track_longer_than_the_picture_leaves_empty_segments_and_one_timeline(stack, tmp_path):
    """The container's duration is its longest stream's: 25 s of sound over 15 s of picture plans a
    third segment (20-25 s) with no picture, which is empty rather than a failure."""
    s = stack.settings
    picture = samples.sequence_video([("astronaut", 15)], tmp_path / "picture.mp4", size=(320, 240))
    video = tmp_path / "talk.mp4"
    sound = "sine=frequency=440:duration=25"
    run_ffmpeg("-i", str(picture), "-f", "lavfi", "-i", sound, "-c:v", "copy", "-c:a", "aac", str(video))
    report = run_videos(stack, [video], prefix="talk/", timeout_s=300, progress=False)
    assert report["local"]["accounted_for"] and not report["local"]["failed"], report["videos"]
    s3 = stack.client("s3")
    document = json.loads(s3.get_object(Bucket=s.output_bucket, Key="talk/talk.json")["Body"].read())
    assert document["segments"] == 3 and document["duration_s"] == pytest.approx(25, abs=0.1)
    people = {p["name"]: [(r["start_s"], r["end_s"]) for r in p["ranges"]] for p in document["people"]}
    assert people == {COLLINS: [(0.0, 15.0)]} and document["frames_analysed"] == 15
