"""Every IAM policy the Pulumi program builds, in both wirings, linted with parliament (duo-labs'
IAM linter): unknown or misspelt actions, actions that do not apply to the resources named,
malformed ARNs and conditions, and its community auditors' riskier patterns. The documents are the
ones the real __main__.py declares under the mocks (conftest.py)."""

from __future__ import annotations

import json
import warnings

import pytest

from components import state_machine
from components.project import PROJECT_DIR
from tests.infra.conftest import (
    T_BUCKET,
    T_BUCKET_POLICY,
    T_KEY,
    T_POLICY,
    T_ROLE,
    T_ROLE_POLICY,
    T_TOPIC_POLICY,
    Program,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources, which warns that it is deprecated
    import parliament


def findings(document: dict) -> list[str]:
    policy = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    return [f"{f.issue} ({f.severity}): {f.detail}" for f in policy.findings]


def documents(program: Program) -> dict[str, dict]:
    """name → policy document: each role's permissions, each bucket policy and the alarm topic's.

    The roles' trust policies are not parliament's to judge (it reads every document as an identity
    policy, and a trust policy rightly has no Resource); test_program.py holds each to the one
    statement Lambda needs."""
    docs = {}
    for r in program.of(T_ROLE_POLICY):
        docs[f"{r.name} (role policy)"] = json.loads(r.get("policy"))
    for r in program.of(T_BUCKET_POLICY):
        docs[f"{r.name} (bucket policy)"] = json.loads(r.get("policy"))
    for r in program.of(T_TOPIC_POLICY):
        docs[f"{r.name} (topic policy)"] = json.loads(r.get("policy"))
    for r in program.of(T_POLICY):
        docs[f"{r.name} (managed policy)"] = json.loads(r.get("policy"))
    return docs


def lint(program: Program, buckets: int, managed: int, extra: int = 0, allowed: dict | None = None) -> None:
    """`extra`: role policies beside each role's own; `allowed`: findings expected, by document name."""
    docs = documents(program)
    assert len(program.of(T_BUCKET)) == buckets and len(program.of(T_POLICY)) == managed
    # each role's permissions, each bucket's policy, the managed policies, the alarm topic's
    assert len(docs) == len(program.of(T_ROLE)) + extra + buckets + managed + 1
    problems = {name: found for name, doc in docs.items() if (found := findings(doc))}
    assert problems == (allowed or {})


def test_the_alarm_keys_policy_passes_the_linter_but_for_what_a_key_policy_is(program):
    """parliament reads every document as an identity policy. In a key policy, Resource "*" is the
    key itself (the only resource a key policy can name), and the account's statement is the
    administration of that one key (no use of it: only CloudWatch may encrypt with it), which
    parliament's permissions-management auditor reports by design. Anything else is a finding."""
    key = program.one(T_KEY, "monitoring-key")
    document = json.loads(key.get("policy"))
    expected = {"RESOURCE_STAR", "PERMISSIONS_MANAGEMENT_ACTIONS"}
    found = findings(document)
    assert {f.split(" ", 1)[0] for f in found} <= expected, found
    # RESOURCE_STAR names the actions concerned: for CloudWatch's statement, exactly the two it holds.
    use = {
        "Version": "2012-10-17",
        "Statement": [s for s in document["Statement"] if s["Sid"] == "AlarmsEncryptNotifications"],
    }
    assert findings(use) == ["RESOURCE_STAR (): ['kms:Decrypt', 'kms:GenerateDataKey']"]


def test_every_policy_the_program_builds_passes_the_iam_linter(program):
    lint(program, buckets=4, managed=0)


def test_every_policy_of_a_timeline_stack_passes_the_iam_linter(timeline):
    """The state machine's role, and the grants its workflow adds to the two function roles. Step
    Functions' log delivery actions (AWS's documented policy for logging to CloudWatch Logs: Resource
    "*") include logs:PutResourcePolicy, which parliament's auditor reports as permissions
    management, and nothing else."""
    assert "logs:PutResourcePolicy" in state_machine.LOG_DELIVERY_ACTIONS
    lint(
        timeline,
        buckets=4,
        managed=0,
        extra=2,
        allowed={"timeline-access (role policy)": ["PERMISSIONS_MANAGEMENT_ACTIONS (): "]},
    )


def test_every_policy_of_a_live_database_stack_passes_the_iam_linter(live):
    """Four buckets (the faces bucket's policy also refuses unconditional writes), the recognizer's
    read of the one database object, and the enrolment policy a person attaches."""
    lint(live, buckets=5, managed=1)


@pytest.mark.parametrize(
    "statement, issue",
    [
        ({"Effect": "Allow", "Action": ["s3:GetObjekt"], "Resource": ["arn:aws:s3:::b/*"]}, "UNKNOWN_ACTION"),
        (
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:sqs:us-east-1:123456789012:q"]},
            "RESOURCE_MISMATCH",
        ),
        (
            {
                "Effect": "Allow",
                "Action": ["logs:PutLogEvents"],
                "Resource": ["arn:aws:logs:us-east-1:1:log-group:g:*"],
            },
            "INVALID_ARN",
        ),
    ],
)
def test_the_linter_would_catch_a_mistake(statement, issue):
    """The check above is only worth something if parliament flags what we could get wrong."""
    assert any(f.startswith(issue) for f in findings({"Version": "2012-10-17", "Statement": [statement]}))


# -- the deploy role's policy (deploy/deploy-role-policy.json, README: Deploy) ------------------------

DEPLOY_POLICY = PROJECT_DIR / "deploy" / "deploy-role-policy.json"
# What parliament's community auditors say of any role that deploys infrastructure, by design: it
# creates roles, policies, keys and bucket policies, pushes images (an ECR login token), and updates
# function code. Anything else (an unknown action, an action on the wrong resource type) is a finding.
DEPLOY_ROLE_BY_DESIGN = {
    "PERMISSIONS_MANAGEMENT_ACTIONS",
    "PRIVILEGE_ESCALATION",
    "CREDENTIALS_EXPOSURE",
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
}
# The calls `pulumi up` makes to create each resource type the program declares (and the image push).
CREATES = {
    T_BUCKET: {"s3:CreateBucket", "s3:PutBucketTagging"},
    T_BUCKET_POLICY: {"s3:PutBucketPolicy"},
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {"s3:PutBucketPublicAccessBlock"},
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": {
        "s3:PutEncryptionConfiguration"
    },
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": {"s3:PutBucketOwnershipControls"},
    "aws:s3/bucketVersioning:BucketVersioning": {"s3:PutBucketVersioning"},
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": {"s3:PutLifecycleConfiguration"},
    "aws:s3/bucketNotification:BucketNotification": {"s3:PutBucketNotification"},
    T_POLICY: {"iam:CreatePolicy"},
    T_ROLE: {"iam:CreateRole", "iam:PassRole", "iam:TagRole"},
    T_ROLE_POLICY: {"iam:PutRolePolicy"},
    "aws:lambda/function:Function": {"lambda:CreateFunction", "lambda:PutFunctionConcurrency", "lambda:TagResource"},
    "aws:lambda/layerVersion:LayerVersion": {"lambda:PublishLayerVersion"},
    "aws:lambda/permission:Permission": {"lambda:AddPermission"},
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": {"lambda:PutFunctionEventInvokeConfig"},
    "aws:cloudwatch/logGroup:LogGroup": {"logs:CreateLogGroup", "logs:PutRetentionPolicy"},
    "aws:sqs/queue:Queue": {"sqs:CreateQueue", "sqs:SetQueueAttributes"},
    # Lambda writes the repository's policy itself when it first pulls the image (issue 24)
    "aws:ecr/repository:Repository": {"ecr:CreateRepository", "ecr:SetRepositoryPolicy", "ecr:GetRepositoryPolicy"},
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": {"ecr:PutLifecyclePolicy"},
    "docker:index/image:Image": {"ecr:GetAuthorizationToken", "ecr:InitiateLayerUpload", "ecr:PutImage"},
    T_KEY: {"kms:CreateKey", "kms:PutKeyPolicy", "kms:EnableKeyRotation"},
    "aws:sns/topic:Topic": {"sns:CreateTopic"},
    "aws:dynamodb/table:Table": {"dynamodb:CreateTable", "dynamodb:UpdateContinuousBackups", "dynamodb:TagResource"},
    "aws:sfn/stateMachine:StateMachine": {"states:CreateStateMachine", "states:TagResource"},
    T_TOPIC_POLICY: {"sns:SetTopicAttributes"},
    "aws:sns/topicSubscription:TopicSubscription": {"sns:Subscribe"},
    "aws:cloudwatch/metricAlarm:MetricAlarm": {"cloudwatch:PutMetricAlarm"},
    "aws:cloudwatch/dashboard:Dashboard": {"cloudwatch:PutDashboard"},
    "aws:cloudwatch/queryDefinition:QueryDefinition": {"logs:PutQueryDefinition"},
}


def test_the_deploy_role_policy_passes_the_linter_but_for_what_a_deploy_role_is():
    document = json.loads(DEPLOY_POLICY.read_text())
    found = {
        f.issue
        for f in parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True).findings
    }
    assert found <= DEPLOY_ROLE_BY_DESIGN, found - DEPLOY_ROLE_BY_DESIGN
    # and the same check refuses what could be wrong in it: a misspelt action
    document["Statement"][0]["Action"].append("s3:CreateBuckets")
    broken = {f.issue for f in parliament.analyze_policy_string(json.dumps(document)).findings}
    assert broken - DEPLOY_ROLE_BY_DESIGN


def test_the_deploy_role_may_create_everything_the_program_declares(program, live, timeline):
    from tools.preflight import deploy_actions

    allowed = set(deploy_actions(DEPLOY_POLICY))
    declared = {r.type for p in (program, live, timeline) for r in p.resources if r.custom}
    assert declared <= set(CREATES), declared - set(CREATES)  # a new resource type needs its row
    missing = {t: CREATES[t] - allowed for t in declared if CREATES[t] - allowed}
    assert missing == {}
