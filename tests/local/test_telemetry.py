"""What the emulated Lambda service publishes (local/metrics.py, local/logs.py), end to end: real
worker processes running small handlers, a real moto server's CloudWatch and Logs, and the data
read back with the same code tools.grade uses (tools/cloudwatch.py). No torch: quick."""

from __future__ import annotations

import os
import textwrap
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from components import metrics as m
from local import logs as local_logs
from local.logs import LogShipper, lambda_stream_name
from local.metrics import MAX_VALUES_PER_DATUM, MetricsPublisher, minute_of
from local.runtime import FunctionError, FunctionRuntime, FunctionSpec
from tools.cloudwatch import function_figures

HANDLERS = """
import sys, time

print("init line")  # module set-up: once per environment

def work(event, context):
    print(f"working on {event['key']}")
    print("a warning", file=sys.stderr)
    time.sleep(event.get("seconds", 0))
    if event.get("fail"):
        raise ValueError(f"cannot handle {event['key']}")
    return {"key": event["key"], "stream": context.log_stream_name, "group": context.log_group_name,
            "arn": context.invoked_function_arn}
"""


@pytest.fixture
def clients(aws):
    kwargs = {"endpoint_url": aws, "region_name": "us-east-1"}
    return boto3.client("cloudwatch", **kwargs), boto3.client("logs", **kwargs), boto3.client("sqs", **kwargs)


def runtime_with_telemetry(tmp_path, clients, *, concurrency: int = 2):
    (tmp_path / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    cloudwatch, logs, _ = clients
    publisher = MetricsPublisher(cloudwatch, interval_s=3600).start()  # flushed by the test, not the clock
    shipper = LogShipper(logs, interval_s=3600).start()
    failures: list[dict] = []
    spec = FunctionSpec(
        name="worker-fn",
        handler="handlers.work",
        env={"PATH": os.environ["PATH"], "AWS_LAMBDA_FUNCTION_NAME": "worker-fn", "AWS_REGION": "us-east-1"},
        memory_mb=128,
        timeout_s=10,
        concurrency=concurrency,
        max_retry_attempts=1,
        max_event_age_s=3600,
        code_dir=str(tmp_path),
        log_file=tmp_path / "worker-fn.log",
        account_id="210987654321",
        reserved=True,  # a reserved concurrency: AWS throttles what arrives beyond it
    )
    runtime = FunctionRuntime(
        spec,
        failures.append,
        retry_delay_s=0.05,
        metrics=publisher.function("worker-fn"),
        logs=shipper.group("/aws/lambda/worker-fn", retention_days=7),
    )
    return runtime, publisher, shipper, failures


def wait_idle(runtime: FunctionRuntime) -> None:
    deadline = time.monotonic() + 30
    while not runtime.idle():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_the_runtime_publishes_what_lambda_does_and_it_reads_back_exactly(tmp_path, clients):
    cloudwatch, logs, _ = clients
    since = datetime.now(UTC)
    runtime, publisher, shipper, failures = runtime_with_telemetry(tmp_path, clients)
    try:
        # A burst of asynchronous events, as S3 sends them, all queued before any environment
        # exists: the first two have an environment each, the other three are throttled and wait.
        for i in range(4):
            runtime.invoke_async({"key": f"k{i}", "seconds": 0.3})
        runtime.invoke_async({"key": "bad", "fail": True})  # two attempts, then the DLQ
        runtime.start()
        wait_idle(runtime)
        answer = runtime.invoke_sync({"key": "sync"})
        with pytest.raises(FunctionError):
            runtime.invoke_sync({"key": "sync-bad", "fail": True})
    finally:
        runtime.stop()
        publisher.stop()
        shipper.stop()

    figures = function_figures(cloudwatch, ["worker-fn"], since, datetime.now(UTC))["worker-fn"]
    stats = runtime.summary()
    assert figures.invocations == stats["invocations"] == 4 + 2 + 2
    assert figures.errors == stats["errors"] == 2 + 1
    assert figures.async_events_received == 5 and figures.async_events_dropped == 1 == len(failures)
    assert figures.concurrency_max == runtime.max_concurrency_seen == 2
    durations = runtime.stats["durations_ms"]
    assert figures.duration_avg_ms == pytest.approx(sum(durations) / len(durations), abs=1e-6)
    assert figures.duration_max_ms == pytest.approx(max(durations))
    assert figures.async_event_age_max_ms is not None and figures.async_event_age_max_ms > 0
    assert figures.throttles == stats["throttles"] == 3
    # The failed event's record names the function by its ARN in the stack's account.
    assert (
        failures[0]["requestContext"]["functionArn"]
        == "arn:aws:lambda:us-east-1:210987654321:function:worker-fn:$LATEST"
    )

    # One log stream per environment, named as Lambda names them; the context says which.
    streams = [
        s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/aws/lambda/worker-fn")["logStreams"]
    ]
    assert len(streams) == runtime.stats["cold_starts"] == 2
    assert answer["stream"] in streams and answer["group"] == "/aws/lambda/worker-fn"
    assert answer["arn"] == "arn:aws:lambda:us-east-1:210987654321:function:worker-fn"
    messages = [
        e["message"]
        for stream in streams
        for e in logs.get_log_events(logGroupName="/aws/lambda/worker-fn", logStreamName=stream, startFromHead=True)[
            "events"
        ]
    ]
    assert messages.count("init line") == 2
    for kind in ("START RequestId:", "END RequestId:", "REPORT RequestId:"):
        assert sum(line.startswith(kind) for line in messages) == stats["invocations"], kind
    assert "working on sync" in messages and messages.count("a warning") == stats["invocations"]
    assert any("ValueError: cannot handle sync-bad" in line for line in messages)  # the traceback, line by line
    # The file under the logs folder keeps every line too.
    assert (tmp_path / "worker-fn.log").read_text().count("START RequestId:") == stats["invocations"]
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"][0]["retentionInDays"] == 7


def test_metrics_are_one_minute_data_points_of_raw_values(clients):
    cloudwatch, _, sqs = clients
    publisher = MetricsPublisher(cloudwatch, interval_s=3600)
    at = time.time() - 120  # two minutes ago: its own one-minute period
    for i in range(MAX_VALUES_PER_DATUM + 50):  # more distinct values than one data point may carry
        publisher.put(m.DURATION, "fn", float(i), at)
    publisher.put(m.DURATION, "fn", 5.0, at)  # a repeated value is counted, not lost
    url = sqs.create_queue(QueueName="fn-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    publisher.watch_queue("fn-dlq", url, sqs)
    publisher.flush()
    publisher.flush()  # the depth did not change within the minute: not sent again

    n = MAX_VALUES_PER_DATUM + 51
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=[{"Name": "FunctionName", "Value": "fn"}],
        StartTime=datetime.now(UTC) - timedelta(minutes=10),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["SampleCount", "Sum", "Maximum", "Minimum"],
        Unit="Milliseconds",
    )["Datapoints"]
    assert len(points) == 1 and points[0]["Timestamp"].timestamp() == minute_of(at)
    assert points[0]["SampleCount"] == n and points[0]["Sum"] == sum(range(n - 1)) + 5
    assert (points[0]["Minimum"], points[0]["Maximum"]) == (0, n - 2)
    depth = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": "fn-dlq"}],
        StartTime=datetime.now(UTC) - timedelta(minutes=10),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]
    assert [(p["Maximum"], p["SampleCount"]) for p in depth] == [(1.0, 1.0)]


