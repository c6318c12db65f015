"""The real __main__.py, run under Pulumi's mocks for both wirings: the resource graph it declares
(the harness and its fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
import yaml
from pulumi.runtime import rpc

from components import packaging, topology
from components import settings as stack_settings
from components.project import PROJECT_DIR
from components.settings import function_environment
from tests.infra.conftest import (
    ACCOUNT,
    ARCHITECTURES,
    COMPONENTS,
    ECR_PASSWORD,
    PROJECT,
    REGION,
    T_ALARM,
    T_BUCKET,
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
    T_REPOSITORY,
    T_ROLE,
    T_ROLE_POLICY,
    T_SSE,
    T_SUBSCRIPTION,
    T_TABLE,
    T_TOPIC,
    T_TOPIC_POLICY,
    T_VERSIONING,
    EchoMocks,
    Program,
    default_tags,
    run_failing,
    run_program,
    scratch_db,
    unwrap,
)

# ---------------------------------------------------------------------------------------------
# What exists


def secure_bucket_resources(name: str) -> set[tuple[str, str]]:
    """A SecureBucket's children: private, owner-enforced, encrypted, TLS only."""
    return {
        ("videoface:index:SecureBucket", name),
        (T_BUCKET, name),
        (T_OWNERSHIP, f"{name}-ownership"),
        (T_PAB, f"{name}-public-access-block"),
        (T_SSE, f"{name}-encryption"),
        (T_BUCKET_POLICY, f"{name}-tls-only"),
    }


def library_resources() -> set[tuple[str, str]]:
    """The library (issue 21): bucket (versioned, old versions expiring), table, encrypted topic,
    stage-1's expiry rule, and the alarms on the topic and the table."""
    return {
        ("videoface:index:PipelineLibrary", "library"),
        *secure_bucket_resources("library-bucket"),
        (T_VERSIONING, "library-bucket-versioning"),
        (T_BUCKET_LIFECYCLE, "library-bucket-lifecycle"),
        (T_TABLE, "library-appearances"),
        (T_KEY, "library-results-key"),
        (T_TOPIC, "library-results"),
        (T_BUCKET_LIFECYCLE, "buckets-stage-1-lifecycle"),
        *{
            (T_ALARM, f"monitoring-recognizer-{a}")
            for a in ("results-delivery-failures", "index-throttles", "index-errors")
        },
    }


def expected_resources(direct_invocation: bool) -> set[tuple[str, str]]:
    expected = {
        ("videoface:index:PipelineBuckets", "buckets"),
        ("videoface:index:FaceRecognizer", "face-recognition"),
        ("videoface:index:VideoSplitter", "video-splitting"),
        ("videoface:index:EventWiring", "wiring"),
        (T_REPOSITORY, "face-recognition-repo"),
        (T_LIFECYCLE, "face-recognition-lifecycle"),
        (T_IMAGE, "face-recognition-image"),
        (T_LAYER, "video-splitting-ffmpeg"),
        (T_PERMISSION, "wiring-input-invokes-splitter"),
        (T_NOTIFICATION, "wiring-input-notifications"),
        ("videoface:index:PipelineMonitoring", "monitoring"),
        (T_KEY, "monitoring-key"),
        (T_TOPIC, "monitoring-alarms"),
        (T_TOPIC_POLICY, "monitoring-alarms-policy"),
        (T_DASHBOARD, "monitoring-dashboard"),
        (T_QUERY, "monitoring-query-why-did-this-video-fail"),
        (T_QUERY, "monitoring-query-where-does-the-time-go"),
        (T_QUERY, "monitoring-query-cold-starts-billed-time-and-memory"),
    }
    for role in ("splitter", "recognizer"):  # both wirings invoke both functions asynchronously
        for alarm in ("dead-letters", "errors", "throttles", "delivery-failures", "duration"):
            expected.add((T_ALARM, f"monitoring-{role}-{alarm}"))
    expected |= library_resources()
    for bucket in ("input", "stage-1", "output"):
        expected |= secure_bucket_resources(f"buckets-{bucket}")
    for fn in ("video-splitting", "face-recognition"):
        expected |= {
            (T_FUNCTION, fn),
            (T_LOG_GROUP, f"{fn}-logs"),
            (T_ROLE, f"{fn}-role"),
            (T_ROLE_POLICY, f"{fn}-access"),
            ("videoface:index:DeadLetterQueue", f"{fn}-dlq"),
            (T_QUEUE, f"{fn}-dlq"),
            (T_INVOKE_CONFIG, f"{fn}-async"),
        }
    if not direct_invocation:
        expected |= {
            (T_PERMISSION, "wiring-stage-1-invokes-recognizer"),
            (T_NOTIFICATION, "wiring-stage-1-notifications"),
        }
    return expected


