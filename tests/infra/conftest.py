"""The Pulumi mock harness: the real __main__.py run under `pulumi.runtime.set_mocks` with a monitor
that records every registration, and the fixtures the infra tests share.

No Pulumi CLI, no AWS: the mocks only fill in what AWS would compute (ARNs, URLs, the image
digest); everything the tests assert is what the program itself asked for. The archives are really
built (into a temporary folder) and the face database is a real file inside the project folder,
because the program checks both.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import runpy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pulumi
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import Stack

from components import packaging, topology
from components import settings as stack_settings
from components.project import PROJECT_DIR

MAIN = PROJECT_DIR / "__main__.py"
PROJECT = stack_settings.project_name()
ARCHITECTURES = topology.ARCHITECTURES

REGION = "us-east-1"
ACCOUNT = "123456789012"
ECR_PASSWORD = "ecr-password-that-must-stay-secret"
ARCHITECTURES = stack_settings.ARCHITECTURES

T_BUCKET = "aws:s3/bucket:Bucket"
T_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
T_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
T_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
T_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
T_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
T_BUCKET_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
T_POLICY = "aws:iam/policy:Policy"
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
T_KEY = "aws:kms/key:Key"
T_TOPIC = "aws:sns/topic:Topic"
T_TABLE = "aws:dynamodb/table:Table"
T_TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
T_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
T_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
T_DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
T_QUERY = "aws:cloudwatch/queryDefinition:QueryDefinition"
T_STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
OWNER = "test-owner@example.com"
COMPONENTS = {
    "videoface:index:PipelineBuckets",
    "videoface:index:SecureBucket",
    "videoface:index:VideoSplitter",
    "videoface:index:FaceRecognizer",
    "videoface:index:DeadLetterQueue",
    "videoface:index:EventWiring",
    "videoface:index:PipelineMonitoring",
    "videoface:index:PipelineLibrary",
}


# ---------------------------------------------------------------------------------------------
# The harness


class CloudMocks(pulumi.runtime.Mocks):
    """Echo each resource's inputs and add the attributes AWS computes, shaped as AWS shapes them."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):  # noqa: C901 - one branch per resource type
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
        elif typ == T_POLICY:
            rid = f"{name}-e5f6a7b"  # auto-named
            state.update(name=rid, arn=f"arn:aws:iam::{ACCOUNT}:policy/{rid}")
        elif typ == T_ROLE:
            rid = f"{name}-a1b2c3d"  # auto-named
            state.update(name=rid, arn=f"arn:aws:iam::{ACCOUNT}:role/{rid}")
        elif typ == T_REPOSITORY:
            rid = state["name"]
            state.update(
                registryId=ACCOUNT,
                arn=f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{rid}",
                repositoryUrl=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{rid}",
            )
        elif typ == T_KEY:
            rid = "1234abcd-12ab-34cd-56ef-1234567890ab"
            state.update(keyId=rid, arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{rid}")
        elif typ == T_TOPIC:
            state["arn"] = rid = f"arn:aws:sns:{REGION}:{ACCOUNT}:{state['name']}"
        elif typ == T_TABLE:
            rid = state["name"]
            state["arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{rid}"
        elif typ == T_ALARM:
            rid = state["name"]
            state["arn"] = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{rid}"
        elif typ == T_STATE_MACHINE:
            state["arn"] = rid = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{state['name']}"
        elif typ == T_DASHBOARD:
            rid = state["dashboardName"]
            state["dashboardArn"] = f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{rid}"
        elif typ == T_IMAGE:
            # A digest that changes with what was built, as a registry's would.
            build = json.dumps(state.get("build"), sort_keys=True, default=str)
            repo = state["imageName"].rsplit(":", 1)[0]
            state["repoDigest"] = f"{repo}@sha256:{hashlib.sha256(build.encode()).hexdigest()}"
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer",
                "userId": "AIDAEXAMPLE",
                "id": ACCOUNT,
            }
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            assert args.args.get("registryId") == ACCOUNT, args.args
            return {
                "userName": "AWS",
                "password": ECR_PASSWORD,
                "id": ACCOUNT,
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
                "authorizationToken": "QVdTOnNlY3JldA==",
                "expiresAt": "2030-01-01T00:00:00Z",
            }
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
    provider: str = ""  # an explicit provider's reference; "" for the default one (the stack file's config)

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
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=request.custom,
                dependencies=list(request.dependencies),
                inputs=rpc.deserialize_properties(request.object),
                provider=request.provider,
            )
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


def default_tags(stack: str) -> dict[str, str]:
    """What a stack file's aws:defaultTags holds (components/tags.py)."""
    return {"project": PROJECT, "stack": stack, "owner": OWNER}


