"""The local stack as any AWS client sees it: `python -m local serve` in a real subprocess, and
clients that are told nothing but AWS_ENDPOINT_URL (plus the region and the dummy credentials any
SDK needs): boto3 as it comes, a grader written for AWS, and `tools.grade` as a user runs it.

One stack per wiring serves every test here, in order: the grader first (it wants empty buckets),
then the control plane, the logs, a poisoned upload and what the tools make of it.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from components import topology
from components.project import PROJECT_DIR
from components.settings import StackSettings, function_environment
from local.stack import load_settings

# Whole stacks, subprocesses, model loads or an 80 MB layer: `make test-fast` leaves these out.
pytestmark = pytest.mark.slow

STACK_FILE = """\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: vfp-aws
  video-face-pipeline:architecture: {architecture}
  video-face-pipeline:splitterMemory: "1536"
  video-face-pipeline:recognizerTimeout: "90"
  video-face-pipeline:recognizerEphemeralStorage: "1024"
  video-face-pipeline:recognizerReservedConcurrency: "2"
  video-face-pipeline:logRetentionDays: "3"
"""
UPLOADS = {"clip_1.mp4": "astronaut", "clip_2.mp4": "camera", "clip_3.mp4": "chelsea", "clip_4.mp4": "camera"}
NAMES = {"astronaut": "Collins", "camera": "Cameraman", "chelsea": "no-face"}
LOCATION_VARIABLES = {"FFMPEG_PATH", "FACE_DB_PATH", "MODEL_DIR"}  # this machine's paths, not /opt and /var/task
STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


@dataclass
class Served:
    info: dict
    settings: StackSettings
    outputs: Path
    started: datetime


@pytest.fixture(scope="module", params=topology.ARCHITECTURES)
def served(request, face_db, model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    stack_file = folder / "Pulumi.aws.yaml"
    stack_file.write_text(STACK_FILE.format(architecture=request.param))
    outputs = folder / "outputs.json"
    with open(folder / "serve.err", "wb") as err:  # the child keeps its own copy
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "serve", "--stack", str(stack_file), "--db", str(face_db)]
            + ["--model-dir", str(model_dir), "--logs", str(folder / "logs"), "--concurrency", "2"]
            + ["--outputs", str(outputs)],
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 180)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        pytest.fail(f"serve did not start: {(folder / 'serve.err').read_text()[-3000:]}")
    try:
        yield Served(json.loads(line), load_settings(stack_file, db=face_db), outputs, datetime.now(UTC))
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        proc.stdout.close()
    assert not outputs.exists()  # a stopped stack's outputs would name an endpoint that is gone


@pytest.fixture
def aws(served, monkeypatch):
    """An AWS client's environment with the stack's endpoint: AWS_ENDPOINT_URL and the credentials
    `serve` printed, nothing else (conftest gives every test the region)."""
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", served.info["endpoint_url"])
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, served.info["environment"][key])
    return served


def client(service: str):
    """A boto3 client as a script written for AWS makes one: no endpoint, no credentials in code."""
    return boto3.session.Session().client(service)


def statistic(metric: str, dimension: tuple[str, str], stat: str, since: datetime, namespace: str = "AWS/Lambda"):
    """One statistic over every one-minute period from `since` until now, as a list per period."""
    points = client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": dimension[0], "Value": dimension[1]}],
        StartTime=since - timedelta(minutes=1),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=[stat],
    )["Datapoints"]
    return [p[stat] for p in points]


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


# -- the grader written for AWS ------------------------------------------------------------------------


def aws_grader(settings: StackSettings, videos: dict[str, Path], expected: dict[str, str], since: datetime) -> dict:
    """What a course grader does against a deployed stack, knowing only names: both functions exist,
    the three buckets start empty, uploads, watches the output bucket fill, counts stage-1 and output,
    reads each function's CloudWatch Duration and ConcurrentExecutions, checks every name. Returns
    each check's outcome and the figures it read."""
    lam, s3 = client("lambda"), client("s3")
    functions = [settings.splitter.name, settings.recognizer.name]
    checks: dict[str, bool] = {}
    try:
        checks["functions exist"] = all(lam.get_function(FunctionName=f)["Configuration"]["State"] for f in functions)
    except ClientError:
        checks["functions exist"] = False
    buckets = (settings.input_bucket, settings.stage1_bucket, settings.output_bucket)
    checks["buckets start empty"] = all(s3.list_objects_v2(Bucket=b)["KeyCount"] == 0 for b in buckets)
    for key, path in videos.items():
        s3.upload_file(str(path), settings.input_bucket, key)
    deadline = time.monotonic() + 240
    while s3.list_objects_v2(Bucket=settings.output_bucket)["KeyCount"] < len(videos) and time.monotonic() < deadline:
        time.sleep(1)
    checks["stage-1 count"] = s3.list_objects_v2(Bucket=settings.stage1_bucket)["KeyCount"] == len(videos)
    checks["output count"] = s3.list_objects_v2(Bucket=settings.output_bucket)["KeyCount"] == len(videos)
    figures = {}
    for function in functions:  # CloudWatch lags a run on AWS too: poll until every invocation is counted
        wait_for(
            lambda f=function: sum(statistic("Duration", ("FunctionName", f), "SampleCount", since)) >= len(videos),
            60,
            f"{function}: Duration not in CloudWatch",
        )
        figures[function] = {
            "duration_avg": statistic("Duration", ("FunctionName", function), "Average", since),
            "concurrency_max": max(statistic("ConcurrentExecutions", ("FunctionName", function), "Maximum", since)),
        }
    checks["durations read"] = all(f["duration_avg"] for f in figures.values())
    got = {
        key: s3.get_object(Bucket=settings.output_bucket, Key=key.rsplit(".", 1)[0] + ".txt")["Body"].read().decode()
        for key in videos
    }
    checks["every name"] = got == expected
    return {"checks": checks, "figures": figures}


