"""Every IAM policy the Pulumi program builds, in both wirings, linted with parliament (duo-labs'
IAM linter): unknown or misspelt actions, actions that do not apply to the resources named,
malformed ARNs and conditions, and its community auditors' riskier patterns. The documents are the
ones the real __main__.py declares under the mocks (conftest.py)."""

from __future__ import annotations

import json
import warnings

import pytest

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


def lint(program: Program, buckets: int, managed: int) -> None:
    docs = documents(program)
    assert len(program.of(T_BUCKET)) == buckets and len(program.of(T_POLICY)) == managed
    # each role's permissions, each bucket's policy, the managed policies, the alarm topic's
    assert len(docs) == len(program.of(T_ROLE)) + buckets + managed + 1
    problems = {name: found for name, doc in docs.items() if (found := findings(doc))}
    assert problems == {}


def test_the_alarm_keys_policy_passes_the_linter_but_for_what_a_key_policy_is(program):
    """parliament reads every document as an identity policy. In a key policy, Resource "*" is the
    key itself (the only resource a key policy can name), and the account's statement is the
    administration of that one key (no use of it: only CloudWatch may encrypt with it), which
    parliament's permissions-management auditor reports by design. Anything else is a finding."""
    [key] = program.of(T_KEY)
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
    """Four buckets: input, stage-1, output and the library (the recognizer's thumbnails)."""
    lint(program, buckets=4, managed=0)


def test_every_policy_of_a_timeline_stack_passes_the_iam_linter(timeline):
    lint(timeline, buckets=4, managed=0)


def test_every_policy_of_a_live_database_stack_passes_the_iam_linter(live):
    """Five buckets (the faces bucket's policy also refuses unconditional writes), the recognizer's
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