def test_log_batches_keep_within_put_log_events_limits():
    events = [(i, "x" * 100) for i in range(25_000)]
    batches = list(local_logs._batches(events))
    assert [len(b) for b in batches] == [8322, 8322, 8322, 34]  # 1 MiB each at 126 bytes an event
    assert all(
        sum(len(e[1]) + local_logs.EVENT_OVERHEAD_BYTES for e in b) <= local_logs.MAX_BYTES_PER_CALL for b in batches
    )
    assert [e for b in batches for e in b] == events
    small = list(local_logs._batches([(i, "") for i in range(20_001)]))
    assert [len(b) for b in small] == [10_000, 10_000, 1]


def test_a_line_longer_than_an_event_may_be_is_truncated_and_sent(clients):
    _, logs, _ = clients
    shipper = LogShipper(logs, interval_s=3600)
    stream = shipper.group("/aws/lambda/big").new_stream()
    assert lambda_stream_name().startswith(time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()))
    stream.write("é" * 200_000)  # 400,000 bytes of UTF-8
    stream.write("after")
    shipper.flush()
    events = logs.get_log_events(logGroupName="/aws/lambda/big", logStreamName=stream.name, startFromHead=True)[
        "events"
    ]
    assert len(events) == 2 and events[1]["message"] == "after"
    first = events[0]["message"]
    assert first.endswith(local_logs.TRUNCATED) and len(first.encode()) <= local_logs.MAX_EVENT_BYTES
