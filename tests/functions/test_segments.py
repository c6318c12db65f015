"""analysis timeline, any length, the plain parts: how a video is cut into segments on the sampling
grid, what names its one execution, where a segment's objects live, and the state machine's
definition (its Map, retries, catch and the functions it may invoke)."""

from __future__ import annotations

import json
import re

import pytest

from components import state_machine
from pipeline_common import limits, segments


def test_segments_cover_the_video_on_the_sampling_grid():
    planned = segments.plan(34.0, 1.0, 10)
    assert [(s.start_s, s.end_s) for s in planned] == [(0, 10), (10, 20), (20, 30), (30, 34)]
    assert [s.index for s in planned] == [0, 1, 2, 3]
    # 2 frames a second, 30 a segment: 15 s segments; boundaries are multiples of the 0.5 s interval
    assert [s.start_s for s in segments.plan(40, 2.0, 30)] == [0, 15, 30]
    assert len(segments.plan(60.0, 1.0, 60)) == 1 and len(segments.plan(60.000001, 1.0, 60)) == 2
    six_hours = segments.plan(limits.MAX_VIDEO_SECONDS, 1.0, 60)
    assert len(six_hours) == 360 and six_hours[-1].end_s == limits.MAX_VIDEO_SECONDS
    with pytest.raises(ValueError):
        segments.plan(0, 1.0, 60)


def test_the_six_hour_plan_fits_in_one_state_with_room_to_spare():
    plan = [s.as_dict() for s in segments.plan(limits.MAX_VIDEO_SECONDS, 1.0, 60)]
    document = {"video": {"bucket": "b" * 63, "key": "k" * 1024, "etag": "e" * 34, "bytes": 10**10}, "segments": plan}
    assert len(json.dumps(document)) < 64 * 1024  # a state may hold 256 KB


def test_one_upload_names_one_execution():
    name = segments.execution_name("in", "dir/My clip (1).mp4", '"abc"')
    assert name == segments.execution_name("in", "dir/My clip (1).mp4", "abc")  # S3 quotes ETags
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name) and name.startswith("My-clip-1-mp4-")
    others = {
        segments.execution_name("in", "dir/My clip (1).mp4", "abd"),  # new bytes
        segments.execution_name("in", "other/My clip (1).mp4", "abc"),  # same name, other folder
        segments.execution_name("in2", "dir/My clip (1).mp4", "abc"),
    }
    assert name not in others and len(others) == 3
    long = segments.execution_name("in", "x" * 1024 + ".mp4", "abc")
    assert len(long) <= 80 and re.fullmatch(r"[A-Za-z0-9_-]+", long)
    assert re.fullmatch(r"[0-9a-f]{40}", segments.execution_name("in", "日本.mp4", "abc").split("-")[-1])


def test_segment_keys_are_injective_and_never_an_uploads_own():
    a, b = segments.frames_key("a/b.mp4", 0), segments.frames_key("a%2Fb.mp4", 0)
    assert a == "segments/a%2Fb.mp4/00000.tar" and a != b
    assert segments.faces_key("a/b.mp4", 12) == "segments/a%2Fb.mp4/00012.json"
    assert segments.folder("a/b.mp4") != segments.folder("a/b.mp4/")


def definition(concurrency: int = 7) -> dict:
    return state_machine.definition(
        splitter_arn="arn:split",
        recognizer_arn="arn:rec",
        dead_letter_queue_url="https://sqs/dlq",
        stage1_bucket="s1",
        concurrency=concurrency,
    )


