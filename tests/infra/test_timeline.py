"""analysis: timeline under Pulumi's mocks, in both wirings: what the splitter and the recognizer may
read and write, which objects notify whom, the environment each function gets, the state machine
that fans a video out over its segments (its Map invoking the recognizer, its role, its logs, the
failed-executions alarm, the dashboard), and the outputs; a first-frame stack has none of it."""

from __future__ import annotations

import json

from tests.infra.conftest import (
    T_ALARM,
    T_DASHBOARD,
    T_FUNCTION,
    T_LOG_GROUP,
    T_QUEUE,
    T_ROLE,
    T_ROLE_POLICY,
    T_STATE_MACHINE,
    T_TOPIC,
)
from tests.infra.test_program import _notification_targets, _statements
from tests.infra.test_program import test_no_function_can_trigger_itself as no_function_triggers_itself


def _state_machine(program):
    machines = program.of(T_STATE_MACHINE)
    assert len(machines) == 1
    return machines[0]


def test_the_splitter_writes_segment_frames_and_the_recognizer_reads_them(timeline):
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
    assert recognizer["SegmentFaces"]["Resource"] == ["arn:aws:s3:::vfp-test-stage-1/segments/*.json"]
    assert recognizer["CleanSegments"]["Action"] == ["s3:DeleteObject"]
    assert recognizer["CleanSegments"]["Resource"] == [
        f"arn:aws:s3:::vfp-test-stage-1/segments/*.{x}" for x in ("json", "tar")
    ]
    # the state machine invokes the recognizer, in either wiring; the splitter only starts it
    assert "InvokeNextStage" not in splitter
    assert splitter["StartTimeline"]["Action"] == ["states:StartExecution"]
    assert splitter["StartTimeline"]["Resource"] == [_state_machine(timeline).state["arn"]]


def test_only_the_input_bucket_notifies_and_only_the_splitter(timeline):
    targets = _notification_targets(timeline)
    arns = {fn.get("name"): fn.state["arn"] for fn in timeline.of(T_FUNCTION)}
    assert targets == {"vfp-test-input": [(arns["video-splitting"], ("s3:ObjectCreated:*",), None)]}
    no_function_triggers_itself(timeline)


def test_both_functions_get_the_analysis_and_the_splitter_its_sampling_and_state_machine(timeline):
    env = {fn.get("name"): fn.get("environment")["variables"] for fn in timeline.of(T_FUNCTION)}
    assert {k: env["video-splitting"][k] for k in ("ANALYSIS", "SAMPLE_FPS", "MAX_FRAMES", "STATE_MACHINE_NAME")} == {
        "ANALYSIS": "timeline",
        "SAMPLE_FPS": "2.0",
        "MAX_FRAMES": "30",
        "STATE_MACHINE_NAME": "vfp-test-timeline",
    }
    assert {k: env["face-recognition"][k] for k in ("ANALYSIS", "MAX_FRAMES")} == {
        "ANALYSIS": "timeline",
        "MAX_FRAMES": "30",
    }
    assert "SAMPLE_FPS" not in env["face-recognition"]  # the frames object says how it was sampled
    assert "RECOGNIZER_FUNCTION" not in env["video-splitting"]  # the state machine invokes it
    assert timeline.exports["analysis"] == "timeline"


def test_the_state_machine_maps_the_recognizer_over_segments_with_a_least_privilege_role(timeline):
    machine = _state_machine(timeline)
    arns = {fn.get("name"): fn.state["arn"] for fn in timeline.of(T_FUNCTION)}
    assert machine.get("name") == "vfp-test-timeline" and machine.get("type") == "STANDARD"
    doc = json.loads(machine.get("definition"))
    segments = doc["States"]["Segments"]
    assert segments["Type"] == "Map" and segments["MaxConcurrency"] == 40
    assert segments["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    inner = segments["ItemProcessor"]["States"]
    assert inner["Recognise"]["Parameters"]["FunctionName"] == arns["face-recognition"]
    assert inner["Sample"]["Parameters"]["FunctionName"] == arns["video-splitting"]
    assert any("Lambda.TooManyRequestsException" in r["ErrorEquals"] for r in inner["Recognise"]["Retry"])
    assert segments["Catch"][0]["Next"] == "DeadLetter"
    assert doc["States"]["Merge"]["Parameters"]["Payload"]["action"] == "merge"
    dlq = timeline.by_input(T_QUEUE, "name", "video-splitting-dlq")
    assert doc["States"]["DeadLetter"]["Parameters"]["QueueUrl"] == dlq.state["url"]
    # its role: assumed by Step Functions only; may invoke the pipeline's two functions and nothing else
    role = next(r for r in timeline.of(T_ROLE) if r.state["arn"] == machine.get("roleArn"))
    assert json.loads(role.get("assumeRolePolicy"))["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    (policy,) = [p for p in timeline.of(T_ROLE_POLICY) if p.get("role") == role.state["name"]]
    statements = {st["Sid"]: st for st in timeline.policy(policy)["Statement"]}
    pipeline = sorted(arns.values())
    assert statements["InvokePipelineFunctions"] == {
        "Sid": "InvokePipelineFunctions",
        "Effect": "Allow",
        "Action": ["lambda:InvokeFunction"],
        "Resource": pipeline + [f"{a}:*" for a in pipeline],
    }
    assert statements["DeadLetter"]["Resource"] == [dlq.state["arn"]]
    invoking = [st for st in statements.values() if any(a.startswith("lambda:") for a in st["Action"])]
    assert invoking == [statements["InvokePipelineFunctions"]]
    assert all(a.startswith("logs:") for a in statements["ExecutionLogs"]["Action"])
    # execution logging to its own log group
    logging = machine.get("loggingConfiguration")
    group = timeline.by_input(T_LOG_GROUP, "name", "/aws/vendedlogs/states/vfp-test-timeline")
    assert logging["logDestination"] == group.state["arn"] + ":*" and logging["level"] == "ERROR"


def test_failed_executions_alarm_the_stacks_topic_and_the_dashboard_shows_executions(timeline):
    machine = _state_machine(timeline)
    (alarm,) = [a for a in timeline.of(T_ALARM) if a.get("metricName") == "ExecutionsFailed"]
    (topic,) = [t for t in timeline.of(T_TOPIC) if str(t.get("name")).endswith("-alarms")]
    assert alarm.get("namespace") == "AWS/States"
    assert alarm.get("dimensions") == {"StateMachineArn": machine.state["arn"]}
    assert alarm.get("alarmActions") == [topic.state["arn"]] and alarm.get("threshold") == 0
    body = json.loads(timeline.of(T_DASHBOARD)[0].get("dashboardBody"))
    assert any("AWS/States" in json.dumps(w) and "vfp-test-timeline" in json.dumps(w) for w in body["widgets"])
    assert timeline.exports["stateMachineArn"] == machine.state["arn"]


def test_a_first_frame_stack_has_no_state_machine(program):
    assert not program.of(T_STATE_MACHINE)
    assert not [a for a in program.of(T_ALARM) if a.get("namespace") == "AWS/States"]
    assert "stateMachineArn" not in program.exports
    assert all("STATE_MACHINE_NAME" not in fn.get("environment")["variables"] for fn in program.of(T_FUNCTION))
    body = json.loads(program.of(T_DASHBOARD)[0].get("dashboardBody"))
    assert not any("AWS/States" in json.dumps(w) for w in body["widgets"])
