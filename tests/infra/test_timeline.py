"""analysis: timeline under Pulumi's mocks, in both wirings: what the splitter and the recognizer may
read and write, which objects notify whom, the environment each function gets, and the outputs."""

from __future__ import annotations

from tests.infra.conftest import ACCOUNT, REGION, T_FUNCTION
from tests.infra.test_program import _notification_targets, _statements
from tests.infra.test_program import test_no_function_can_trigger_itself as no_function_triggers_itself


def test_the_splitter_writes_one_frames_object_and_the_recognizer_reads_it(timeline):
    splitter = _statements(timeline, "video-splitting")
    assert splitter["WriteOutput"]["Resource"] == ["arn:aws:s3:::vfp-test-stage-1/*.tar"]
    assert splitter["ReadInput"]["Resource"] == ["arn:aws:s3:::vfp-test-input/*"]
    recognizer = _statements(timeline, "face-recognition")
    assert recognizer["ReadInput"]["Resource"] == ["arn:aws:s3:::vfp-test-stage-1/*.tar"]
    # the timeline beside the text answer, in the output bucket, and nothing else
    assert recognizer["WriteOutput"]["Resource"] == [
        "arn:aws:s3:::vfp-test-output/*.txt",
        "arn:aws:s3:::vfp-test-output/*.json",
    ]
    if timeline.settings.direct_invocation:
        assert splitter["InvokeNextStage"]["Resource"] == [
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:face-recognition"
        ]
    else:
        assert "InvokeNextStage" not in splitter


def test_stage1_notifies_the_recognizer_of_frames_objects_only_in_event_driven_wiring(timeline):
    targets = _notification_targets(timeline)
    arns = {fn.get("name"): fn.state["arn"] for fn in timeline.of(T_FUNCTION)}
    assert targets["vfp-test-input"] == [(arns["video-splitting"], ("s3:ObjectCreated:*",), None)]
    if timeline.settings.direct_invocation:
        assert "vfp-test-stage-1" not in targets
    else:
        assert targets["vfp-test-stage-1"] == [(arns["face-recognition"], ("s3:ObjectCreated:*",), ".tar")]
    no_function_triggers_itself(timeline)


def test_both_functions_get_the_analysis_and_the_splitter_its_sampling(timeline):
    env = {fn.get("name"): fn.get("environment")["variables"] for fn in timeline.of(T_FUNCTION)}
    assert {k: env["video-splitting"][k] for k in ("ANALYSIS", "SAMPLE_FPS", "MAX_FRAMES")} == {
        "ANALYSIS": "timeline",
        "SAMPLE_FPS": "2.0",
        "MAX_FRAMES": "30",
    }
    assert {k: env["face-recognition"][k] for k in ("ANALYSIS", "MAX_FRAMES")} == {
        "ANALYSIS": "timeline",
        "MAX_FRAMES": "30",
    }
    assert "SAMPLE_FPS" not in env["face-recognition"]  # the frames object says how it was sampled
    assert timeline.exports["analysis"] == "timeline"