def as_config(value) -> str | None:
    """A stack file's value as Pulumi hands it to the program: text, objects as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def base_provider_config(stack: str) -> dict[str, str]:
    return {"aws:region": REGION, "aws:defaultTags": json.dumps({"tags": default_tags(stack)})}


def config_keys(config: dict) -> dict[str, str | None]:
    return {k if ":" in k else f"{PROJECT}:{k}": as_config(v) for k, v in config.items()}


def run_program(
    config: dict[str, Any], *, stack: str = "test", preview: bool = False, mocks: pulumi.runtime.Mocks | None = None
) -> Program:
    """Execute __main__.py as `pulumi up` (or preview) would, with un-namespaced project `config`."""
    mocks = mocks or CloudMocks()
    monitor = RecordingMonitor(mocks)
    runtime_settings.ROOT.set(None)  # a fresh stack per run (as pulumi's reset_options() clears it)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    # Un-namespaced keys are the project's; a value None leaves a key out (aws:defaultTags too).
    all_config = {k: v for k, v in {**base_provider_config(stack), **config_keys(config)}.items() if v is not None}
    pulumi.runtime.set_all_config(all_config)
    exports: dict = {}

    def program():
        runpy.run_path(str(MAIN), run_name="__main__")  # a fresh module every time
        root = runtime_settings.get_root_resource()
        assert isinstance(root, Stack), root  # pulumi.runtime.test() ran the program in a stack of its own
        return pulumi.Output.from_input(root.outputs).apply(exports.update)

    pulumi.runtime.test(program)()
    for urn, res in monitor.registered.items():
        res.state = monitor.resources[urn].state
    expected = {k.split(":", 1)[1]: v for k, v in all_config.items() if k.startswith(PROJECT + ":")}
    settings = stack_settings.load(
        lambda key: expected.get(key),
        region=REGION,
        default_name_prefix=stack_settings.derived_name_prefix(PROJECT, stack, ACCOUNT),
    )
    return Program(list(monitor.registered.values()), exports, monitor.outputs_registered, settings)


def run_failing(config: dict[str, Any], *, stack: str = "test") -> tuple[pulumi.RunError, int]:
    """Run a config that must be refused; return the error and how many resources were declared."""
    mocks = CloudMocks()
    monitor = RecordingMonitor(mocks)
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=True, monitor=monitor)
    pulumi.runtime.set_all_config(
        {k: v for k, v in ({**base_provider_config(stack), **config_keys(config)}).items() if v is not None}
    )
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
    path = scratch_db()
    yield path.relative_to(PROJECT_DIR).as_posix()
    path.unlink()


def scratch_db() -> Path:
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


@pytest.fixture(scope="module", params=ARCHITECTURES)
def live(request, build_dir) -> Program:
    """faceDatabase: live, in either wiring: no database file is named (nor needed)."""
    return run_program(
        {
            "namePrefix": "vfp-test",
            "faceDatabase": "live",
            "faceDatabaseHistoryDays": "3",
            "architecture": request.param,
        }
    )


@pytest.fixture(scope="module", params=ARCHITECTURES)
def timeline(request, base_config) -> Program:
    """analysis: timeline, in either wiring."""
    return run_program(
        {**base_config, "architecture": request.param, "analysis": "timeline", "sampleFps": "2", "maxFrames": "30"}
    )


@pytest.fixture(scope="module")
def event_driven(base_config) -> Program:
    return run_program({**base_config, "architecture": topology.EVENT_DRIVEN})


@pytest.fixture(scope="module")
def direct(base_config) -> Program:
    return run_program({**base_config, "architecture": topology.DIRECT_INVOCATION})


# ---------------------------------------------------------------------------------------------
# A Lambda's packages and nothing else: for running shipped code in an isolated interpreter


def closure(requirements: list[str]) -> set[str]:
    """Installed distributions the requirements need, their dependencies included (markers evaluated)."""
    seen: set[str] = set()
    todo: list[tuple[Requirement, set[str]]] = [(Requirement(r), set()) for r in requirements]
    while todo:
        req, _ = todo.pop()
        name = canonicalize_name(req.name)
        dist = md.distribution(name)  # raises if a needed distribution is not installed
        key = name + "[" + ",".join(sorted(req.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        for dep in dist.requires or []:
            dep_req = Requirement(dep)
            extras = [""] + sorted(req.extras)
            if dep_req.marker is None or any(dep_req.marker.evaluate({"extra": e}) for e in extras):
                todo.append((dep_req, set()))
    return {k.split("[")[0] for k in seen}


def restricted_site(target: Path, requirements: list[str], no_deps: list[str] = ()) -> Path:  # type: ignore[assignment]
    """A site-packages folder holding only the distributions `requirements` need (symlinked from this
    venv's), plus `no_deps` without their dependencies (`pip install --no-deps`): what a Lambda image
    or runtime would have, and nothing else. An interpreter run with `-S -s` and PYTHONPATH naming
    only this folder sees no other third-party package (nor the project's editable install)."""
    needed = closure(requirements) | {canonicalize_name(Requirement(r).name) for r in no_deps}
    target.mkdir()
    for name in sorted(needed):
        dist = md.distribution(name)
        for top in {PurePosixPath(str(f)).parts[0] for f in dist.files or []}:
            if top == ".." or (target / top).exists():
                continue
            source = Path(str(dist.locate_file(top)))  # typed as a SimplePath; a pathlib.Path here
            if source.exists():
                (target / top).symlink_to(source)
    return target
