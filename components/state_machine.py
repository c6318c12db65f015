"""analysis: timeline: the state machine that fans a video out over its segments, as Amazon States
Language built from plain data. The Pulumi program (components/workflow.py) deploys exactly this
JSON and the local stack creates the same in moto, whose interpreter runs it.

    Segments (Map, inline, MaxConcurrency = segmentConcurrency)
      └ Sample (splitter, action "sample") → Recognise (recognizer, action "recognise")
    → Merge (recognizer, action "merge") → Cleanup (recognizer, action "cleanup") → done
    any segment failing after its retries, or the merge: → DeadLetter (SQS, the splitter's DLQ) → Failed

Why inline: a 6-hour video at the default 60 s segments is 360 items of ~80 bytes in the state
(~30 KB of the 256 KB a state may hold) and each iteration returns only its number and frame
count; inline Map runs at most 40 iterations at once, which `segmentConcurrency` may not exceed
(bench/README.md: what a distributed Map would cost and buy). Retries: Lambda's transient errors
with exponential backoff, and one more try for anything else (a worker that died); a segment that
still fails fails the Map, whose Catch writes the dead-letter record naming the video and the
error (the failing task's message names the segment) and ends the execution failed: no timeline.
Cleanup, its own state so a retried Merge always finds the segments' faces, deletes the segment
objects the execution wrote in stage-1; if it still fails after its retries the timeline stands
(Kept) and stage-1's expiry removes them.
"""

from __future__ import annotations

from typing import Any

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
SQS_SEND = "arn:aws:states:::sqs:sendMessage"
INLINE_MAP_MAX_CONCURRENCY = 40  # what inline Map runs at once at most (Step Functions' quota)
FAILED_ERROR = "TimelineFailed"
# Errors Lambda's service may answer for an invocation that never ran the function, retried with backoff.
TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ResourceConflictException",
]


def state_machine_name(name_prefix: str) -> str:
    return f"{name_prefix}-timeline"


def _retry() -> list[dict]:
    return [
        {"ErrorEquals": TRANSIENT, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1, "BackoffRate": 2.0},
    ]


def _task(function_arn: str, payload: dict, *, result: dict | None, result_path: str | None, nxt: str | None) -> dict:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function_arn, "Payload": payload},
        "Retry": _retry(),
        "ResultPath": result_path,
    }
    if result is not None:
        state["ResultSelector"] = result
    if nxt is None:
        state["End"] = True
    else:
        state["Next"] = nxt
    return state


