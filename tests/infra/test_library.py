"""The library (issue 21) under Pulumi's mocks (the real __main__.py; harness in conftest.py): the
appearances table (on demand, encrypted, point-in-time recovery, deletion protection as the stack
says), the results topic encrypted with a rotated key of its own, the library bucket (private,
versioned, old versions expiring, plain writes allowed), stage-1's expiry, the recognizer's grants,
the faces bucket notifying the recognizer in live mode, and the alarms and dashboard row."""

from __future__ import annotations

import json

from components import alarms, dashboard, policies, topology
from tests.infra.conftest import (
    ACCOUNT,
    REGION,
    T_ALARM,
    T_BUCKET_LIFECYCLE,
    T_BUCKET_POLICY,
    T_KEY,
    T_NOTIFICATION,
    T_ROLE_POLICY,
    T_TABLE,
    T_TOPIC,
    T_VERSIONING,
    run_program,
)


def test_the_table_is_on_demand_encrypted_recoverable_and_keyed_for_newest_first(program):
    table = program.one(T_TABLE, "library-appearances")
    assert table.get("name") == "vfp-test-appearances"
    assert table.get("billingMode") == "PAY_PER_REQUEST"
    assert (table.get("hashKey"), table.get("rangeKey")) == ("pk", "sk")
    assert table.get("attributes") == [{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}]
    assert table.get("serverSideEncryption") == {"enabled": True}
    assert table.get("pointInTimeRecovery") == {"enabled": True}
    assert table.get("deletionProtectionEnabled") is False  # the test stack; prod turns it on


def test_deletion_protection_follows_the_setting(base_config):
    p = run_program({**base_config, "appearancesDeletionProtection": "true"})
    assert p.one(T_TABLE, "library-appearances").get("deletionProtectionEnabled") is True


def test_the_results_topic_is_encrypted_with_a_rotated_key_usable_only_through_sns(program):
    key = program.one(T_KEY, "library-results-key")
    assert key.get("enableKeyRotation") is True
    topic = program.one(T_TOPIC, "library-results")
    assert topic.get("name") == "vfp-test-results"
    assert topic.get("kmsMasterKeyId") == key.state["arn"]
    statements = {st["Sid"]: st for st in json.loads(key.get("policy"))["Statement"]}
    assert set(statements) == {"AccountAdministersTheKey", "AccountUsesTheKeyThroughSns"}
    use = statements["AccountUsesTheKeyThroughSns"]
    assert use["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert use["Condition"] == {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}}
    assert program.exports["resultsTopicArn"] == topic.state["arn"]


def test_the_library_bucket_is_versioned_forgets_old_versions_and_takes_plain_writes(program):
    assert program.one(T_VERSIONING, "library-bucket-versioning").get("versioningConfiguration") == {
        "status": "Enabled"
    }
    [rule] = program.one(T_BUCKET_LIFECYCLE, "library-bucket-lifecycle").get("rules")
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
    policy = json.loads(program.one(T_BUCKET_POLICY, "library-bucket-tls-only").get("policy"))
    assert [st["Sid"] for st in policy["Statement"]] == ["DenyInsecureTransport"]  # a new result is a plain PUT


def test_stage1_objects_expire_after_the_retention_setting(base_config):
    p = run_program({**base_config, "stage1RetentionDays": "3"})
    [rule] = p.one(T_BUCKET_LIFECYCLE, "buckets-stage-1-lifecycle").get("rules")
    assert rule["expiration"] == {"days": 3} and rule["status"] == "Enabled"


def test_the_recognizer_may_file_results_and_nothing_more(program):
    statements = {
        st["Sid"]: st for st in program.policy(program.one(T_ROLE_POLICY, "face-recognition-access"))["Statement"]
    }
    assert statements["IndexAppearances"]["Resource"] == [
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/vfp-test-appearances"
    ]
    assert "dynamodb:Query" not in statements["IndexAppearances"]["Action"]  # search is the tools'
    assert statements["PublishResults"]["Resource"] == [f"arn:aws:sns:{REGION}:{ACCOUNT}:vfp-test-results"]
    assert "ReadTimelinesToRelabel" not in statements  # first-frame: no timeline to read back


def test_timeline_stacks_may_read_back_the_timelines_they_relabel(base_config):
    p = run_program({**base_config, "analysis": topology.TIMELINE})
    statements = {st["Sid"]: st for st in p.policy(p.one(T_ROLE_POLICY, "face-recognition-access"))["Statement"]}
    assert statements["ReadTimelinesToRelabel"] == policies.allow(
        "ReadTimelinesToRelabel", ["s3:GetObject"], ["arn:aws:s3:::vfp-test-output/*.json"]
    )


def test_a_live_database_notifies_the_recognizer_of_each_change(live):
    notification = live.one(T_NOTIFICATION, "wiring-faces-notifications")
    [rule] = notification.get("lambdaFunctions")
    assert rule["events"] == [topology.OBJECT_CREATED, topology.OBJECT_REMOVED]
    assert rule["filterSuffix"] == topology.FACES_OBJECT


def test_alarms_and_dashboard_cover_the_topic_and_the_table(program):
    s = program.settings
    names = {a.get("name") for a in program.of(T_ALARM)}
    for key in ("results-delivery-failures", "index-throttles", "index-errors"):
        assert f"vfp-test-face-recognition-{key}" in names
    by_key = {a.rule.key: a for a in alarms.alarms(s)}
    assert by_key["results-delivery-failures"].dimensions == {"TopicName": "vfp-test-results"}
    assert by_key["index-throttles"].dimensions == {"TableName": "vfp-test-appearances"}
    titles = [w["properties"].get("title") for w in dashboard.dashboard_body(s)["widgets"]]
    assert "vfp-test-results: events" in titles and "vfp-test-appearances: writes" in titles
