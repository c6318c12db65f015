"""`tools.grade --wait S` stops waiting once every upload has a result or a dead-letter record
(issue 19: it waited all of S for a video that had dead-lettered, then blamed the time). Against
the tests' moto server, with Lambda's on-failure record in the splitter's queue."""

from __future__ import annotations

import json
import time

import boto3

from tests.s3_events import s3_event
from tools import grade


def dead_letter(sqs, queue: str, bucket: str, key: str) -> None:
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    record = {
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": s3_event(bucket, key),
        "responsePayload": {"errorType": "SplitError", "errorMessage": f"s3://{bucket}/{key}: not a readable video"},
    }
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))


def test_waiting_ends_when_every_upload_has_a_result_or_a_dead_letter_record(aws, s3, capsys):
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    for bucket in ("g-input", "g-stage-1", "g-output"):
        s3.create_bucket(Bucket=bucket)
    for key in ("ok.mp4", "broken.mp4"):
        s3.put_object(Bucket="g-input", Key=key, Body=b"v")
    s3.put_object(Bucket="g-output", Key="ok.txt", Body=b"Collins")
    dead_letter(sqs, "video-splitting-dlq", "g-input", "broken.mp4")
    sqs.create_queue(QueueName="face-recognition-dlq")
    # What Lambda published for the run: ok.mp4 once, broken.mp4 three times (grade waits for them too).
    boto3.client("cloudwatch", endpoint_url=aws, region_name="us-east-1").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "FunctionName", "Value": "video-splitting"}],
                "Value": 4,
                "Unit": "Count",
            }
        ],
    )
    started = time.monotonic()
    code = grade.main(["--name-prefix", "g", "--endpoint-url", aws, "--wait", "60", "--no-progress"])
    waited = time.monotonic() - started
    captured = capsys.readouterr()
    assert code == 1 and waited < 30, waited  # not the whole minute
    assert "stopped waiting: every upload has a result or a dead-letter record (1 dead-lettered" in captured.err
    assert "broken.mp4: video-splitting-dlq: RetriesExhausted after 3 attempts: SplitError" in captured.out


def test_waiting_goes_on_for_an_upload_with_neither(aws, s3, capsys):
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    for bucket in ("h-input", "h-stage-1", "h-output"):
        s3.create_bucket(Bucket=bucket)
    for key in ("ok.mp4", "broken.mp4", "lost.mp4"):
        s3.put_object(Bucket="h-input", Key=key, Body=b"v")
    s3.put_object(Bucket="h-output", Key="ok.txt", Body=b"Collins")
    dead_letter(sqs, "video-splitting-dlq", "h-input", "broken.mp4")
    sqs.create_queue(QueueName="face-recognition-dlq")
    started = time.monotonic()
    code = grade.main(["--name-prefix", "h", "--endpoint-url", aws, "--wait", "2", "--no-progress"])
    assert code == 1 and time.monotonic() - started >= 2  # lost.mp4 may still come: the whole wait
    assert "stopped waiting" not in capsys.readouterr().err