def definition(
    *, splitter_arn: str, recognizer_arn: str, dead_letter_queue_url: str, stage1_bucket: str, concurrency: int
) -> dict:
    """The state machine's definition (ASL as a dict); `json.dumps` it for Step Functions."""
    if not 1 <= concurrency <= INLINE_MAP_MAX_CONCURRENCY:
        raise ValueError(f"segmentConcurrency {concurrency} is outside 1..{INLINE_MAP_MAX_CONCURRENCY}")
    iteration = {
        "StartAt": "Sample",
        "States": {
            "Sample": _task(
                splitter_arn,
                {"action": "sample", "video.$": "$.video", "segment.$": "$.segment"},
                result={"bucket.$": "$.Payload.bucket", "key.$": "$.Payload.key", "count.$": "$.Payload.frames"},
                result_path="$.frames",
                nxt="Recognise",
            ),
            "Recognise": _task(
                recognizer_arn,
                {"action": "recognise", "video.$": "$.video", "segment.$": "$.segment", "frames.$": "$.frames"},
                result={"index.$": "$.Payload.index", "frames.$": "$.Payload.frames"},
                result_path="$",
                nxt=None,
            ),
        },
    }
    return {
        "Comment": "One timeline per video: sample and recognise each segment, then merge",
        "StartAt": "Segments",
        "States": {
            "Segments": {
                "Type": "Map",
                "ItemsPath": "$.segments",
                "ItemSelector": {"video.$": "$.video", "segment.$": "$$.Map.Item.Value"},
                "MaxConcurrency": concurrency,
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **iteration},
                "ResultPath": None,  # the segments' faces are in stage-1; the state stays small
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DeadLetter"}],
                "Next": "Merge",
            },
            "Merge": {
                **_task(
                    recognizer_arn,
                    {
                        "action": "merge",
                        "video.$": "$.video",
                        "segments.$": "$.segments",
                        "duration_s.$": "$.duration_s",
                        "stage1_bucket": stage1_bucket,
                    },
                    result={"name.$": "$.Payload.name", "segments.$": "$.Payload.segments"},
                    result_path="$.timeline",
                    nxt="Cleanup",
                ),
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DeadLetter"}],
            },
            "Cleanup": {
                **_task(
                    recognizer_arn,
                    {
                        "action": "cleanup",
                        "video.$": "$.video",
                        "segments.$": "$.segments",
                        "stage1_bucket": stage1_bucket,
                    },
                    result={"deleted.$": "$.Payload.deleted"},
                    result_path="$.cleanup",
                    nxt=None,
                ),
                # the timeline is whole and written: a cleanup that keeps failing leaves the objects to expire
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanup_error", "Next": "Kept"}],
            },
            "Kept": {"Type": "Succeed"},
            "DeadLetter": {
                "Type": "Task",
                "Resource": SQS_SEND,
                "Parameters": {
                    "QueueUrl": dead_letter_queue_url,
                    # Shaped as Lambda's on-failure record (direct payload: the video), so the tools
                    # that explain a missing result from a dead-letter record read this one too.
                    "MessageBody": {
                        "version": "1.0",
                        "requestContext": {
                            "requestId.$": "$$.Execution.Id",
                            "functionArn.$": "$$.StateMachine.Id",
                            "condition": "ExecutionFailed",
                            "approximateInvokeCount": 1,
                        },
                        "requestPayload": {"bucket.$": "$.video.bucket", "key.$": "$.video.key"},
                        "responsePayload": {"errorType.$": "$.error.Error", "errorMessage.$": "$.error.Cause"},
                        "timeline": {"execution.$": "$$.Execution.Name", "duration_s.$": "$.duration_s"},
                    },
                },
                "ResultPath": None,
                "Next": "Failed",
            },
            "Failed": {
                "Type": "Fail",
                "Error": FAILED_ERROR,
                "Cause": "a segment or the merge failed after its retries: no timeline written",
            },
        },
    }


def invoked_functions(doc: dict) -> set[str]:
    """Every FunctionName the definition invokes (what its role must be allowed, and no more)."""
    found: set[str] = set()

    def walk(states: dict) -> None:
        for state in states.values():
            if state.get("Resource") == LAMBDA_INVOKE:
                found.add(state["Parameters"]["FunctionName"])
            if state.get("Type") == "Map":
                walk(state["ItemProcessor"]["States"])

    walk(doc["States"])
    return found


# -- IAM: least privilege for the state machine, and what the two functions need besides -------------

# What Step Functions needs to deliver execution logs to CloudWatch Logs. AWS documents these as
# taking only Resource "*" (the log delivery API is not scoped by resource).
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]


def assume_role() -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def role_policy(*, function_arns: list[str], dead_letter_queue_arn: str) -> dict:
    """The state machine's role: invoke the pipeline's functions (each ARN and its versions, nothing
    else), send the dead-letter record, deliver its execution logs."""
    functions = sorted(set(function_arns))
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokePipelineFunctions",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": functions + [f"{arn}:*" for arn in functions],
            },
            {
                "Sid": "DeadLetter",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [dead_letter_queue_arn],
            },
            {"Sid": "ExecutionLogs", "Effect": "Allow", "Action": LOG_DELIVERY_ACTIONS, "Resource": ["*"]},
        ],
    }


def splitter_policy(state_machine_arn: str) -> dict:
    """Besides its function role: start its state machine's executions (and nothing else's)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartTimeline",
                "Effect": "Allow",
                "Action": ["states:StartExecution"],
                "Resource": [state_machine_arn],
            }
        ],
    }


def recognizer_policy(stage1_bucket_arn: str) -> dict:
    """Besides its function role: write and read the segments' faces beside their frames, and delete
    both once the video's timeline is written (Cleanup)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SegmentFaces",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [f"{stage1_bucket_arn}/segments/*.json"],
            },
            {
                "Sid": "CleanSegments",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject"],
                "Resource": [f"{stage1_bucket_arn}/segments/*.json", f"{stage1_bucket_arn}/segments/*.tar"],
            },
        ],
    }


def log_group_name(name_prefix: str) -> str:
    return f"/aws/vendedlogs/states/{state_machine_name(name_prefix)}"