def test_a_grader_written_for_aws_passes_against_serve(aws, videos, tmp_path):
    s = aws.settings
    files = {key: videos[image] for key, image in UPLOADS.items()}
    result = aws_grader(s, files, {key: NAMES[image] for key, image in UPLOADS.items()}, aws.started)
    assert result["checks"] == dict.fromkeys(
        ["functions exist", "buckets start empty", "stage-1 count", "output count", "durations read", "every name"],
        True,
    )

    # And the figures are what the run did: each upload one invocation of each function, two
    # environments busy at once (two workers each), the mean of the durations the functions reported.
    for function in (s.splitter.name, s.recognizer.name):
        dimension = ("FunctionName", function)
        assert sum(statistic("Invocations", dimension, "Sum", aws.started)) == len(UPLOADS), function
        assert sum(statistic("Errors", dimension, "Sum", aws.started)) == 0, function
        assert sum(statistic("AsyncEventsReceived", dimension, "Sum", aws.started)) == len(UPLOADS), function
        assert result["figures"][function]["concurrency_max"] == 2, function
        reported = [  # REPORT RequestId: ...\tDuration: 812.40 ms\t... in the function's log group
            float(m.group(1))
            for e in client("logs").filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern="REPORT")[
                "events"
            ]
            if (m := re.search(r"\tDuration: ([\d.]+) ms", e["message"]))
        ]
        assert len(reported) == len(UPLOADS), function
        total = sum(statistic("Duration", dimension, "Sum", aws.started))
        count = sum(statistic("Duration", dimension, "SampleCount", aws.started))
        assert total / count == pytest.approx(sum(reported) / len(reported), abs=0.01), function
        p99 = client("cloudwatch").get_metric_data(  # percentiles too, over raw values
            MetricDataQueries=[
                {
                    "Id": "p99",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Duration",
                            "Dimensions": [dict(Name="FunctionName", Value=function)],
                        },
                        "Period": 3600,
                        "Stat": "p99",
                    },
                }
            ],
            StartTime=aws.started - timedelta(minutes=1),
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
        )["MetricDataResults"][0]["Values"]
        assert p99 == [pytest.approx(max(reported), abs=0.01)], function


# -- Lambda's control plane ----------------------------------------------------------------------------


