"""Alarms, the alarm topic, the dashboard, the saved queries and the cost-allocation tags, as the real
__main__.py declares them under Pulumi's mocks in both wirings (the harness is in conftest.py).

The expectations are written out here (metric names and dimensions as Lambda and SQS publish
them), not read back from components/alarms.py, so a wrong row in the table fails a test."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pytest
import yaml

from components import tags as tags_
from components.project import PROJECT_DIR
from tests.infra.conftest import (
    ACCOUNT,
    PROJECT,
    REGION,
    T_ALARM,
    T_BUCKET_LIFECYCLE,
    T_BUCKET_POLICY,
    T_DASHBOARD,
    T_FUNCTION,
    T_IMAGE,
    T_INVOKE_CONFIG,
    T_KEY,
    T_LAYER,
    T_LIFECYCLE,
    T_LOG_GROUP,
    T_NOTIFICATION,
    T_OWNERSHIP,
    T_PAB,
    T_PERMISSION,
    T_QUERY,
    T_QUEUE,
    T_ROLE_POLICY,
    T_SSE,
    T_SUBSCRIPTION,
    T_TOPIC,
    T_TOPIC_POLICY,
    T_VERSIONING,
    Program,
    run_failing,
    run_program,
)

FUNCTIONS = ("video-splitting", "face-recognition")


def topic_arn(program: Program) -> str:
    topic = program.one(T_TOPIC, "monitoring-alarms")
    return topic.state["arn"]


def alarms_by_metric(program: Program) -> dict[tuple[str, str, str, str], dict]:
    """(namespace, metric, dimension name, dimension value) → the alarm's inputs."""
    out = {}
    for alarm in program.of(T_ALARM):
        [(dimension, value)] = alarm.get("dimensions").items()
        key = (alarm.get("namespace"), alarm.get("metricName"), dimension, value)
        assert key not in out, f"two alarms on {key}"
        out[key] = {k: alarm.get(k) for k in alarm.inputs}
    return out


# ---------------------------------------------------------------------------------------------
# Alarms