def test_the_graph_holds_exactly_the_expected_resources(program):
    declared = [(r.type, r.name) for r in program.resources]
    assert len(declared) == len(set(declared))
    assert set(declared) == expected_resources(program.settings.direct_invocation)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_first_preview_with_nothing_known_yet_declares_the_same_graph(architecture, base_config):
    p = run_program({**base_config, "architecture": architecture}, preview=True, mocks=EchoMocks())
    declared = {(r.type, r.name) for r in p.resources}
    assert declared == expected_resources(architecture == topology.DIRECT_INVOCATION)


def test_program_runs_as_the_pulumi_cli_runs_it(base_config, build_dir):
    """From the project folder, with the project's venv (`make setup`; the workflows install the same),
    in a fresh interpreter: nothing the test process imported or set up is needed."""
    config = {
        f"{PROJECT}:namePrefix": "vfp-iso",
        f"{PROJECT}:faceDatabase": base_config["faceDatabase"],
        "aws:defaultTags": json.dumps({"tags": default_tags("isolated")}),
    }
    code = f"""
import runpy
import pulumi
from pulumi.runtime import settings
class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return "", dict(args.inputs)
    def call(self, args):
        return {{"accountId": "{ACCOUNT}", "userName": "AWS", "password": "x"}}
pulumi.runtime.set_mocks(Mocks(), project={PROJECT!r}, stack="isolated", preview=True)
pulumi.runtime.set_all_config({config!r})
pulumi.runtime.test(lambda: runpy.run_path("__main__.py", run_name="__main__"))()
print("ok")
"""
    env = {"PATH": os.environ.get("PATH", ""), packaging.BUILD_DIR_VARIABLE: str(build_dir), "HOME": str(build_dir)}
    result = subprocess.run(
        [sys.executable, "-s", "-E", "-c", code], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_aws_names_come_from_the_settings(program):
    s = program.settings
    assert sorted(r.get("bucket") for r in program.of(T_BUCKET)) == sorted(
        ["vfp-test-input", "vfp-test-stage-1", "vfp-test-output", "vfp-test-library"]
    )
    assert sorted(r.get("name") for r in program.of(T_FUNCTION)) == ["face-recognition", "video-splitting"]
    assert sorted(r.get("name") for r in program.of(T_LOG_GROUP)) == [
        "/aws/lambda/face-recognition",
        "/aws/lambda/video-splitting",
    ]
    assert sorted(r.get("name") for r in program.of(T_QUEUE)) == ["face-recognition-dlq", "video-splitting-dlq"]
    assert program.one(T_REPOSITORY, "face-recognition-repo").get("name") == "vfp-test/face-recognition"
    assert program.one(T_LAYER, "video-splitting-ffmpeg").get("layerName") == "video-splitting-ffmpeg"
    assert (s.input_bucket, s.splitter.name) == ("vfp-test-input", "video-splitting")


def test_every_resource_is_a_child_of_a_component_and_components_register_outputs(program):
    by_urn = {r.urn: r for r in program.resources}
    for r in program.resources:
        if r.parent in by_urn:
            assert by_urn[r.parent].type in COMPONENTS, f"{r.name} has a non-component parent"
        else:  # top level: only the six components __main__ composes
            assert r.type in {
                "videoface:index:PipelineLibrary",
                "videoface:index:PipelineBuckets",
                "videoface:index:FaceRecognizer",
                "videoface:index:VideoSplitter",
                "videoface:index:EventWiring",
                "videoface:index:PipelineMonitoring",
            }, r.name
    components = {r.urn for r in program.resources if r.type in COMPONENTS}
    assert components and components <= program.outputs_registered
    assert all(not r.custom for r in program.resources if r.type in COMPONENTS)


def _resource_class_source(token: str) -> tuple[str, str]:
    package, module_and_file, cls = token.split(":")
    module, file_ = module_and_file.split("/")
    root = {"aws": "pulumi_aws", "docker": "pulumi_docker"}[package]
    parts = [root] if module == "index" else [root, {"lambda": "lambda_"}.get(module, module)]
    init = __import__(root).__file__
    assert init is not None, root  # a regular package, installed from files
    path = Path(init).parent.joinpath(*parts[1:], re.sub(r"(?<!^)(?=[A-Z])", "_", file_).lower() + ".py")
    return cls, path.read_text()


def test_no_deprecated_resource_types_or_arguments(program, base_config):
    for token in sorted({r.type for r in program.resources if r.custom}):
        cls, source = _resource_class_source(token)
        body = source.split(f"class {cls}(pulumi.CustomResource):", 1)[1].lstrip().splitlines()[0]
        assert "deprecated" not in body, f"{token} is deprecated: {body}"
    # Deprecated arguments warn when the resource is constructed.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_program({**base_config, "architecture": program.settings.architecture})
    assert [str(w.message) for w in caught if "deprecated" in str(w.message)] == []


# ---------------------------------------------------------------------------------------------
# Buckets


def test_buckets_are_private_encrypted_and_tls_only(program):
    for bucket in program.of(T_BUCKET):
        name = bucket.get("bucket")
        arn = f"arn:aws:s3:::{name}"
        pab = program.one(T_PAB, f"{bucket.name}-public-access-block")
        assert pab.get("bucket") == name
        assert all(
            pab.get(k) is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        sse = program.one(T_SSE, f"{bucket.name}-encryption")
        assert sse.get("bucket") == name
        assert sse.get("rules") == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        ownership = program.one(T_OWNERSHIP, f"{bucket.name}-ownership")
        assert ownership.get("rule") == {"objectOwnership": "BucketOwnerEnforced"}
        policy_res = program.one(T_BUCKET_POLICY, f"{bucket.name}-tls-only")
        assert policy_res.get("bucket") == name
        assert pab.urn in policy_res.dependencies
        [statement] = json.loads(policy_res.get("policy"))["Statement"]
        # Deny everything on the bucket and its objects to any request not made over TLS
        assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
        assert statement["Resource"] == [arn, f"{arn}/*"] and statement["Sid"] == "DenyInsecureTransport"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ---------------------------------------------------------------------------------------------
# Wiring


def _notification_targets(program: Program) -> dict[str, list[tuple[str, tuple, str]]]:
    """bucket name -> [(function arn, events, suffix)]"""
    out = {}
    for n in program.of(T_NOTIFICATION):
        assert not n.get("queues") and not n.get("topics")
        out[n.get("bucket")] = [
            (f["lambdaFunctionArn"], tuple(f["events"]), f.get("filterSuffix")) for f in n.get("lambdaFunctions")
        ]
    return out


def test_event_driven_notifications(event_driven):
    p = event_driven
    splitter = p.function("video-splitting").state["arn"]
    recognizer = p.function("face-recognition").state["arn"]
    assert _notification_targets(p) == {
        # Every upload: S3's suffix filters are case-sensitive and the splitter decides (any case).
        "vfp-test-input": [(splitter, ("s3:ObjectCreated:*",), None)],
        "vfp-test-stage-1": [(recognizer, ("s3:ObjectCreated:*",), ".jpg")],
    }
    for n in p.of(T_NOTIFICATION):
        assert not any(f.get("filterPrefix") for f in n.get("lambdaFunctions"))


def test_direct_invocation_notifies_from_the_input_bucket_only(direct):
    splitter = direct.function("video-splitting").state["arn"]
    assert _notification_targets(direct) == {
        "vfp-test-input": [(splitter, ("s3:ObjectCreated:*",), None)],
    }


def test_each_permission_is_scoped_to_its_bucket_and_account_and_precedes_its_notification(program):
    expected = {("vfp-test-input", "video-splitting")}
    if not program.settings.direct_invocation:
        expected.add(("vfp-test-stage-1", "face-recognition"))
    seen = set()
    for perm in program.of(T_PERMISSION):
        assert perm.get("action") == "lambda:InvokeFunction"
        assert perm.get("principal") == "s3.amazonaws.com"
        assert perm.get("sourceAccount") == ACCOUNT
        bucket = perm.get("sourceArn").removeprefix("arn:aws:s3:::")
        assert perm.get("sourceArn") == f"arn:aws:s3:::{bucket}"
        seen.add((bucket, perm.get("function")))
        notification = program.by_input(T_NOTIFICATION, "bucket", bucket)
        assert perm.urn in notification.dependencies
        # ... and the notification targets exactly the function the permission is for.
        targets = {f["lambdaFunctionArn"] for f in notification.get("lambdaFunctions")}
        assert targets == {program.function(perm.get("function")).state["arn"]}
    assert seen == expected


def _writes(program: Program, function_name: str) -> list[tuple[str, str]]:
    """(bucket, key pattern) a function's role lets it write, read from the deployed policy."""
    fn = program.function(function_name)
    role = next(r for r in program.of(T_ROLE) if r.state["arn"] == fn.get("role"))
    policy = program.policy(next(r for r in program.of(T_ROLE_POLICY) if r.get("role") == role.state["name"]))
    out = []
    for st in policy["Statement"]:
        if "s3:PutObject" in st["Action"]:
            for res in st["Resource"]:
                bucket, pattern = res.removeprefix("arn:aws:s3:::").split("/", 1)
                out.append((bucket, pattern))
    return out


def test_no_function_can_trigger_itself(program):
    """Whatever a function may write must not reach a notification that invokes that function."""
    arns = {fn.state["arn"]: fn.get("name") for fn in program.of(T_FUNCTION)}
    for bucket, targets in _notification_targets(program).items():
        for arn, _events, suffix in targets:
            function_name = arns[arn]
            for written_bucket, pattern in _writes(program, function_name):
                assert pattern.startswith("*") and not pattern[1:].count("*")
                written_suffix = pattern[1:]
                assert not (written_bucket == bucket and written_suffix.endswith(suffix or "")), (
                    f"{function_name} writes {pattern} to {bucket}, which invokes it"
                )
    # The output bucket, where results land, notifies nothing at all.
    assert "vfp-test-output" not in _notification_targets(program)


# ---------------------------------------------------------------------------------------------
# IAM


def _statements(program: Program, function_name: str) -> dict[str, dict]:
    fn = program.function(function_name)
    role = next(r for r in program.of(T_ROLE) if r.state["arn"] == fn.get("role"))
    assert json.loads(role.get("assumeRolePolicy")) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    assert not role.get("managedPolicyArns") and not role.get("inlinePolicies")
    policies_ = [r for r in program.of(T_ROLE_POLICY) if r.get("role") == role.state["name"]]
    # one policy; a timeline stack's workflow adds one more (components/workflow.py)
    assert len(policies_) == (2 if program.settings.timeline else 1)
    statements = {}
    for policy in policies_:
        doc = program.policy(policy)
        assert doc["Version"] == "2012-10-17"
        statements.update({st["Sid"]: st for st in doc["Statement"]})
    return statements


def test_splitter_role_is_least_privilege(program):
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/video-splitting:*"
    expected = {
        # The whole input bucket: it is notified of every upload, and IAM patterns are case-sensitive.
        "ReadInput": (["s3:GetObject"], ["arn:aws:s3:::vfp-test-input/*"]),
        "WriteOutput": (["s3:PutObject"], ["arn:aws:s3:::vfp-test-stage-1/*.jpg"]),
        "WriteLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [logs]),
        "SendFailedEvents": (["sqs:SendMessage"], [f"arn:aws:sqs:{REGION}:{ACCOUNT}:video-splitting-dlq"]),
    }
    if program.settings.direct_invocation:
        expected["InvokeNextStage"] = (
            ["lambda:InvokeFunction"],
            [f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:face-recognition"],
        )
    got = _statements(program, "video-splitting")
    assert {sid: (st["Action"], st["Resource"]) for sid, st in got.items()} == expected
    assert all(st["Effect"] == "Allow" and set(st) == {"Sid", "Effect", "Action", "Resource"} for st in got.values())


def test_recognizer_role_is_least_privilege(program):
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/face-recognition:*"
    got = _statements(program, "face-recognition")
    assert {sid: (st["Action"], st["Resource"]) for sid, st in got.items()} == {
        "ReadInput": (["s3:GetObject"], ["arn:aws:s3:::vfp-test-stage-1/*.jpg"]),
        "WriteOutput": (["s3:PutObject"], ["arn:aws:s3:::vfp-test-output/*.txt"]),
        "WriteLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [logs]),
        "SendFailedEvents": (["sqs:SendMessage"], [f"arn:aws:sqs:{REGION}:{ACCOUNT}:face-recognition-dlq"]),
        **LIBRARY_GRANTS,
    }


LIBRARY_GRANTS = {
    "LibraryFaces": (["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::vfp-test-library/*/faces.json"]),
    "ListLibrary": (["s3:ListBucket"], ["arn:aws:s3:::vfp-test-library"]),
    # the HTML report's: report.json, thumbnails and a timeline segment's crops (face_recognizer.thumbnails)
    "LibraryReport": (["s3:PutObject"], ["arn:aws:s3:::vfp-test-library/*/report.json"]),
    "LibraryThumbnails": (
        ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        ["arn:aws:s3:::vfp-test-library/*.jpg"],
    ),
    "IndexAppearances": (
        ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"],
        [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/vfp-test-appearances"],
    ),
    "PublishResults": (["sns:Publish"], [f"arn:aws:sns:{REGION}:{ACCOUNT}:vfp-test-results"]),
    "EncryptResults": (
        ["kms:GenerateDataKey", "kms:Decrypt"],
        [f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
    ),
}


def test_no_allow_statement_uses_wildcards_in_s3_or_lambda(program):
    buckets = {r.get("bucket") for r in program.of(T_BUCKET)}
    for role_policy in program.of(T_ROLE_POLICY):
        for st in program.policy(role_policy)["Statement"]:
            assert st["Effect"] == "Allow"
            for action in st["Action"]:
                assert "*" not in action, action
            for resource in st["Resource"]:
                assert resource != "*"
                if resource == "arn:aws:s3:::vfp-test-library":  # ListBucket: a relabel reads every faces.json
                    assert st["Action"] == ["s3:ListBucket"]
                elif resource == "arn:aws:s3:::vfp-test-library/*/faces.json":  # library_prefix(video)/faces.json
                    assert st["Action"] == ["s3:GetObject", "s3:PutObject"]
                elif resource == "arn:aws:s3:::vfp-test-library/*/report.json":  # the HTML report's
                    assert st["Action"] == ["s3:PutObject"]
                elif resource.startswith("arn:aws:s3:::"):
                    # one named bucket, objects of one suffix (or, for the input bucket the
                    # splitter is notified of entirely, every object): one `*`, the key's folder/stem
                    bucket, key = resource.removeprefix("arn:aws:s3:::").split("/", 1)
                    assert bucket in buckets and "*" not in bucket
                    assert (key.startswith("*.") or (key == "*" and bucket == "vfp-test-input")) and "*" not in key[
                        1:
                    ], resource
                if resource.startswith("arn:aws:lambda:"):
                    assert "*" not in resource, resource


# ---------------------------------------------------------------------------------------------
# Functions


def test_splitter_function(program, build_dir):
    s = program.settings
    fn = program.function("video-splitting")
    layer = program.one(T_LAYER, "video-splitting-ffmpeg")
    assert fn.get("packageType") == "Zip"
    assert fn.get("runtime") == "python3.13"
    assert fn.get("handler") == "video_splitting.handler.handler"
    assert fn.get("architectures") == ["x86_64"]
    assert fn.get("layers") == [layer.state["arn"]]
    assert layer.get("compatibleRuntimes") == ["python3.13"]
    assert layer.get("compatibleArchitectures") == ["x86_64"]
    assert Path(fn.get("code").path) == build_dir / topology.FUNCTIONS[topology.SPLITTER].zip_name
    assert Path(layer.get("code").path) == build_dir / "ffmpeg-layer.zip"
    assert (build_dir / topology.FUNCTIONS[topology.SPLITTER].zip_name).is_file() and (
        build_dir / "ffmpeg-layer.zip"
    ).is_file()
    assert fn.get("environment") == {"variables": function_environment(topology.SPLITTER, s)}
    assert fn.get("environment")["variables"]["FFMPEG_PATH"] == "/opt/bin/ffmpeg"
    assert ("RECOGNIZER_FUNCTION" in fn.get("environment")["variables"]) == s.direct_invocation
    assert (fn.get("memorySize"), fn.get("timeout"), fn.get("ephemeralStorage")) == (1024, 30, {"size": 512})
    assert fn.get("reservedConcurrentExecutions") is None


def test_recognizer_function_runs_the_pushed_digest(program):
    s = program.settings
    fn = program.function("face-recognition")
    image = program.one(T_IMAGE, "face-recognition-image")
    assert fn.get("packageType") == "Image"
    assert fn.get("imageUri") == image.state["repoDigest"]
    assert "@sha256:" in fn.get("imageUri") and not fn.get("imageUri").endswith(":latest")
    assert image.urn in fn.dependencies
    assert fn.get("runtime") is None and fn.get("handler") is None and not fn.get("layers")
    assert fn.get("architectures") == ["x86_64"]
    topic = program.one(T_TOPIC, "library-results").state["arn"]
    assert fn.get("environment") == {
        "variables": {**function_environment(topology.RECOGNIZER, s), topology.RESULTS_TOPIC_VARIABLE: topic}
    }
    assert fn.get("environment")["variables"]["FACE_DB_PATH"] == topology.IMAGE_FACE_DB
    assert (fn.get("memorySize"), fn.get("timeout"), fn.get("ephemeralStorage")) == (1024, 60, {"size": 512})
    assert fn.get("reservedConcurrentExecutions") is None


def test_the_pushed_image_is_one_platform_with_no_attestation_index(program):
    """Lambda refuses an image index (what provenance/SBOM attestations or several platforms make):
    the build asks for exactly one platform, BuildKit through the engine's build API (no attestation
    is requested there), and passes nothing that would ask for one."""
    build = program.one(T_IMAGE, "face-recognition-image").get("build")
    assert build["platform"] == "linux/amd64" and "," not in build["platform"]
    assert build["builderVersion"] == "BuilderBuildKit"  # the Dockerfile's RUN --mount needs BuildKit
    assert not {k for k in build["args"] if "ATTEST" in k.upper() or "SBOM" in k.upper() or "PROVENANCE" in k.upper()}
    assert set(build) <= {"context", "dockerfile", "platform", "builderVersion", "target", "args"}
    workflows = (PROJECT_DIR / ".github" / "workflows").glob("*.yml")
    deploying = [w for w in workflows if "pulumi/actions" in w.read_text() and "command: up" in w.read_text()]
    assert deploying and all("BUILDX_NO_DEFAULT_ATTESTATIONS" in w.read_text() for w in deploying)


def test_log_groups_exist_before_the_functions_with_retention(program):
    for fn_name in ("video-splitting", "face-recognition"):
        group = program.by_input(T_LOG_GROUP, "name", f"/aws/lambda/{fn_name}")
        assert group.get("retentionInDays") == 14
        fn = program.function(fn_name)
        assert group.urn in fn.dependencies
        assert fn.get("loggingConfig") == {"logFormat": "Text", "logGroup": f"/aws/lambda/{fn_name}"}
        role_policy = program.one(T_ROLE_POLICY, f"{fn_name}-access")
        assert role_policy.urn in fn.dependencies


def test_sizes_and_reserved_concurrency_follow_config(base_config):
    p = run_program(
        {
            **base_config,
            "splitterMemory": "1769",
            "splitterTimeout": "45",
            "splitterEphemeralStorage": "1024",
            "splitterReservedConcurrency": "0",
            "recognizerMemory": "3008",
            "recognizerTimeout": "120",
            "recognizerEphemeralStorage": "2048",
            "recognizerReservedConcurrency": "7",
            "logRetentionDays": "30",
            "maxRetryAttempts": "1",
            "maxEventAgeSeconds": "600",
            "logLevel": "DEBUG",
            "distanceThreshold": "0.9",
            "recognizerPrecision": "int8",
        }
    )
    splitter, recognizer = p.function("video-splitting"), p.function("face-recognition")

    def sizing(fn):
        return tuple(
            fn.get(key) for key in ("memorySize", "timeout", "ephemeralStorage", "reservedConcurrentExecutions")
        )

    assert sizing(splitter) == (1769, 45, {"size": 1024}, 0)
    assert sizing(recognizer) == (3008, 120, {"size": 2048}, 7)
    env = recognizer.get("environment")["variables"]
    assert env["MODEL_THREADS"] == "2" and env["DISTANCE_THRESHOLD"] == "0.9" and env["LOG_LEVEL"] == "DEBUG"
    # the function is told the precision the image's export stage is asked to build
    assert env["MODEL_PRECISION"] == "int8"
    assert p.one(T_IMAGE, "face-recognition-image").get("build")["args"]["MODEL_PRECISION"] == "int8"
    assert splitter.get("environment")["variables"]["LOG_LEVEL"] == "DEBUG"
    assert {g.get("retentionInDays") for g in p.of(T_LOG_GROUP)} == {30}
    for cfg in p.of(T_INVOKE_CONFIG):
        assert (cfg.get("maximumRetryAttempts"), cfg.get("maximumEventAgeInSeconds")) == (1, 600)


# ---------------------------------------------------------------------------------------------
# The image


def test_image_is_built_for_amd64_from_the_project_and_pushed_with_secret_credentials(program, face_db):
    image = program.one(T_IMAGE, "face-recognition-image")
    repo = program.one(T_REPOSITORY, "face-recognition-repo")
    build = image.get("build")
    assert build["platform"] == "linux/amd64"
    assert build["context"] == "."
    assert build["dockerfile"] == "docker/recognizer.Dockerfile"
    assert build["args"] == {"FACE_DB": face_db, "MODEL_PRECISION": "fp32"}
    assert image.get("imageName") == f"{repo.state['repositoryUrl']}:latest"
    assert not image.get("skipPush")
    registry = image.inputs["registry"]
    assert rpc.is_rpc_secret(registry), "registry credentials must be secret"
    assert unwrap(registry) == {"server": repo.state["repositoryUrl"], "username": "AWS", "password": ECR_PASSWORD}
    # The password goes nowhere else: not into another resource, not into an output.
    for r in program.resources:
        if r is not image:
            assert ECR_PASSWORD not in json.dumps(unwrap(r.inputs), default=str), r.name
    assert ECR_PASSWORD not in json.dumps(program.exports, default=str)


def test_image_build_inputs_exist_in_the_project(face_db):
    """The paths handed to the build are real: Dockerfile, and a FACE_DB it actually uses."""
    dockerfile = PROJECT_DIR / "docker" / "recognizer.Dockerfile"
    assert dockerfile.is_file(), "docker/recognizer.Dockerfile is missing"
    text = dockerfile.read_text()
    assert "ARG FACE_DB" in text and "${FACE_DB}" in text.replace("$FACE_DB", "${FACE_DB}")
    assert (PROJECT_DIR / face_db).is_file()


def test_image_digest_changes_when_the_build_does(base_config, face_db, tmp_path):
    """Pinning to repoDigest is what redeploys the function after a rebuild."""
    other = scratch_db()
    try:
        a = run_program(base_config).function("face-recognition").get("imageUri")
        b = (
            run_program({**base_config, "faceDatabase": other.relative_to(PROJECT_DIR).as_posix()})
            .function("face-recognition")
            .get("imageUri")
        )
    finally:
        other.unlink()
    assert a != b


def test_ecr_repository_is_scanned_and_pruned(program):
    repo = program.one(T_REPOSITORY, "face-recognition-repo")
    assert repo.get("imageScanningConfiguration") == {"scanOnPush": True}
    assert repo.get("encryptionConfigurations") == [{"encryptionType": "AES256"}]
    lifecycle = program.one(T_LIFECYCLE, "face-recognition-lifecycle")
    assert lifecycle.get("repository") == repo.get("name")
    rules = json.loads(lifecycle.get("policy"))["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2]
    assert rules[0]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 1,
    }
    assert rules[1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5}
    assert all(r["action"] == {"type": "expire"} for r in rules)


# ---------------------------------------------------------------------------------------------
# Failed events


def test_each_function_sends_failed_events_to_its_own_encrypted_queue(program):
    for fn_name in ("video-splitting", "face-recognition"):
        queue = program.by_input(T_QUEUE, "name", f"{fn_name}-dlq")
        assert queue.get("sqsManagedSseEnabled") is True
        assert queue.get("messageRetentionSeconds") == 14 * 24 * 3600
        assert not queue.get("redrivePolicy")
        cfg = program.by_input(T_INVOKE_CONFIG, "functionName", fn_name)
        assert cfg.get("maximumRetryAttempts") == 2
        assert cfg.get("maximumEventAgeInSeconds") == 3600
        assert cfg.get("destinationConfig") == {"onFailure": {"destination": queue.state["arn"]}}
        assert program.one(T_ROLE_POLICY, f"{fn_name}-access").urn in cfg.dependencies
        sends = _statements(program, fn_name)["SendFailedEvents"]["Resource"]
        assert sends == [queue.state["arn"]]


# ---------------------------------------------------------------------------------------------
# Outputs


def test_stack_outputs(program):
    e = program.exports
    s = program.settings
    assert e["architecture"] == s.architecture
    assert (e["inputBucket"], e["stage1Bucket"], e["outputBucket"]) == (
        "vfp-test-input",
        "vfp-test-stage-1",
        "vfp-test-output",
    )
    assert e["splitterFunctionName"] == "video-splitting"
    assert e["recognizerFunctionName"] == "face-recognition"
    assert e["splitterFunctionArn"] == program.function("video-splitting").state["arn"]
    assert e["recognizerFunctionArn"] == program.function("face-recognition").state["arn"]
    assert e["recognizerImageUri"] == program.one(T_IMAGE, "face-recognition-image").state["repoDigest"]
    assert e["splitterDeadLetterQueueUrl"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/video-splitting-dlq"
    assert e["recognizerDeadLetterQueueUrl"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/face-recognition-dlq"
    assert e["analysis"] == "first-frame"
    assert set(e) == {
        "architecture",
        "analysis",
        "inputBucket",
        "stage1Bucket",
        "outputBucket",
        "splitterFunctionName",
        "splitterFunctionArn",
        "recognizerFunctionName",
        "recognizerFunctionArn",
        "recognizerImageUri",
        "splitterDeadLetterQueueUrl",
        "recognizerDeadLetterQueueUrl",
        "alarmTopicArn",
        "dashboardUrl",
        "appearancesTable",
        "resultsTopicArn",
        "libraryBucket",
    }
    assert e["appearancesTable"] == "vfp-test-appearances" and e["libraryBucket"] == "vfp-test-library"
    assert e["resultsTopicArn"] == program.one(T_TOPIC, "library-results").state["arn"]


# ---------------------------------------------------------------------------------------------
# The example stack files


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_example_stack_files_deploy_what_they_say(stack, base_config):
    with open(PROJECT_DIR / f"Pulumi.{stack}.yaml", encoding="utf-8") as fh:
        config = yaml.safe_load(fh)["config"]
    config[f"{PROJECT}:faceDatabase"] = base_config["faceDatabase"]  # the file itself may not exist here
    overrides = {"faceDatabase": base_config["faceDatabase"]}
    if stack == "prod":  # it names a placeholder subscriber, which preview refuses until it is changed
        error, declared = run_failing(config, stack=stack)
        assert "alarmEmail" in str(error) and "placeholder" in str(error) and declared == 0
        config[f"{PROJECT}:alarmEmail"] = overrides["alarmEmail"] = "oncall@pipeline-team.io"
    p = run_program(config, stack=stack)
    s = stack_settings.load_stack_file(PROJECT_DIR / f"Pulumi.{stack}.yaml", overrides=overrides)
    assert p.settings == s
    assert {r.get("bucket") for r in p.of(T_BUCKET)} == {
        s.input_bucket,
        s.stage1_bucket,
        s.output_bucket,
        s.bucket(topology.LIBRARY),
    }
    assert p.one(T_TABLE, "library-appearances").get("deletionProtectionEnabled") is (stack == "prod")
    assert {r.get("name") for r in p.of(T_FUNCTION)} == {s.splitter.name, s.recognizer.name}
    assert len(p.of(T_NOTIFICATION)) == (1 if s.direct_invocation else 2)
    if stack == "prod":
        assert s.splitter.name == "prod-video-splitting" and s.direct_invocation
        assert p.function("prod-face-recognition").get("reservedConcurrentExecutions") == 10
        assert _statements(p, "prod-video-splitting")["InvokeNextStage"]["Resource"] == [
            p.function("prod-face-recognition").state["arn"]
        ]
        assert {g.get("retentionInDays") for g in p.of(T_LOG_GROUP)} == {90}
        [subscription] = p.of(T_SUBSCRIPTION)  # prod's alarms reach someone
        assert subscription.get("endpoint") == "oncall@pipeline-team.io"


# ---------------------------------------------------------------------------------------------
# Invalid config stops the program before it declares anything


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"architecture": "step-functions"}, ["architecture", "event-driven", "direct-invocation"]),
        ({"splitterMemory": "512"}, ["splitterMemory", "768..10240", "largest frame"]),
        ({"recognizerMemory": "20480"}, ["recognizerMemory", "768..10240"]),
        ({"recognizerTimeout": "901"}, ["recognizerTimeout", "1..900"]),
        ({"splitterEphemeralStorage": "256"}, ["splitterEphemeralStorage", "512..10240"]),
        ({"logRetentionDays": "10"}, ["logRetentionDays", "14", "3653"]),
        ({"maxRetryAttempts": "5"}, ["maxRetryAttempts", "0..2"]),
        ({"namePrefix": "Bad_Prefix"}, ["namePrefix", "a-z"]),
        ({"faceDatabase": "data/no-such-database.pt"}, ["faceDatabase", "does not exist"]),
    ],
)
def test_invalid_config_fails_naming_the_setting(override, expected, base_config):
    error, declared = run_failing({**base_config, **override})
    message = str(error)
    assert message.startswith("invalid stack configuration: ")
    for word in expected:
        assert word in message, (word, message)
    assert declared == 0


def test_a_misspelt_setting_is_refused_not_ignored(base_config):
    """Pulumi ignores a key Pulumi.yaml does not declare; the program must not."""
    error, declared = run_failing({**base_config, "architecure": "direct-invocation"})
    assert (
        f"Pulumi.test.yaml: {PROJECT}:architecure is not a setting of this project; "
        f"did you mean {PROJECT}:architecture?" in str(error)
    )
    assert declared == 0


def test_a_stack_without_a_name_prefix_gets_one_unique_to_the_stack_and_account(base_config):
    """S3 bucket names are global: a new stack's first deploy must not collide (vfp-dev-input is
    probably taken); setting namePrefix keeps the course's naming."""
    config = {k: v for k, v in base_config.items() if k != "namePrefix"}
    p = run_program(config, stack="staging")
    assert {r.get("bucket") for r in p.of(T_BUCKET)} == {
        f"vfp-staging-{ACCOUNT}-input",
        f"vfp-staging-{ACCOUNT}-stage-1",
        f"vfp-staging-{ACCOUNT}-output",
        f"vfp-staging-{ACCOUNT}-library",
    }
    assert p.exports["inputBucket"] == f"vfp-staging-{ACCOUNT}-input"
    named = run_program({**config, "namePrefix": "vfp-course"})
    assert {r.get("bucket") for r in named.of(T_BUCKET)} >= {"vfp-course-input", "vfp-course-output"}
    long = stack_settings.derived_name_prefix(PROJECT, "A_Very-Long.Stack Name/For Testing Purposes!", ACCOUNT)
    context = stack_settings.Context(base_dir=PROJECT_DIR, check_files=False)
    assert stack_settings.bucket_prefix("namePrefix", long, context) == long  # always a valid prefix


def test_face_database_the_image_build_would_not_see_is_refused(base_config):
    folder = Path(tempfile.mkdtemp(prefix=".pulumi-test-", dir=PROJECT_DIR / "data"))
    try:
        hidden = folder / "face_db.pt"  # data/<folder>/*.pt is not re-included by .dockerignore
        hidden.write_bytes(b"x")
        error, declared = run_failing({**base_config, "faceDatabase": hidden.relative_to(PROJECT_DIR).as_posix()})
    finally:
        shutil.rmtree(folder)
    assert "faceDatabase" in str(error) and "excluded from the image build by .dockerignore" in str(error)
    assert declared == 0


def test_face_database_outside_the_project_is_refused(base_config, tmp_path):
    outside = tmp_path / "face_db.pt"
    outside.write_bytes(b"x")
    error, declared = run_failing({**base_config, "faceDatabase": str(outside)})
    assert "faceDatabase" in str(error) and "outside the project folder" in str(error)
    assert declared == 0