def test_the_functions_are_what_the_stack_file_deploys(aws):
    s = aws.settings
    lam = client("lambda")
    listed = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    assert set(listed) == {s.splitter.name, s.recognizer.name}
    iam, sqs = client("iam"), client("sqs")
    for role, fs in s.functions.items():
        config = lam.get_function_configuration(FunctionName=fs.name)
        assert (
            listed[fs.name]["FunctionArn"]
            == config["FunctionArn"]
            == lam.get_function(FunctionName=fs.name)["Configuration"]["FunctionArn"]
        )
        assert (config["MemorySize"], config["Timeout"], config["EphemeralStorage"]["Size"]) == (
            fs.memory_mb,
            fs.timeout_s,
            fs.ephemeral_storage_mb,
        )
        assert config["PackageType"] == topology.FUNCTIONS[role].package and config["Architectures"] == ["x86_64"]
        env = config["Environment"]["Variables"]
        deployed = function_environment(role, s)
        if role == topology.RECOGNIZER:  # the results topic's ARN holds the account: the deployment adds it
            topics = [t["TopicArn"] for t in client("sns").list_topics()["Topics"]]
            [deployed[topology.RESULTS_TOPIC_VARIABLE]] = [t for t in topics if t.endswith(":" + s.results_topic)]
        assert env.keys() == deployed.keys()
        assert {k: v for k, v in env.items() if k not in LOCATION_VARIABLES} == {
            k: v for k, v in deployed.items() if k not in LOCATION_VARIABLES
        }
        role_name = config["Role"].rsplit("/", 1)[1]
        assert iam.get_role(RoleName=role_name)["Role"]["Arn"] == config["Role"]
        assert iam.get_role_policy(RoleName=role_name, PolicyName=f"{fs.name}-access")["PolicyDocument"]
        invoke = lam.get_function_event_invoke_config(FunctionName=fs.name)
        dlq = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=f"{fs.name}-dlq")["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        assert (invoke["MaximumRetryAttempts"], invoke["MaximumEventAgeInSeconds"]) == (
            s.max_retry_attempts,
            s.max_event_age_s,
        )
        assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == dlq
        concurrency = lam.get_function_concurrency(FunctionName=fs.name).get("ReservedConcurrentExecutions")
        assert concurrency == (fs.reserved_concurrency if fs.reserved_concurrency >= 0 else None)
    splitter = lam.get_function_configuration(FunctionName=s.splitter.name)
    assert (splitter["Handler"], splitter["Runtime"]) == (topology.FUNCTIONS[topology.SPLITTER].handler, "python3.13")
    assert [layer["Arn"].split(":")[-2] for layer in splitter["Layers"]] == [f"{s.splitter.name}-ffmpeg"]
    recognizer = lam.get_function(FunctionName=s.recognizer.name)
    assert recognizer["Code"]["ImageUri"].split("/", 1)[1].startswith(f"{s.name_prefix}/{s.recognizer.name}:")
    assert lam.get_function_concurrency(FunctionName=s.recognizer.name)["ReservedConcurrentExecutions"] == 2