def test_every_dead_letter_queue_and_function_has_its_alarms_notifying_the_topic(program):
    alarms = alarms_by_metric(program)
    topic = topic_arn(program)
    queues = {q.get("name") for q in program.of(T_QUEUE)}
    functions = {f.get("name") for f in program.of(T_FUNCTION)}
    assert queues == {f"{f}-dlq" for f in FUNCTIONS} and functions == set(FUNCTIONS)

    expected = {}
    for queue in queues:  # any message at all in a dead-letter queue
        expected[("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue)] = ("statistic", "Maximum", 0)
    timeouts = {f.get("name"): f.get("timeout") for f in program.of(T_FUNCTION)}
    for fn in functions:
        expected[("AWS/Lambda", "Errors", "FunctionName", fn)] = ("statistic", "Sum", 0)
        expected[("AWS/Lambda", "Throttles", "FunctionName", fn)] = ("statistic", "Sum", 0)
        # Both functions are invoked asynchronously in both wirings (S3 notifications; the
        # splitter's InvocationType=Event), so both have an on-failure destination to watch.
        expected[("AWS/Lambda", "DestinationDeliveryFailures", "FunctionName", fn)] = ("statistic", "Sum", 0)
        expected[("AWS/Lambda", "Duration", "FunctionName", fn)] = (
            "extendedStatistic",
            "p95",
            0.8 * timeouts[fn] * 1000,
        )
    # The library (issue 21): its topic's failed deliveries, its table's throttles and server errors.
    expected[("AWS/SNS", "NumberOfNotificationsFailed", "TopicName", "vfp-test-results")] = ("statistic", "Sum", 0)
    for metric in ("ThrottledRequests", "SystemErrors"):
        expected[("AWS/DynamoDB", metric, "TableName", "vfp-test-appearances")] = ("statistic", "Sum", 0)
    assert set(alarms) == set(expected)
    for key, (kind, statistic, threshold) in expected.items():
        alarm = alarms[key]
        other = "extendedStatistic" if kind == "statistic" else "statistic"  # a percentile is an extended one
        assert alarm[kind] == statistic and not alarm.get(other), key
        assert alarm["threshold"] == threshold, key
        assert alarm["comparisonOperator"] == "GreaterThanThreshold", key
        assert (alarm["period"], alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (60, 1, 1), key
        assert alarm["treatMissingData"] == "notBreaching", key  # an idle stack is not alarming
        assert alarm["alarmActions"] == [topic] and alarm["okActions"] == [topic], key
        assert alarm["alarmDescription"] and alarm["name"].startswith("vfp-test-"), key


def test_the_recognizer_duration_alarm_watches_p95_against_its_timeout(base_config):
    p = run_program({**base_config, "recognizerTimeout": "120", "alarmDurationPercent": "75"})
    alarm = alarms_by_metric(p)[("AWS/Lambda", "Duration", "FunctionName", "face-recognition")]
    assert alarm["extendedStatistic"] == "p95" and alarm["threshold"] == 90_000  # 75% of 120 s, in ms


def test_thresholds_and_periods_follow_the_settings(base_config):
    p = run_program(
        {
            **base_config,
            "alarmPeriodSeconds": "300",
            "alarmEvaluationPeriods": "3",
            "alarmErrorsThreshold": "5",
            "alarmThrottlesThreshold": "2",
        }
    )
    alarms = alarms_by_metric(p)
    for fn in FUNCTIONS:
        assert alarms[("AWS/Lambda", "Errors", "FunctionName", fn)]["threshold"] == 5
        assert alarms[("AWS/Lambda", "Throttles", "FunctionName", fn)]["threshold"] == 2
        assert alarms[("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"{fn}-dlq")]["threshold"] == 0
    for alarm in alarms.values():
        assert (alarm["period"], alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (300, 3, 3)


def test_alarms_follow_prefixed_function_names(base_config):
    p = run_program({**base_config, "functionPrefix": "staging-", "namePrefix": "vfp-stg"})
    dimensions = {tuple(a.get("dimensions").values())[0] for a in p.of(T_ALARM)}
    assert dimensions == {"staging-video-splitting", "staging-face-recognition"} | {
        "staging-video-splitting-dlq",
        "staging-face-recognition-dlq",
        "vfp-stg-results",
        "vfp-stg-appearances",
    }
    assert all(a.get("name").startswith("vfp-stg-staging-") for a in p.of(T_ALARM))


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"alarmEmail": "ops-at-example.com"}, ["alarmEmail", "not an email address"]),
        ({"alarmPeriodSeconds": "90"}, ["alarmPeriodSeconds", "multiple of 60"]),
        ({"alarmPeriodSeconds": "30"}, ["alarmPeriodSeconds", "60..3600"]),
        ({"alarmEvaluationPeriods": "0"}, ["alarmEvaluationPeriods", "1..24"]),
        ({"alarmDurationPercent": "150"}, ["alarmDurationPercent", "1..100"]),
        ({"alarmErrorsThreshold": "-1"}, ["alarmErrorsThreshold"]),
    ],
)
def test_invalid_alarm_settings_are_refused_naming_the_setting(override, expected, base_config):
    error, declared = run_failing({**base_config, **override})
    for word in expected:
        assert word in str(error), (word, str(error))
    assert declared == 0


# ---------------------------------------------------------------------------------------------
# The topic


def test_the_topic_is_encrypted_with_a_key_only_cloudwatch_may_use_for_this_stacks_alarms(program):
    key, topic = program.one(T_KEY, "monitoring-key"), program.one(T_TOPIC, "monitoring-alarms")
    [policy] = program.of(T_TOPIC_POLICY)
    assert topic.get("kmsMasterKeyId") == key.state["arn"]  # a key of its own, not alias/aws/sns
    assert key.get("enableKeyRotation") is True
    arn = topic.state["arn"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:vfp-test-alarms"
    alarms = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:vfp-test-*"
    statements = {s["Sid"]: s for s in json.loads(key.get("policy"))["Statement"]}
    admin, use = statements["AccountAdministersTheKey"], statements["AlarmsEncryptNotifications"]
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert not {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:*"} & set(admin["Action"])
    assert use["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert use["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert use["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT, "kms:EncryptionContext:aws:sns:topicArn": arn},
        "ArnLike": {"aws:SourceArn": alarms},
    }
    assert policy.get("arn") == arn
    [publish] = json.loads(policy.get("policy"))["Statement"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and publish["Action"] == ["sns:Publish"]
    assert publish["Resource"] == [arn]
    assert publish["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": alarms},
    }
    # Every alarm waits for the policy that lets CloudWatch publish (and the key) before it exists.
    for alarm in program.of(T_ALARM):
        assert policy.urn in alarm.dependencies and key.urn in alarm.dependencies


def test_an_email_is_subscribed_only_when_alarm_email_is_set(program, base_config):
    assert program.of(T_SUBSCRIPTION) == []
    p = run_program({**base_config, "architecture": program.settings.architecture, "alarmEmail": "ops@team.io"})
    [subscription] = p.of(T_SUBSCRIPTION)
    assert subscription.get("protocol") == "email" and subscription.get("endpoint") == "ops@team.io"
    assert subscription.get("topic") == topic_arn(p)


def test_a_stack_without_a_subscriber_is_warned_about_and_a_placeholder_is_refused(base_config, monkeypatch):
    """Alarms that reach nobody deploy only with a warning in preview; a documentation address
    (Pulumi.prod.yaml's placeholder) stops preview until it is changed."""
    import pulumi

    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warned.append(message))
    run_program(base_config, preview=True)
    assert len([w for w in warned if "alarmEmail is not set" in w]) == 1
    warned.clear()
    run_program({**base_config, "alarmEmail": "ops@team.io"}, preview=True)
    assert not [w for w in warned if "alarmEmail" in w]
    error, declared = run_failing({**base_config, "alarmEmail": "ops@example.com"})
    assert "placeholder" in str(error) and declared == 0


def test_stack_outputs_name_the_topic_and_the_dashboard(program):
    [dashboard] = program.of(T_DASHBOARD)
    assert program.exports["alarmTopicArn"] == topic_arn(program)
    assert dashboard.get("dashboardName") == "vfp-test-pipeline"
    assert program.exports["dashboardUrl"] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards/dashboard/vfp-test-pipeline"
    )


# ---------------------------------------------------------------------------------------------
# The dashboard and the saved queries


def _metrics(widgets: list[dict]) -> set[tuple[str, str, str, str, str]]:
    """(namespace, metric, dimension, value, stat) of every metric widget's lines."""
    out = set()
    for w in widgets:
        if w["type"] == "metric":
            for namespace, metric, dimension, value, options in w["properties"]["metrics"]:
                out.add((namespace, metric, dimension, value, options["stat"]))
    return out


def test_the_dashboard_shows_both_functions_both_queues_the_alarms_and_the_logs(program):
    [dashboard] = program.of(T_DASHBOARD)
    body = json.loads(dashboard.get("dashboardBody"))  # valid JSON
    widgets = body["widgets"]
    metrics = _metrics(widgets)
    for fn in FUNCTIONS:
        for metric, stat in (
            ("Invocations", "Sum"),
            ("Errors", "Sum"),
            ("Throttles", "Sum"),
            ("Duration", "p50"),
            ("Duration", "p95"),
            ("ConcurrentExecutions", "Maximum"),
        ):
            assert ("AWS/Lambda", metric, "FunctionName", fn, stat) in metrics, (fn, metric, stat)
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"{fn}-dlq", "Maximum") in metrics
    assert all(w["properties"]["region"] == REGION for w in widgets if w["type"] in ("metric", "log"))
    [alarm_widget] = [w for w in widgets if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(a.state["arn"] for a in program.of(T_ALARM))
    # The Logs Insights widgets read log groups the program creates.
    groups = {g.get("name") for g in program.of(T_LOG_GROUP)}
    logs = {w["properties"]["title"]: w["properties"]["query"] for w in widgets if w["type"] == "log"}
    for query in logs.values():
        sources = [part.split("'")[1] for part in query.split(" | ") if part.startswith("SOURCE '")]
        assert sources and set(sources) <= groups, query
    assert {"Results by name", "No-face rate (%)", "Failures by error type"} <= set(logs)
    assert any("pct(ms.ffmpeg, 95)" in q for q in logs.values()) and any(
        "pct(ms.embed, 95)" in q for q in logs.values()
    )
    # The grid: no widget overlaps another.
    cells: set[tuple[int, int]] = set()
    for w in widgets:
        mine = {(x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])}
        assert not cells & mine and w["x"] + w["width"] <= 24, w.get("properties", {}).get("title")
        cells |= mine


def test_saved_queries_read_the_functions_log_groups(program):
    queries = {q.get("name"): q for q in program.of(T_QUERY)}
    assert {"vfp-test/why did this video fail", "vfp-test/where does the time go"} <= set(queries)
    groups = sorted(g.get("name") for g in program.of(T_LOG_GROUP))
    for q in queries.values():
        assert sorted(q.get("logGroupNames")) == groups
    assert "filter @message like" in queries["vfp-test/why did this video fail"].get("queryString")
    assert "pct(ms.detect, 95)" in queries["vfp-test/where does the time go"].get("queryString")


# ---------------------------------------------------------------------------------------------
# Cost-allocation tags

STACK_FILES = sorted(PROJECT_DIR.glob("Pulumi.*.yaml"))

# The custom resource types that take no tags, and why that costs no allocation: each is a setting
# of a tagged resource, or free; the dashboard is the one billed resource AWS offers no tags on.
UNTAGGABLE = {
    T_PAB: "a setting of its bucket",
    T_SSE: "a setting of its bucket",
    T_OWNERSHIP: "a setting of its bucket",
    T_BUCKET_POLICY: "a setting of its bucket",
    T_NOTIFICATION: "a setting of its bucket",
    "aws:s3/bucketVersioning:BucketVersioning": "a setting of its bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "a setting of its bucket",
    T_PERMISSION: "a setting of its function",
    T_INVOKE_CONFIG: "a setting of its function",
    T_LAYER: "its storage counts against Lambda's free code storage; layers take no tags",
    T_ROLE_POLICY: "a part of its role (IAM is free)",
    T_LIFECYCLE: "a setting of its repository",
    T_VERSIONING: "a setting of its bucket",
    T_BUCKET_LIFECYCLE: "a setting of its bucket",
    T_TOPIC_POLICY: "a setting of its topic",
    T_SUBSCRIPTION: "a part of its topic; deliveries are billed to the topic",
    T_QUERY: "a saved query is free; running one is billed to the account per GB scanned",
    T_DASHBOARD: "billed (beyond the account's first three) but CloudWatch dashboards take no tags",
    T_IMAGE: "the docker provider's, not an AWS resource: its layers are stored in the tagged ECR repository",
}


def _takes_tags(token: str) -> bool:
    package, module_and_file, cls = token.split(":")
    root = {"aws": "pulumi_aws", "docker": "pulumi_docker"}[package]
    module = module_and_file.split("/")[0]
    qualified = root if module == "index" else f"{root}.{ {'lambda': 'lambda_'}.get(module, module) }"
    return "tags" in inspect.signature(getattr(importlib.import_module(qualified), cls)._internal_init).parameters


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name)
def test_every_stack_file_sets_the_cost_allocation_tags_as_default_tags(stack_file: Path):
    config = yaml.safe_load(stack_file.read_text())["config"]
    stack = stack_file.name.split(".")[1]
    tags = tags_.check(config.get("aws:defaultTags"), project=PROJECT, stack=stack)
    assert tags["project"] == PROJECT and tags["stack"] == stack and tags["owner"].strip()


def test_every_resource_is_tagged_by_the_default_provider_or_cannot_be(program):
    """The provider adds the stack file's default tags to every resource that takes tags; the mocks
    cannot show that (the provider does it, not the program), so: every resource is managed by the
    default provider (no explicit one, which would not carry the stack file's tags), and every type
    the program declares takes tags, or is one of the few that cannot, each with its reason."""
    assert all(not r.provider for r in program.resources)
    assert not [r for r in program.resources if r.type.startswith("pulumi:providers:")]
    types = {r.type for r in program.resources if r.custom}
    untagged = {t for t in types if not _takes_tags(t)}
    assert untagged <= set(UNTAGGABLE), untagged - set(UNTAGGABLE)
    assert not {t for t in UNTAGGABLE if _takes_tags(t)}  # the list hides nothing that could be tagged
    # What AWS bills by the resource carries the tags: buckets, functions, logs, queues, the
    # repository, the key, the topic, the alarms.
    billed = {
        "aws:s3/bucket:Bucket",
        T_FUNCTION,
        T_LOG_GROUP,
        T_QUEUE,
        "aws:ecr/repository:Repository",
        T_KEY,
        T_TOPIC,
        T_ALARM,
        "aws:dynamodb/table:Table",
    }
    assert billed <= types and all(_takes_tags(t) for t in billed)


@pytest.mark.parametrize(
    "tags, expected",
    [
        (None, "aws:defaultTags: no tags"),
        ({"tags": {"project": PROJECT, "stack": "test"}}, "tags owner missing or empty"),
        ({"tags": {"project": PROJECT, "stack": "test", "owner": " "}}, "tags owner missing or empty"),
        ({"tags": {"project": PROJECT, "stack": "prod", "owner": "me"}}, "stack is 'prod', not 'test'"),
    ],
)
def test_a_stack_without_its_cost_allocation_tags_is_refused(tags, expected, base_config):
    error, declared = run_failing({**base_config, "aws:defaultTags": tags})
    assert expected in str(error) and "pulumi config set --path 'aws:defaultTags.tags.owner'" in str(error)
    assert declared == 0
