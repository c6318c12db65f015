"""The real __main__.py, run under Pulumi's mocks for both wirings: the resource graph it declares.

No Pulumi CLI, no AWS: `pulumi.runtime.set_mocks` stands in for the engine. The mocks only fill in
what AWS would compute (ARNs, URLs, the image digest); everything asserted here is what the
program itself asked for. The archives are really built (into a temporary folder) and the face
database is a real file inside the project folder, because the program checks both.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockMonitor

from components import packaging, settings as stack_settings

# pulumi_aws warns about its own deprecated modules on import; what we use is checked below.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROJECT_DIR = stack_settings.PROJECT_DIR
MAIN = PROJECT_DIR / "__main__.py"
PROJECT = stack_settings.project_name()
REGION = "us-east-1"
ACCOUNT = "123456789012"
ECR_PASSWORD = "ecr-password-that-must-stay-secret"
ARCHITECTURES = stack_settings.ARCHITECTURES

T_BUCKET = "aws:s3/bucket:Bucket"
T_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
T_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
T_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
T_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
T_NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
T_FUNCTION = "aws:lambda/function:Function"
T_LAYER = "aws:lambda/layerVersion:LayerVersion"
T_PERMISSION = "aws:lambda/permission:Permission"
T_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
T_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
T_QUEUE = "aws:sqs/queue:Queue"
T_ROLE = "aws:iam/role:Role"
T_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
T_REPOSITORY = "aws:ecr/repository:Repository"
T_LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
T_IMAGE = "docker:index/image:Image"
COMPONENTS = {
    "videoface:index:PipelineBuckets", "videoface:index:SecureBucket", "videoface:index:VideoSplitter",
    "videoface:index:FaceRecognizer", "videoface:index:DeadLetterQueue", "videoface:index:EventWiring",
}


# ---------------------------------------------------------------------------------------------
# The harness


class CloudMocks(pulumi.runtime.Mocks):
    """Echo each resource's inputs and add the attributes AWS computes, shaped as AWS shapes them."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        typ, name = args.typ, args.name
        rid = f"{name}-id"
        if typ == T_BUCKET:
            rid = state["bucket"]
            state["arn"] = f"arn:aws:s3:::{rid}"
        elif typ == T_FUNCTION:
            rid = state["name"]
            state["arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{rid}"
        elif typ == T_LAYER:
            state["arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{state['layerName']}:1"
        elif typ == T_LOG_GROUP:
            rid = state["name"]
            state["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{rid}"
        elif typ == T_QUEUE:
            state["arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{state['name']}"
            state["url"] = rid = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{state['name']}"
        elif typ == T_ROLE:
            rid = f"{name}-a1b2c3d"  # auto-named
            state.update(name=rid, arn=f"arn:aws:iam::{ACCOUNT}:role/{rid}")
        elif typ == T_REPOSITORY:
            rid = state["name"]
            state.update(registryId=ACCOUNT, arn=f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{rid}",
                         repositoryUrl=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{rid}")
        elif typ == T_IMAGE:
            # A digest that changes with what was built, as a registry's would.
            build = json.dumps(state.get("build"), sort_keys=True, default=str)
            repo = state["imageName"].rsplit(":", 1)[0]
            state["repoDigest"] = f"{repo}@sha256:{hashlib.sha256(build.encode()).hexdigest()}"
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer",
                    "userId": "AIDAEXAMPLE", "id": ACCOUNT}
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            assert args.args.get("registryId") == ACCOUNT, args.args
            return {"userName": "AWS", "password": ECR_PASSWORD, "id": ACCOUNT,
                    "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
                    "authorizationToken": "QVdTOnNlY3JldA==", "expiresAt": "2030-01-01T00:00:00Z"}
        raise AssertionError(f"the program made an unexpected call: {args.token}")


@dataclass
class Res:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    dependencies: list[str]
    inputs: dict  # secrets still wrapped
    state: dict = field(default_factory=dict)

    def get(self, key: str) -> Any:
        return unwrap(self.inputs.get(key))


class RecordingMonitor(MockMonitor):
    """The mock engine, also keeping each registration's parent, dependencies and raw inputs."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.registered: dict[str, Res] = {}
        self.outputs_registered: set[str] = set()

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered[response.urn] = Res(
                urn=response.urn, type=request.type, name=request.name, parent=request.parent,
                custom=request.custom, dependencies=list(request.dependencies),
                inputs=rpc.deserialize_properties(request.object))
        return response

    def RegisterResourceOutputs(self, request):
        self.outputs_registered.add(request.urn)
        return super().RegisterResourceOutputs(request)


def unwrap(value):
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class Program:
    resources: list[Res]
    exports: dict
    outputs_registered: set[str]
    settings: stack_settings.StackSettings

    def of(self, typ: str) -> list[Res]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str, name: str) -> Res:
        found = [r for r in self.of(typ) if r.name == name]
        assert len(found) == 1, f"{typ} {name}: found {len(found)}"
        return found[0]

    def by_input(self, typ: str, key: str, value) -> Res:
        found = [r for r in self.of(typ) if r.get(key) == value]
        assert len(found) == 1, f"{typ} with {key}={value!r}: found {len(found)}"
        return found[0]

    def function(self, function_name: str) -> Res:
        return self.by_input(T_FUNCTION, "name", function_name)

    def urn_of(self, typ: str, name: str) -> str:
        return self.one(typ, name).urn

    def policy(self, role_policy: Res) -> dict:
        return json.loads(role_policy.get("policy"))


class EchoMocks(CloudMocks):
    """Like a first `pulumi preview`: nothing exists yet, so every computed attribute is unknown."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return "", dict(args.inputs)


def run_program(config: dict[str, str], *, stack: str = "test", preview: bool = False,
                mocks: Optional[pulumi.runtime.Mocks] = None) -> Program:
    """Execute __main__.py as `pulumi up` (or preview) would, with un-namespaced project `config`."""
    mocks = mocks or CloudMocks()
    monitor = RecordingMonitor(mocks)
    runtime_settings.set_root_resource(None)  # a fresh stack per run
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    all_config = {"aws:region": REGION}
    all_config.update({k if ":" in k else f"{PROJECT}:{k}": str(v) for k, v in config.items()})
    pulumi.runtime.set_all_config(all_config)
    exports: dict = {}

    def program():
        runpy.run_path(str(MAIN), run_name="__main__")  # a fresh module every time
        root = runtime_settings.get_root_resource()
        return pulumi.Output.from_input(root.outputs).apply(exports.update)

    pulumi.runtime.test(program)()
    for urn, res in monitor.registered.items():
        res.state = monitor.resources[urn].state
    expected = {k.split(":", 1)[1]: v for k, v in all_config.items() if k.startswith(PROJECT + ":")}
    settings = stack_settings.load(lambda key: expected.get(key), region=REGION)
    return Program(list(monitor.registered.values()), exports, monitor.outputs_registered, settings)


def run_failing(config: dict[str, str]) -> tuple[pulumi.RunError, int]:
    """Run a config that must be refused; return the error and how many resources were declared."""
    mocks = CloudMocks()
    monitor = RecordingMonitor(mocks)
    runtime_settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=True, monitor=monitor)
    pulumi.runtime.set_all_config({"aws:region": REGION, **{f"{PROJECT}:{k}": v for k, v in config.items()}})
    with pytest.raises(pulumi.RunError) as info:
        pulumi.runtime.test(lambda: runpy.run_path(str(MAIN), run_name="__main__"))()
    assert isinstance(info.value.__cause__, stack_settings.ConfigError)
    return info.value, len(monitor.registered)


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    """Archives go to a temporary folder, not the project's build/ (the program honours VFP_BUILD_DIR)."""
    folder = tmp_path_factory.getbasetemp() / "vfp-build"  # shared with test_packaging: one layer build
    folder.mkdir(exist_ok=True)
    saved = os.environ.get(packaging.BUILD_DIR_VARIABLE)
    os.environ[packaging.BUILD_DIR_VARIABLE] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop(packaging.BUILD_DIR_VARIABLE, None)
    else:
        os.environ[packaging.BUILD_DIR_VARIABLE] = saved


@pytest.fixture(scope="module")
def face_db():
    """A face database inside the project folder (the image build can only copy files from there).

    Its content does not matter to the Pulumi program, only where it is; removed afterwards.
    """
    path = _scratch_db()
    yield path.relative_to(PROJECT_DIR).as_posix()
    path.unlink()


def _scratch_db() -> Path:
    # Directly under data/: .dockerignore sends only data/*.pt to the image build.
    fd, name = tempfile.mkstemp(prefix=".pulumi-test-", suffix=".pt", dir=PROJECT_DIR / "data")
    os.write(fd, b"stand-in: the program checks the path, the image build reads it")
    os.close(fd)
    return Path(name)


@pytest.fixture(scope="module")
def base_config(build_dir, face_db) -> dict[str, str]:
    return {"namePrefix": "vfp-test", "faceDatabase": face_db}


@pytest.fixture(scope="module", params=ARCHITECTURES)
def program(request, base_config) -> Program:
    return run_program({**base_config, "architecture": request.param})


@pytest.fixture(scope="module")
def event_driven(base_config) -> Program:
    return run_program({**base_config, "architecture": stack_settings.EVENT_DRIVEN})


@pytest.fixture(scope="module")
def direct(base_config) -> Program:
    return run_program({**base_config, "architecture": stack_settings.DIRECT_INVOCATION})


# ---------------------------------------------------------------------------------------------
# What exists


def expected_resources(direct_invocation: bool) -> set[tuple[str, str]]:
    expected = {
        ("videoface:index:PipelineBuckets", "buckets"),
        ("videoface:index:FaceRecognizer", "face-recognition"),
        ("videoface:index:VideoSplitter", "video-splitting"),
        ("videoface:index:EventWiring", "wiring"),
        (T_REPOSITORY, "face-recognition-repo"), (T_LIFECYCLE, "face-recognition-lifecycle"),
        (T_IMAGE, "face-recognition-image"), (T_LAYER, "video-splitting-ffmpeg"),
        (T_PERMISSION, "wiring-input-invokes-splitter"),
        (T_NOTIFICATION, "wiring-input-notifications"),
    }
    for bucket in ("input", "stage-1", "output"):
        name = f"buckets-{bucket}"
        expected |= {("videoface:index:SecureBucket", name), (T_BUCKET, name),
                     (T_OWNERSHIP, f"{name}-ownership"), (T_PAB, f"{name}-public-access-block"),
                     (T_SSE, f"{name}-encryption"), (T_BUCKET_POLICY, f"{name}-tls-only")}
    for fn in ("video-splitting", "face-recognition"):
        expected |= {(T_FUNCTION, fn), (T_LOG_GROUP, f"{fn}-logs"), (T_ROLE, f"{fn}-role"),
                     (T_ROLE_POLICY, f"{fn}-access"), ("videoface:index:DeadLetterQueue", f"{fn}-dlq"),
                     (T_QUEUE, f"{fn}-dlq"), (T_INVOKE_CONFIG, f"{fn}-async")}
    if not direct_invocation:
        expected |= {(T_PERMISSION, "wiring-stage-1-invokes-recognizer"),
                     (T_NOTIFICATION, "wiring-stage-1-notifications")}
    return expected


def test_the_graph_holds_exactly_the_expected_resources(program):
    declared = [(r.type, r.name) for r in program.resources]
    assert len(declared) == len(set(declared))
    assert set(declared) == expected_resources(program.settings.direct_invocation)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_first_preview_with_nothing_known_yet_declares_the_same_graph(architecture, base_config):
    p = run_program({**base_config, "architecture": architecture}, preview=True, mocks=EchoMocks())
    declared = {(r.type, r.name) for r in p.resources}
    assert declared == expected_resources(architecture == stack_settings.DIRECT_INVOCATION)


def test_program_runs_with_only_the_project_root_on_sys_path(base_config, build_dir):
    """As under the Pulumi CLI, which runs the project folder: functions/ is not importable as such."""
    code = f"""
import runpy, sys
sys.path.insert(0, {str(PROJECT_DIR)!r})
import pulumi
from pulumi.runtime import settings
class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return "", dict(args.inputs)
    def call(self, args):
        return {{"accountId": "{ACCOUNT}", "userName": "AWS", "password": "x"}}
pulumi.runtime.set_mocks(Mocks(), project={PROJECT!r}, stack="isolated", preview=True)
pulumi.runtime.set_all_config({{"{PROJECT}:namePrefix": "vfp-iso", "{PROJECT}:faceDatabase": {base_config['faceDatabase']!r}}})
pulumi.runtime.test(lambda: runpy.run_path("__main__.py", run_name="__main__"))()
assert not any(p.rstrip("/").endswith("functions") for p in sys.path), sys.path
assert "pipeline_common" not in sys.modules, "import it as functions.pipeline_common"
print("ok")
"""
    env = {"PATH": os.environ.get("PATH", ""), packaging.BUILD_DIR_VARIABLE: str(build_dir), "HOME": str(build_dir)}
    result = subprocess.run([sys.executable, "-I", "-c", code], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_aws_names_come_from_the_settings(program):
    s = program.settings
    assert sorted(r.get("bucket") for r in program.of(T_BUCKET)) == sorted(
        ["vfp-test-input", "vfp-test-stage-1", "vfp-test-output"])
    assert sorted(r.get("name") for r in program.of(T_FUNCTION)) == ["face-recognition", "video-splitting"]
    assert sorted(r.get("name") for r in program.of(T_LOG_GROUP)) == [
        "/aws/lambda/face-recognition", "/aws/lambda/video-splitting"]
    assert sorted(r.get("name") for r in program.of(T_QUEUE)) == ["face-recognition-dlq", "video-splitting-dlq"]
    assert program.one(T_REPOSITORY, "face-recognition-repo").get("name") == "vfp-test/face-recognition"
    assert program.one(T_LAYER, "video-splitting-ffmpeg").get("layerName") == "video-splitting-ffmpeg"
    assert (s.input_bucket, s.splitter.name) == ("vfp-test-input", "video-splitting")


def test_every_resource_is_a_child_of_a_component_and_components_register_outputs(program):
    by_urn = {r.urn: r for r in program.resources}
    for r in program.resources:
        if r.parent in by_urn:
            assert by_urn[r.parent].type in COMPONENTS, f"{r.name} has a non-component parent"
        else:  # top level: only the four components __main__ composes
            assert r.type in {"videoface:index:PipelineBuckets", "videoface:index:FaceRecognizer",
                              "videoface:index:VideoSplitter", "videoface:index:EventWiring"}, r.name
    components = {r.urn for r in program.resources if r.type in COMPONENTS}
    assert components and components <= program.outputs_registered
    assert all(not r.custom for r in program.resources if r.type in COMPONENTS)


def _resource_class_source(token: str) -> tuple[str, str]:
    package, module_and_file, cls = token.split(":")
    module, file_ = module_and_file.split("/")
    root = {"aws": "pulumi_aws", "docker": "pulumi_docker"}[package]
    parts = [root] if module == "index" else [root, {"lambda": "lambda_"}.get(module, module)]
    path = Path(__import__(root).__file__).parent.joinpath(*parts[1:], re.sub(r"(?<!^)(?=[A-Z])", "_", file_).lower() + ".py")
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
        assert all(pab.get(k) is True for k in
                   ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        sse = program.one(T_SSE, f"{bucket.name}-encryption")
        assert sse.get("bucket") == name
        assert sse.get("rules") == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        ownership = program.one(T_OWNERSHIP, f"{bucket.name}-ownership")
        assert ownership.get("rule") == {"objectOwnership": "BucketOwnerEnforced"}
        policy_res = program.one(T_BUCKET_POLICY, f"{bucket.name}-tls-only")
        assert policy_res.get("bucket") == name
        assert pab.urn in policy_res.dependencies
        policy = json.loads(policy_res.get("policy"))
        assert policy["Statement"] == [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }]


# ---------------------------------------------------------------------------------------------
# Wiring


def _notification_targets(program: Program) -> dict[str, list[tuple[str, tuple, str]]]:
    """bucket name -> [(function arn, events, suffix)]"""
    out = {}
    for n in program.of(T_NOTIFICATION):
        assert not n.get("queues") and not n.get("topics")
        out[n.get("bucket")] = [(f["lambdaFunctionArn"], tuple(f["events"]), f.get("filterSuffix"))
                                for f in n.get("lambdaFunctions")]
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
                assert not (written_bucket == bucket and written_suffix.endswith(suffix or "")), \
                    f"{function_name} writes {pattern} to {bucket}, which invokes it"
    # The output bucket, where results land, notifies nothing at all.
    assert "vfp-test-output" not in _notification_targets(program)


# ---------------------------------------------------------------------------------------------
# IAM


def _statements(program: Program, function_name: str) -> dict[str, dict]:
    fn = program.function(function_name)
    role = next(r for r in program.of(T_ROLE) if r.state["arn"] == fn.get("role"))
    assert json.loads(role.get("assumeRolePolicy")) == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    assert not role.get("managedPolicyArns") and not role.get("inlinePolicies")
    policies_ = [r for r in program.of(T_ROLE_POLICY) if r.get("role") == role.state["name"]]
    assert len(policies_) == 1
    doc = program.policy(policies_[0])
    assert doc["Version"] == "2012-10-17"
    return {st["Sid"]: st for st in doc["Statement"]}


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
        expected["InvokeNextStage"] = (["lambda:InvokeFunction"],
                                       [f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:face-recognition"])
    got = _statements(program, "video-splitting")
    assert {sid: (st["Action"], st["Resource"]) for sid, st in got.items()} == expected
    assert all(st["Effect"] == "Allow" and set(st) == {"Sid", "Effect", "Action", "Resource"}
               for st in got.values())


def test_recognizer_role_is_least_privilege(program):
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/face-recognition:*"
    got = _statements(program, "face-recognition")
    assert {sid: (st["Action"], st["Resource"]) for sid, st in got.items()} == {
        "ReadInput": (["s3:GetObject"], ["arn:aws:s3:::vfp-test-stage-1/*.jpg"]),
        "WriteOutput": (["s3:PutObject"], ["arn:aws:s3:::vfp-test-output/*.txt"]),
        "WriteLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [logs]),
        "SendFailedEvents": (["sqs:SendMessage"], [f"arn:aws:sqs:{REGION}:{ACCOUNT}:face-recognition-dlq"]),
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
                if resource.startswith("arn:aws:s3:::"):
                    # one named bucket, objects of one suffix (or, for the input bucket the
                    # splitter is notified of entirely, every object): one `*`, the key's folder/stem
                    bucket, key = resource.removeprefix("arn:aws:s3:::").split("/", 1)
                    assert bucket in buckets and "*" not in bucket
                    assert (key.startswith("*.") or (key == "*" and bucket == "vfp-test-input")) \
                        and "*" not in key[1:], resource
                if resource.startswith("arn:aws:lambda:"):
                    assert "*" not in resource, resource


# ---------------------------------------------------------------------------------------------
# Functions


def test_splitter_function(program, build_dir):
    s = program.settings
    fn = program.function("video-splitting")
    layer = program.one(T_LAYER, "video-splitting-ffmpeg")
    assert fn.get("packageType") == "Zip"
    assert fn.get("runtime") == "python3.11"
    assert fn.get("handler") == "video_splitting.handler.handler"
    assert fn.get("architectures") == ["x86_64"]
    assert fn.get("layers") == [layer.state["arn"]]
    assert layer.get("compatibleRuntimes") == ["python3.11"]
    assert layer.get("compatibleArchitectures") == ["x86_64"]
    assert Path(fn.get("code").path) == build_dir / "video-splitting.zip"
    assert Path(layer.get("code").path) == build_dir / "ffmpeg-layer.zip"
    assert (build_dir / "video-splitting.zip").is_file() and (build_dir / "ffmpeg-layer.zip").is_file()
    assert fn.get("environment") == {"variables": stack_settings.splitter_environment(s)}
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
    assert fn.get("environment") == {"variables": stack_settings.recognizer_environment(s)}
    assert fn.get("environment")["variables"]["FACE_DB_PATH"] == stack_settings.IMAGE_FACE_DB
    assert (fn.get("memorySize"), fn.get("timeout"), fn.get("ephemeralStorage")) == (1024, 60, {"size": 512})
    assert fn.get("reservedConcurrentExecutions") is None


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
    p = run_program({**base_config, "splitterMemory": "1769", "splitterTimeout": "45",
                     "splitterEphemeralStorage": "1024", "splitterReservedConcurrency": "0",
                     "recognizerMemory": "3008", "recognizerTimeout": "120",
                     "recognizerEphemeralStorage": "2048", "recognizerReservedConcurrency": "7",
                     "logRetentionDays": "30", "maxRetryAttempts": "1", "maxEventAgeSeconds": "600",
                     "logLevel": "DEBUG", "distanceThreshold": "0.9"})
    splitter, recognizer = p.function("video-splitting"), p.function("face-recognition")
    assert (splitter.get("memorySize"), splitter.get("timeout"), splitter.get("ephemeralStorage"),
            splitter.get("reservedConcurrentExecutions")) == (1769, 45, {"size": 1024}, 0)
    assert (recognizer.get("memorySize"), recognizer.get("timeout"), recognizer.get("ephemeralStorage"),
            recognizer.get("reservedConcurrentExecutions")) == (3008, 120, {"size": 2048}, 7)
    env = recognizer.get("environment")["variables"]
    assert env["MODEL_THREADS"] == "2" and env["DISTANCE_THRESHOLD"] == "0.9" and env["LOG_LEVEL"] == "DEBUG"
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
    assert build["args"] == {"FACE_DB": face_db}
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
    other = _scratch_db()
    try:
        a = run_program(base_config).function("face-recognition").get("imageUri")
        b = run_program({**base_config, "faceDatabase": other.relative_to(PROJECT_DIR).as_posix()}
                        ).function("face-recognition").get("imageUri")
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
    assert rules[0]["selection"] == {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                     "countUnit": "days", "countNumber": 1}
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
        "vfp-test-input", "vfp-test-stage-1", "vfp-test-output")
    assert e["splitterFunctionName"] == "video-splitting"
    assert e["recognizerFunctionName"] == "face-recognition"
    assert e["splitterFunctionArn"] == program.function("video-splitting").state["arn"]
    assert e["recognizerFunctionArn"] == program.function("face-recognition").state["arn"]
    assert e["recognizerImageUri"] == program.one(T_IMAGE, "face-recognition-image").state["repoDigest"]
    assert e["splitterDeadLetterQueueUrl"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/video-splitting-dlq"
    assert e["recognizerDeadLetterQueueUrl"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/face-recognition-dlq"
    assert set(e) == {"architecture", "inputBucket", "stage1Bucket", "outputBucket", "splitterFunctionName",
                      "splitterFunctionArn", "recognizerFunctionName", "recognizerFunctionArn",
                      "recognizerImageUri", "splitterDeadLetterQueueUrl", "recognizerDeadLetterQueueUrl"}


# ---------------------------------------------------------------------------------------------
# The example stack files


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_example_stack_files_deploy_what_they_say(stack, base_config):
    with open(PROJECT_DIR / f"Pulumi.{stack}.yaml", encoding="utf-8") as fh:
        config = yaml.safe_load(fh)["config"]
    config[f"{PROJECT}:faceDatabase"] = base_config["faceDatabase"]  # the file itself may not exist here
    p = run_program(config, stack=stack)
    s = stack_settings.load_stack_file(PROJECT_DIR / f"Pulumi.{stack}.yaml",
                                       overrides={"faceDatabase": base_config["faceDatabase"]})
    assert p.settings == s
    assert {r.get("bucket") for r in p.of(T_BUCKET)} == {s.input_bucket, s.stage1_bucket, s.output_bucket}
    assert {r.get("name") for r in p.of(T_FUNCTION)} == {s.splitter.name, s.recognizer.name}
    assert len(p.of(T_NOTIFICATION)) == (1 if s.direct_invocation else 2)
    if stack == "prod":
        assert s.splitter.name == "prod-video-splitting" and s.direct_invocation
        assert p.function("prod-face-recognition").get("reservedConcurrentExecutions") == 10
        assert _statements(p, "prod-video-splitting")["InvokeNextStage"]["Resource"] == [
            p.function("prod-face-recognition").state["arn"]]
        assert {g.get("retentionInDays") for g in p.of(T_LOG_GROUP)} == {90}


# ---------------------------------------------------------------------------------------------
# Invalid config stops the program before it declares anything


@pytest.mark.parametrize("override, expected", [
    ({"architecture": "step-functions"}, ["architecture", "event-driven", "direct-invocation"]),
    ({"splitterMemory": "512"}, ["splitterMemory", "768..10240", "largest frame"]),
    ({"recognizerMemory": "20480"}, ["recognizerMemory", "768..10240"]),
    ({"recognizerTimeout": "901"}, ["recognizerTimeout", "1..900"]),
    ({"splitterEphemeralStorage": "256"}, ["splitterEphemeralStorage", "512..10240"]),
    ({"logRetentionDays": "10"}, ["logRetentionDays", "14", "3653"]),
    ({"maxRetryAttempts": "5"}, ["maxRetryAttempts", "0..2"]),
    ({"namePrefix": "Bad_Prefix"}, ["namePrefix", "a-z"]),
    ({"faceDatabase": "data/no-such-database.pt"}, ["faceDatabase", "does not exist"]),
])
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
    assert f"Pulumi.test.yaml: {PROJECT}:architecure is not a setting of this project; " \
           f"did you mean {PROJECT}:architecture?" in str(error)
    assert declared == 0


def test_missing_name_prefix_is_refused(base_config):
    config = {k: v for k, v in base_config.items() if k != "namePrefix"}
    error, declared = run_failing(config)
    assert "namePrefix: required" in str(error) and "pulumi config set namePrefix" in str(error)
    assert declared == 0


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