def test_an_unknown_function_is_a_404_as_on_aws(aws):
    lam = client("lambda")
    for call in (
        lambda: lam.get_function(FunctionName="no-such-function"),
        lambda: lam.get_function_configuration(FunctionName="no-such-function"),
        lambda: lam.invoke(FunctionName="no-such-function", Payload=b"{}"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_the_per_service_variables_serve_prints_reach_the_same_stack(served, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    environment = served.info["environment"]
    for key in ("AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"):
        monkeypatch.setenv(key, environment[key])
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the only credentials it lets in
        monkeypatch.setenv(key, environment[key])
    names = {f["FunctionName"] for f in client("lambda").list_functions()["Functions"]}
    assert names == {served.settings.splitter.name, served.settings.recognizer.name}
    groups = client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
    assert {g["logGroupName"] for g in groups} == {f"/aws/lambda/{n}" for n in names}
    assert {g["retentionInDays"] for g in groups} == {served.settings.log_retention_days}


# -- CloudWatch Logs -----------------------------------------------------------------------------------


def test_log_groups_hold_one_stream_per_environment_and_every_line(aws):
    s = aws.settings
    logs = client("logs")
    group = f"/aws/lambda/{s.recognizer.name}"
    streams = [st["logStreamName"] for st in logs.describe_log_streams(logGroupName=group)["logStreams"]]
    assert len(streams) == 2 and all(STREAM_NAME.match(name) for name in streams), streams  # two environments

    # What `aws logs tail GROUP --since 1h` asks for: every stream, interleaved, from a start time.
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, interleaved=True, startTime=int((aws.started.timestamp() - 3600) * 1000)
    )
    events = [e for page in pages for e in page["events"]]
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    for kind in ("START RequestId: ", "END RequestId: ", "REPORT RequestId: "):
        assert sum(e["message"].startswith(kind) for e in events) == len(UPLOADS), kind
    # The function's own JSON lines, found by the key they name.
    found = logs.filter_log_events(logGroupName=group, filterPattern='"clip_2.jpg"')["events"]
    recognised = [json.loads(e["message"]) for e in found if e["message"].startswith("{")]
    assert [(r["message"], r["name"]) for r in recognised] == [("frame recognised", "Cameraman")]
    # One stream read from its start, as GetLogEvents does: its first invocation's lines in order.
    lines = [
        e["message"]
        for e in logs.get_log_events(logGroupName=group, logStreamName=streams[0], startFromHead=True)["events"]
    ]
    first = {
        kind: next(i for i, line in enumerate(lines) if line.startswith(kind)) for kind in ("START", "END", "REPORT")
    }
    assert first["START"] < first["END"] < first["REPORT"]


# -- a poisoned upload, and the tools that explain it --------------------------------------------------


def test_a_poisoned_upload_shows_in_the_dlq_depth_and_grade_explains_it(aws, tmp_path):
    s = aws.settings
    client("s3").put_object(Bucket=s.input_bucket, Key="poison.mp4", Body=os.urandom(4096))
    queue = f"{s.splitter.name}-dlq"
    depth = wait_for(
        lambda: [
            v
            for v in statistic(
                "ApproximateNumberOfMessagesVisible", ("QueueName", queue), "Maximum", aws.started, "AWS/SQS"
            )
            if v >= 1
        ],
        90,
        f"{queue}: its depth never reached 1 in CloudWatch",
    )
    assert max(depth) == 1
    attempts = s.max_retry_attempts + 1
    splitter = ("FunctionName", s.splitter.name)
    wait_for(lambda: sum(statistic("AsyncEventsDropped", splitter, "Sum", aws.started)) == 1, 30, "no drop counted")
    assert sum(statistic("Errors", splitter, "Sum", aws.started)) == attempts

    # tools.grade, as a user runs it: the outputs file serve wrote, no endpoint in the environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "tools.grade", "--outputs", str(aws.outputs), "--json", str(tmp_path / "g.json")],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # the poisoned video has no result: PASSED: NO
    assert "PASSED: NO (failed: stage-1 contents; output contents" in done.stdout
    explanation = (
        f"poison.mp4: {queue}: RetriesExhausted after {attempts} attempts: SplitError: s3://{s.input_bucket}/poison.mp4"
    )
    assert explanation in done.stdout, done.stdout
    report = json.loads((tmp_path / "g.json").read_text())
    figures = report["cloudwatch"]["functions"]
    assert figures[s.splitter.name]["invocations"] == len(UPLOADS) + attempts
    assert figures[s.splitter.name]["errors"] == attempts
    assert figures[s.recognizer.name]["invocations"] == len(UPLOADS)
    assert figures[s.recognizer.name]["concurrency_max"] == 2
    assert report["dead_letters"]["queues"] == {queue: 1, f"{s.recognizer.name}-dlq": 0}
    assert f"{s.splitter.name}: {len(UPLOADS) + attempts} invocations, {attempts} errors" in done.stdout


def test_a_tool_given_the_outputs_file_needs_no_credentials_in_its_environment(served, monkeypatch, tmp_path):
    """Issue 19 item 13: the local stack's outputs carry what a tool needs, its credentials included."""
    import argparse

    from tools import target

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    parser = argparse.ArgumentParser()
    target.add_target_arguments(parser)
    t = target.resolve_target(parser.parse_args(["--outputs", str(served.outputs)]))
    names = {b["Name"] for b in t.client("s3").list_buckets()["Buckets"]}
    assert served.settings.input_bucket in names
