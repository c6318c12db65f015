"""The local stack registers each function in Lambda's control plane as the Pulumi program creates
it, and writes the outputs the program exports: local/control_plane.py and tools/target.py held
against the real __main__.py under Pulumi's mocks, in both wirings and with every size changed."""

from __future__ import annotations

import json

import pytest

from components import policies, topology
from components.settings import function_environment
from local import control_plane
from tests.infra.conftest import (
    ACCOUNT,
    REGION,
    T_INVOKE_CONFIG,
    T_LAYER,
    T_LOG_GROUP,
    T_PERMISSION,
    T_QUEUE,
    T_REPOSITORY,
    T_ROLE,
    T_ROLE_POLICY,
    run_program,
)
from tools import target

ARNS = control_plane.Arns(ACCOUNT, REGION)
SIZED = {
    "splitterMemory": "1769",
    "splitterTimeout": "45",
    "splitterEphemeralStorage": "1024",
    "recognizerMemory": "3008",
    "recognizerReservedConcurrency": "7",
    "logRetentionDays": "30",
    "maxRetryAttempts": "1",
    "maxEventAgeSeconds": "600",
}


@pytest.fixture(scope="module", params=[(a, sized) for a in topology.ARCHITECTURES for sized in (False, True)])
def deployed(request, base_config):
    architecture, sized = request.param
    return run_program({**base_config, "architecture": architecture, **(SIZED if sized else {})})


@pytest.fixture(scope="module", params=topology.ARCHITECTURES)
def deployed_live(request, base_config):
    """With the face database live: the recognizer also reads that one object."""
    return run_program({**base_config, "architecture": request.param, "faceDatabase": "live"})


def test_each_function_is_registered_with_what_the_program_gives_it(deployed):
    s = deployed.settings
    for role, facts in topology.FUNCTIONS.items():
        name = s.function(role).name
        fn = deployed.function(name)
        layers = [r.state["arn"] for r in deployed.of(T_LAYER) if r.get("layerName") == f"{name}-ffmpeg"]
        assert (role in control_plane.FFMPEG_LAYER_FUNCTIONS) == bool(layers)
        request = control_plane.function_request(
            role, s, role_arn="(role)", environment=function_environment(role, s), code={}, layers=layers
        )
        assert request["FunctionName"] == fn.get("name") == name
        assert request["PackageType"] == fn.get("packageType") == facts.package
        assert request.get("Handler") == fn.get("handler") and request.get("Runtime") == fn.get("runtime")
        assert request["MemorySize"] == fn.get("memorySize")
        assert request["Timeout"] == fn.get("timeout")
        assert request["EphemeralStorage"] == {"Size": fn.get("ephemeralStorage")["size"]}
        assert request["Architectures"] == fn.get("architectures")
        assert request["Environment"] == {"Variables": fn.get("environment")["variables"]}
        assert request.get("Layers", []) == (fn.get("layers") or [])
        assert request["LoggingConfig"] == {
            "LogFormat": fn.get("loggingConfig")["logFormat"],
            "LogGroup": fn.get("loggingConfig")["logGroup"],
        }
        reserved = fn.get("reservedConcurrentExecutions")
        assert (reserved if reserved is not None else -1) == s.function(role).reserved_concurrency


@pytest.fixture(params=["baked", "live"])
def either(request, deployed, deployed_live):
    return deployed if request.param == "baked" else deployed_live


def test_each_role_gets_the_programs_policy_on_the_same_arns(either):
    deployed = either
    s = deployed.settings
    for role in topology.FUNCTIONS:
        name = s.function(role).name
        role_policy = deployed.one(T_ROLE_POLICY, f"{name}-access")
        (program_role,) = [r for r in deployed.of(T_ROLE) if r.state["name"] == role_policy.get("role")]
        assert json.loads(program_role.get("assumeRolePolicy")) == policies.lambda_assume_role()
        assert control_plane.role_policy(role, s, ARNS) == deployed.policy(role_policy)
        group = deployed.by_input(T_LOG_GROUP, "name", control_plane.log_group_name(name))
        assert group.state["arn"] == ARNS.log_group(control_plane.log_group_name(name))
        queue = deployed.by_input(T_QUEUE, "name", control_plane.dead_letter_queue_name(name))
        config = deployed.by_input(T_INVOKE_CONFIG, "functionName", name)
        assert control_plane.event_invoke_config(s, queue.state["arn"]) == {
            "MaximumRetryAttempts": config.get("maximumRetryAttempts"),
            "MaximumEventAgeInSeconds": config.get("maximumEventAgeInSeconds"),
            "DestinationConfig": {
                "OnFailure": {"Destination": config.get("destinationConfig")["onFailure"]["destination"]}
            },
        }


def test_the_image_uri_names_the_programs_repository(deployed):
    s = deployed.settings
    repository = deployed.one(T_REPOSITORY, "face-recognition-repo").state["repositoryUrl"]
    assert control_plane.image_uri(s, topology.RECOGNIZER, ARNS) == f"{repository}:{control_plane.IMAGE_TAG}"


def test_s3_may_invoke_what_the_program_lets_it(deployed):
    s = deployed.settings
    granted = {(p.get("function"), p.get("sourceArn"), p.get("principal")) for p in deployed.of(T_PERMISSION)}
    expected = {
        (s.function(t.function).name, ARNS.bucket(s.bucket(t.bucket)), "s3.amazonaws.com")
        for t in topology.triggers(s.architecture)
    }
    assert {(f, a, p) for f, a, p in granted} == expected


def test_the_local_outputs_are_the_programs_exports(deployed):
    assert set(deployed.exports) == set(target.PULUMI_OUTPUTS)
    resolved = target.from_outputs(deployed.exports, "pulumi stack output")
    s = deployed.settings
    assert (resolved.buckets.input, resolved.buckets.stage1, resolved.buckets.output) == (
        s.input_bucket,
        s.stage1_bucket,
        s.output_bucket,
    )
    assert resolved.region == REGION and resolved.endpoint_url is None
    assert resolved.functions == {"splitter": s.splitter.name, "recognizer": s.recognizer.name}
    assert resolved.dead_letter_queues == {
        "splitter": deployed.exports["splitterDeadLetterQueueUrl"],
        "recognizer": deployed.exports["recognizerDeadLetterQueueUrl"],
    }
