"""faceDatabase: live under Pulumi's mocks (the real __main__.py; harness in conftest.py): a private,
encrypted, versioned faces bucket whose old versions expire, an image without a database, a
recognizer that may read that one object and nothing else, its environment naming it, and the
policy a person attaches to enrol faces."""

from __future__ import annotations

import json

import pytest

from components import policies, topology
from components import recognizer as recognizer_component
from tests.infra.conftest import (
    ACCOUNT,
    ARCHITECTURES,
    REGION,
    T_BUCKET,
    T_BUCKET_LIFECYCLE,
    T_BUCKET_POLICY,
    T_IMAGE,
    T_OWNERSHIP,
    T_PAB,
    T_POLICY,
    T_ROLE_POLICY,
    T_SSE,
    T_VERSIONING,
    Program,
    run_program,
)
from tests.infra.test_program import expected_resources, secure_bucket_resources

FACES = "vfp-test-faces"
FACES_ARN = f"arn:aws:s3:::{FACES}"
DATABASE_ARN = f"{FACES_ARN}/{topology.FACES_OBJECT}"


def test_the_graph_is_the_file_modes_plus_the_faces_bucket_and_the_enrolment_policy(live):
    declared = [(r.type, r.name) for r in live.resources]
    assert len(declared) == len(set(declared))
    name = "buckets-faces"
    assert set(declared) == expected_resources(live.settings.direct_invocation) | secure_bucket_resources(name) | {
        (T_VERSIONING, f"{name}-versioning"),
        (T_BUCKET_LIFECYCLE, f"{name}-lifecycle"),
        (T_POLICY, "buckets-faces-enrol"),
    }


