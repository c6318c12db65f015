"""The stack's functions in moto's Lambda control plane, made as the Pulumi program makes them, so
GetFunction, ListFunctions, GetFunctionConfiguration, GetPolicy and the rest answer as for the deployed stack.

What is registered per function and what differs because nothing is built here (code, image, ffmpeg
layer, environment): docs/decisions/0004-local-lambda-emulation.md.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import packaging, policies, topology
from components.settings import StackSettings, function_lookups

# components/splitter.py publishes this layer for the splitter: `<function>-ffmpeg`, ffmpeg at /opt/bin/ffmpeg.
FFMPEG_LAYER_FUNCTIONS = (topology.SPLITTER,)
IMAGE_TAG = "latest"  # components/recognizer.py's IMAGE_TAG: the tag each push moves


@dataclass(frozen=True)
class Arns:
    """Where the stack's resources are, as ARNs, for one account and region."""

    account: str
    region: str

    def function(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"

    def role(self, name: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{name}"

    def bucket(self, name: str) -> str:
        return f"arn:aws:s3:::{name}"

    def queue(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{name}"

    def log_group(self, name: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{name}"


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def dead_letter_queue_name(function_name: str) -> str:
    return f"{function_name}-dlq"


def role_name(function_name: str) -> str:
    return f"{function_name}-role"[:64]  # IAM's limit; Pulumi auto-names the deployed role


def image_uri(settings: StackSettings, role: str, arns: Arns) -> str:
    """The recognizer's repository (components/recognizer.py names it `<namePrefix>/<function>`)."""
    name = settings.function(role).name.lower()
    return f"{arns.account}.dkr.ecr.{arns.region}.amazonaws.com/{settings.name_prefix}/{name}:{IMAGE_TAG}"


# The local stack makes no KMS key for the results topic (moto's topic is not encrypted): its role
# policy names this stand-in where the deployed one names the key.
LOCAL_RESULTS_KEY = "local-results-key"


def role_policy(role: str, settings: StackSettings, arns: Arns, results_key_arn: str | None = None) -> dict:
    """The function's execution policy, as components/function_parts.py writes it."""
    extra: list[dict] = []
    if role == topology.RECOGNIZER:  # the library (components/library_component.py: writer_statements)
        output = arns.bucket(settings.bucket(topology.OUTPUT))
        extra = policies.library_writer(
            library_bucket_arn=arns.bucket(settings.bucket(topology.LIBRARY)),
            table_arn=f"arn:aws:dynamodb:{arns.region}:{arns.account}:table/{settings.appearances_table}",
            topic_arn=f"arn:aws:sns:{arns.region}:{arns.account}:{settings.results_topic}",
            key_arn=results_key_arn or f"arn:aws:kms:{arns.region}:{arns.account}:key/{LOCAL_RESULTS_KEY}",
            timeline_objects=policies.objects(output, (".json",)) if settings.timeline else (),
        )
    name = settings.function(role).name
    read_bucket, read_suffixes = topology.FUNCTIONS[role].reads[settings.analysis]
    write_bucket, write_suffixes = topology.FUNCTIONS[role].writes[settings.analysis]
    callee = dict(topology.direct_invocations(settings.architecture, settings.analysis)).get(role)
    return policies.function_role(
        read_objects=policies.objects(arns.bucket(settings.bucket(read_bucket)), read_suffixes),
        write_objects=policies.objects(arns.bucket(settings.bucket(write_bucket)), write_suffixes),
        log_group_arn=arns.log_group(log_group_name(name)),
        dead_letter_queue_arn=arns.queue(dead_letter_queue_name(name)),
        invoke_function_arn=arns.function(settings.function(callee).name) if callee else None,
        lookup_objects=[
            f"{arns.bucket(settings.bucket(bucket))}/{key}" for bucket, key in function_lookups(role, settings)
        ],
        extra=extra,
    )


def function_request(
    role: str,
    settings: StackSettings,
    *,
    role_arn: str,
    environment: Mapping[str, str],
    code: dict,
    layers: list[str],
) -> dict:
    """CreateFunction's arguments for function `role`, from its row of topology.FUNCTIONS and the
    settings, as components/function_parts.py's lambda_function() passes them to aws.lambda_.Function."""
    facts, function = topology.FUNCTIONS[role], settings.function(role)
    request: dict = {
        "FunctionName": function.name,
        "Role": role_arn,
        "PackageType": facts.package,
        "Code": code,
        "MemorySize": function.memory_mb,
        "Timeout": function.timeout_s,
        "EphemeralStorage": {"Size": function.ephemeral_storage_mb},
        "Architectures": [topology.CPU_ARCHITECTURE],
        "Environment": {"Variables": dict(environment)},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": log_group_name(function.name)},
    }
    if facts.package == topology.ZIP:
        request.update(Runtime=topology.ZIP_RUNTIME, Handler=facts.handler)
    if layers:
        request["Layers"] = layers
    return request


def event_invoke_config(settings: StackSettings, dead_letter_queue_arn: str) -> dict:
    """PutFunctionEventInvokeConfig's arguments (components/function_parts.py's FunctionEventInvokeConfig)."""
    return {
        "MaximumRetryAttempts": settings.max_retry_attempts,
        "MaximumEventAgeInSeconds": settings.max_event_age_s,
        "DestinationConfig": {"OnFailure": {"Destination": dead_letter_queue_arn}},
    }


def _stand_in_layer(ffmpeg_path: str) -> bytes:
    note = (
        "Local stand-in for the ffmpeg layer (components/ffmpeg_layer.py: bin/ffmpeg, 80 MB, mounted at "
        f"/opt/bin/ffmpeg on Lambda). The local stack's workers run the same static build from {ffmpeg_path}.\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("LOCAL-STAND-IN.txt", date_time=packaging.FIXED_TIME), note)
    return buffer.getvalue()


def register(
    client: Callable[[str], Any],
    settings: StackSettings,
    arns: Arns,
    role: str,
    *,
    environment: Mapping[str, str],
    ffmpeg_path: str,
    code_dir: Path,
) -> str:
    """Create function `role` (its execution role and policy, its layer, its retries, destination and
    concurrency) in the control plane `client(service)` reaches; its ARN. The log groups are the
    caller's (local/logs.py); S3's permission to invoke comes with permit_s3()."""
    iam, lambda_ = client("iam"), client("lambda")
    name = settings.function(role).name
    role_arn = iam.create_role(
        RoleName=role_name(name),
        AssumeRolePolicyDocument=policies.to_json(policies.lambda_assume_role()),
        Description=f"Execution role of the {name} function",
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=role_name(name),
        PolicyName=f"{name}-access",
        PolicyDocument=policies.to_json(role_policy(role, settings, arns)),
    )
    layers = []
    if role in FFMPEG_LAYER_FUNCTIONS:
        layers.append(
            lambda_.publish_layer_version(
                LayerName=f"{name}-ffmpeg",
                Description=f"Static ffmpeg at /opt/bin/ffmpeg (local stand-in: the workers run {ffmpeg_path})",
                Content={"ZipFile": _stand_in_layer(ffmpeg_path)},
                CompatibleRuntimes=[topology.ZIP_RUNTIME],
                CompatibleArchitectures=[topology.CPU_ARCHITECTURE],
            )["LayerVersionArn"]
        )
    code: dict[str, str | bytes]
    if topology.FUNCTIONS[role].package == topology.ZIP:
        code = {"ZipFile": packaging.function_zip(role, out_dir=code_dir).read_bytes()}
    else:
        code = {"ImageUri": image_uri(settings, role, arns)}
    request = function_request(role, settings, role_arn=role_arn, environment=environment, code=code, layers=layers)
    function_arn: str = lambda_.create_function(**request)["FunctionArn"]
    lambda_.put_function_event_invoke_config(
        FunctionName=name, **event_invoke_config(settings, arns.queue(dead_letter_queue_name(name)))
    )
    reserved = settings.function(role).reserved_concurrency
    if reserved >= 0:  # -1 leaves it unreserved, as the Pulumi program does by not setting it
        lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    return function_arn


def permit_s3(client: Callable[[str], Any], settings: StackSettings, arns: Arns) -> None:
    """S3's permission to invoke each function it notifies (components/wiring.py's permissions)."""
    lambda_ = client("lambda")
    for trigger in topology.triggers(settings.architecture, settings.analysis):
        lambda_.add_permission(
            FunctionName=settings.function(trigger.function).name,
            StatementId=f"{trigger.bucket}-invokes-{trigger.function}",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=arns.bucket(settings.bucket(trigger.bucket)),
            SourceAccount=arns.account,
        )


def register_monitoring(
    client: Callable[[str], Any], settings: StackSettings, *, each: Callable[..., Iterable[Any]] = map
) -> str:
    """The stack's alarm topic, its alarms (components/alarms.py, the table the Pulumi program creates
    them from) and its dashboard, in the endpoint's SNS and CloudWatch: `describe-alarms` and
    `get-dashboard` answer as on AWS. Returns the alarm topic's ARN.

    The local CloudWatch does not evaluate the alarms; the end of a run does (local/alarms.py) and sets
    each alarm's state from it. The topic is not encrypted here (no KMS key is made) and nobody is
    subscribed to it. `each` (map, or an executor's) puts the alarms."""
    from components import alarms, dashboard

    topic_arn: str = client("sns").create_topic(Name=alarms.topic_name(settings))["TopicArn"]
    cloudwatch = client("cloudwatch")
    stack_alarms = alarms.alarms(settings)
    list(each(lambda alarm: cloudwatch.put_metric_alarm(**alarm.put_metric_alarm(topic_arn)), stack_alarms))
    described = cloudwatch.describe_alarms(AlarmNames=[a.name for a in stack_alarms])["MetricAlarms"]
    arn_of = {a["AlarmName"]: a["AlarmArn"] for a in described}  # in the table's order, however they were put
    body = dashboard.dashboard_body(settings, [arn_of[a.name] for a in stack_alarms])
    cloudwatch.put_dashboard(DashboardName=dashboard.dashboard_name(settings), DashboardBody=json.dumps(body))
    return topic_arn