def test_the_definition_maps_sample_then_recognise_over_segments_then_merges():
    doc = definition()
    assert doc["StartAt"] == "Segments"
    mapped = doc["States"]["Segments"]
    assert (mapped["Type"], mapped["ItemsPath"], mapped["MaxConcurrency"]) == ("Map", "$.segments", 7)
    assert mapped["ResultPath"] is None and mapped["Next"] == "Merge"
    inner = mapped["ItemProcessor"]
    assert inner["StartAt"] == "Sample" and inner["States"]["Sample"]["Next"] == "Recognise"
    assert inner["States"]["Recognise"]["End"] is True
    assert doc["States"]["Merge"]["Parameters"]["Payload"]["stage1_bucket"] == "s1"
    assert state_machine.invoked_functions(doc) == {"arn:split", "arn:rec"}
    # after the merge, Cleanup deletes the segment objects; its failure leaves the timeline standing
    cleanup = doc["States"]["Cleanup"]
    assert doc["States"]["Merge"]["Next"] == "Cleanup" and cleanup["End"] is True
    assert (
        cleanup["Parameters"]["Payload"]["action"] == "cleanup" and cleanup["Parameters"]["FunctionName"] == "arn:rec"
    )
    assert cleanup["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanup_error", "Next": "Kept"}]
    assert doc["States"]["Kept"] == {"Type": "Succeed"}
    for state in (inner["States"]["Sample"], inner["States"]["Recognise"], doc["States"]["Merge"], cleanup):
        transient, anything = state["Retry"]
        assert "Lambda.TooManyRequestsException" in transient["ErrorEquals"] and transient["BackoffRate"] == 2
        assert anything["ErrorEquals"] == ["States.ALL"] and anything["MaxAttempts"] == 1
    for name in ("Segments", "Merge"):
        assert doc["States"][name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DeadLetter"}
        ]
    dead = doc["States"]["DeadLetter"]
    assert dead["Parameters"]["QueueUrl"] == "https://sqs/dlq" and dead["Next"] == "Failed"
    assert dead["Parameters"]["MessageBody"]["requestPayload"] == {"bucket.$": "$.video.bucket", "key.$": "$.video.key"}
    assert doc["States"]["Failed"]["Type"] == "Fail"
    with pytest.raises(ValueError, match="segmentConcurrency 41"):
        definition(41)


def test_the_role_may_invoke_only_the_functions_it_is_given():
    policy = state_machine.role_policy(function_arns=["arn:b", "arn:a", "arn:a"], dead_letter_queue_arn="arn:q")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["InvokePipelineFunctions"]["Resource"] == ["arn:a", "arn:b", "arn:a:*", "arn:b:*"]
    assert statements["DeadLetter"] == {
        "Sid": "DeadLetter",
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": ["arn:q"],
    }
    assert [a for s in policy["Statement"] for a in s["Action"] if a.startswith("lambda:")] == ["lambda:InvokeFunction"]


# The 10 GB refusal. Uploading 10 GB to moto here would take minutes of a shared machine and 10 GB of
# disk, so the one thing substituted is S3's answer to the splitter's HeadObject: an event hook on the
# real client sets the ContentLength a 10 GB object would have. The request still goes to S3 (moto's
# server), the splitter's own code and the real limit (pipeline_common.limits) decide, and the object's
# bytes are not a video: a splitter that let it through would fail at ffmpeg's probe with another message.
TOO_BIG, JUST_RIGHT = limits.MAX_VIDEO_BYTES + 1, limits.MAX_VIDEO_BYTES


def _claimed_length(length: int):
    def hook(parsed: dict, **_: object) -> None:
        parsed["ContentLength"] = length

    return hook


@pytest.fixture
def timeline_splitter(s3):
    from tools.modelbuild.ffmpeg import ffmpeg_exe
    from video_splitting.config import SplitterConfig
    from video_splitting.service import SplittingService

    for bucket in ("big-input", "big-stage-1"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="big-input", Key="films/huge.mp4", Body=b"not really ten gigabytes of video")
    config = SplitterConfig("big-stage-1", ffmpeg_exe(), None, analysis="timeline", state_machine="big-timeline")
    return SplittingService(config, s3=s3)


def test_the_limit_is_rekognition_videos_ten_gb():
    assert limits.MAX_VIDEO_BYTES == 10 * 10**9


@pytest.mark.parametrize("length, refused", [(TOO_BIG, True), (JUST_RIGHT, False)])
def test_a_video_over_10_gb_is_refused_by_name_before_ffmpeg_reads_it(timeline_splitter, s3, length, refused):
    from tests.s3_events import s3_event
    from video_splitting.service import SplitError

    s3.meta.events.register("after-call.s3.HeadObject", _claimed_length(length))
    with pytest.raises(SplitError) as raised:
        timeline_splitter.handle_event(s3_event("big-input", "films/huge.mp4"))
    message = str(raised.value)
    assert "s3://big-input/films/huge.mp4" in message
    over = f"{length:,} bytes, over the {limits.MAX_VIDEO_BYTES:,} bytes a timeline takes (10 GB)"
    assert (over in message) is refused, message
    assert ("not a readable video" in message) is not refused, message  # exactly 10 GB goes on to ffmpeg's probe
    assert "Contents" not in s3.list_objects_v2(Bucket="big-stage-1")  # nothing written, no execution