def test_the_faces_bucket_is_private_encrypted_tls_only_versioned_and_forgets_old_versions(live):
    bucket = live.by_input(T_BUCKET, "bucket", FACES)
    assert not bucket.get("forceDestroy")
    pab = live.one(T_PAB, "buckets-faces-public-access-block")
    assert pab.get("bucket") == FACES
    assert all(
        pab.get(k) is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert live.one(T_SSE, "buckets-faces-encryption").get("rules") == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]
    assert live.one(T_OWNERSHIP, "buckets-faces-ownership").get("rule") == {"objectOwnership": "BucketOwnerEnforced"}

    policy = live.one(T_BUCKET_POLICY, "buckets-faces-tls-only")
    assert pab.urn in policy.dependencies
    tls, conditional = json.loads(policy.get("policy"))["Statement"]
    assert (tls["Sid"], tls["Effect"], tls["Action"], tls["Resource"]) == (
        "DenyInsecureTransport",
        "Deny",
        "s3:*",
        [FACES_ARN, f"{FACES_ARN}/*"],
    )
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Only conditional writes (If-Match / If-None-Match): nobody can overwrite a concurrent enrolment.
    assert conditional == {
        "Sid": "DenyUnconditionalWrites",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": [f"{FACES_ARN}/*"],
        "Condition": {"Null": {"s3:if-match": "true", "s3:if-none-match": "true"}},
    }

    versioning = live.one(T_VERSIONING, "buckets-faces-versioning")
    assert versioning.get("bucket") == FACES
    assert versioning.get("versioningConfiguration") == {"status": "Enabled"}
    lifecycle = live.one(T_BUCKET_LIFECYCLE, "buckets-faces-lifecycle")
    assert lifecycle.get("bucket") == FACES and versioning.urn in lifecycle.dependencies
    [rule] = lifecycle.get("rules")
    assert rule["status"] == "Enabled" and rule["filter"] == {}  # every object
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 3}  # faceDatabaseHistoryDays
    assert rule["expiration"] == {"expiredObjectDeleteMarker": True}
    # The pipeline's own buckets stay unversioned, with their TLS-only policy alone; the library
    # (thumbnails) is versioned too, but takes the recognizer's plain writes.
    assert sorted(r.get("bucket") for r in live.of(T_VERSIONING)) == [FACES, "vfp-test-library"]
    assert len(json.loads(live.one(T_BUCKET_POLICY, "buckets-library-tls-only").get("policy"))["Statement"]) == 1
    for other in ("input", "stage-1", "output"):
        assert len(json.loads(live.one(T_BUCKET_POLICY, f"buckets-{other}-tls-only").get("policy"))["Statement"]) == 1


def statements(program: Program, function: str) -> list[dict]:
    return program.policy(program.one(T_ROLE_POLICY, f"{function}-access"))["Statement"]


def test_the_recognizer_may_read_the_one_database_object_and_nothing_else_there(live):
    recognizer = statements(live, "face-recognition")
    on_faces = [st for st in recognizer if any(r.startswith(FACES_ARN) for r in st["Resource"])]
    assert on_faces == [
        {"Sid": "ReadLookups", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [DATABASE_ARN]}
    ]
    # s3:GetObject is also what HEAD needs; no list, no write, no delete, no other object.
    assert all(st["Effect"] == "Allow" for st in recognizer)
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/face-recognition:*"
    assert {st["Sid"]: st["Resource"] for st in recognizer} == {
        "ReadInput": ["arn:aws:s3:::vfp-test-stage-1/*.jpg"],
        "WriteOutput": ["arn:aws:s3:::vfp-test-output/*.txt"],
        "WriteLogs": [logs],
        "SendFailedEvents": [f"arn:aws:sqs:{REGION}:{ACCOUNT}:face-recognition-dlq"],
        "ReadLookups": [DATABASE_ARN],
        "WriteLibrary": ["arn:aws:s3:::vfp-test-library/videos/*"],
    }
    splitter = statements(live, "video-splitting")
    assert not [r for st in splitter for r in st["Resource"] if r.startswith(FACES_ARN)]


def test_the_recognizers_environment_names_the_object_and_the_reload_bound(live):
    variables = live.function("face-recognition").get("environment")["variables"]
    assert variables == topology.environment(topology.RECOGNIZER, live.settings)
    assert (variables["FACE_DB_BUCKET"], variables["FACE_DB_KEY"], variables["FACE_DB_RELOAD_SECONDS"]) == (
        FACES,
        topology.FACES_OBJECT,
        "10",
    )
    assert "FACE_DB_PATH" not in variables


def test_the_image_holds_no_database_and_no_file_is_needed(live, monkeypatch):
    build = live.one(T_IMAGE, "face-recognition-image").get("build")
    assert build["target"] == recognizer_component.TARGET_LIVE and "FACE_DB" not in build["args"]
    assert build["args"] == {"MODEL_PRECISION": live.settings.recognizer_precision}

    def no_file(*_):
        raise AssertionError("live mode must not look for a database file")

    # __main__ imports face_db_build_arg from the component when it runs: a run that called it would fail.
    monkeypatch.setattr(recognizer_component, "face_db_build_arg", no_file)
    run_program({"namePrefix": "vfp-test", "faceDatabase": "live"})


def test_the_enrolment_policy_is_exported_to_attach_and_reaches_only_the_faces_bucket(live):
    enrol = live.one(T_POLICY, "buckets-faces-enrol")
    document = json.loads(enrol.get("policy"))
    assert document == policies.face_enrolment(FACES_ARN, topology.FACES_OBJECT)
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all(r in (FACES_ARN, DATABASE_ARN) for r in statement["Resource"])
    actions = {a for st in document["Statement"] for a in st["Action"]}
    assert actions == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:GetObjectVersion",
        "s3:DeleteObjectVersion",
        "s3:ListBucket",
        "s3:ListBucketVersions",
    }
    assert live.exports["facesBucket"] == FACES
    assert live.exports["facesEnrolPolicyArn"] == enrol.state["arn"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_file_database_stack_has_none_of_it(architecture, base_config):
    p = run_program({**base_config, "architecture": architecture})
    assert [r.get("bucket") for r in p.of(T_VERSIONING)] == ["vfp-test-library"] and not p.of(T_POLICY)
    assert "facesBucket" not in p.exports and FACES not in {b.get("bucket") for b in p.of(T_BUCKET)}
    assert [st["Sid"] for st in statements(p, "face-recognition")] == [
        "ReadInput",
        "WriteOutput",
        "WriteLogs",
        "SendFailedEvents",
        "WriteLibrary",
    ]
    build = p.one(T_IMAGE, "face-recognition-image").get("build")
    assert build["target"] == recognizer_component.TARGET_BAKED
    assert build["args"] == {"FACE_DB": base_config["faceDatabase"], "MODEL_PRECISION": "fp32"}
