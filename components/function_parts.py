"""What every pipeline function needs around it: its log group, dead-letter queue, role and
asynchronous-invocation settings. Both function components build these the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from components import policies, topology
from components.settings import FunctionSettings, StackSettings

# Lambda keeps a failed event's record here; SQS holds messages at most 14 days.
DLQ_RETENTION_S = 14 * 24 * 3600


@dataclass
class DeadLetterQueueArgs:
    queue_name: str


class DeadLetterQueue(pulumi.ComponentResource):
    """An SQS queue for one function's asynchronous events that ran out of retries or age.

    One queue per function, so a message's queue says which stage failed and each role can send to
    its own queue only. SSE-SQS encryption needs no key grants; messages keep 14 days (the most SQS
    allows) for someone to look at and replay them. It is the end of the line: no redrive.
    """

    def __init__(self, name: str, args: DeadLetterQueueArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:DeadLetterQueue", name, None, opts)
        self.queue = aws.sqs.Queue(
            name,
            name=args.queue_name,
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DLQ_RETENTION_S,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.queue.arn
        self.url = self.queue.url
        self.register_outputs({"arn": self.arn, "url": self.url})


@dataclass
class FunctionParts:
    log_group: aws.cloudwatch.LogGroup
    dead_letter_queue: DeadLetterQueue
    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy


def function_parts(
    parent: pulumi.Resource,
    name: str,
    role: str,
    settings: StackSettings,
    *,
    bucket_arns: Mapping[str, pulumi.Input[str]],
    invoke_function_arn: pulumi.Input[str] | None = None,
) -> FunctionParts:
    """Log group, dead-letter queue, and a role allowed exactly what the function does: read the
    objects its row of topology.FUNCTIONS says it reads (and the single objects it looks up), write
    what it says it writes.
    `bucket_arns` maps topology bucket names to ARNs; a bucket the table names but the caller did
    not pass is a KeyError here, at preview."""
    function = settings.function(role)
    read_bucket, read_suffixes = topology.FUNCTIONS[role].reads[settings.analysis]
    write_bucket, write_suffixes = topology.FUNCTIONS[role].writes[settings.analysis]
    read_objects = _objects(bucket_arns[read_bucket], read_suffixes)
    write_objects = _objects(bucket_arns[write_bucket], write_suffixes)
    lookups = [
        pulumi.Output.concat(bucket_arns[bucket], "/", key)
        for bucket, key in topology.FUNCTIONS[role].looks_up(settings)
    ]
    library = topology.FUNCTIONS[role].library_writes
    library_objects = (
        pulumi.Output.from_input(bucket_arns[topology.LIBRARY]).apply(lambda arn: [f"{arn}/{p}" for p in library])
        if library
        else pulumi.Output.from_input([])
    )
    child = pulumi.ResourceOptions(parent=parent)
    # Created before the function, so Lambda never makes an unmanaged one without retention.
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-logs", name=function.log_group_name, retention_in_days=settings.log_retention_days, opts=child
    )
    dlq = DeadLetterQueue(f"{name}-dlq", DeadLetterQueueArgs(function.dead_letter_queue_name), child)
    execution_role = aws.iam.Role(
        f"{name}-role",  # auto-named: a function name plus a suffix can exceed IAM's 64 characters
        assume_role_policy=policies.to_json(policies.lambda_assume_role()),
        description=f"Execution role of the {function.name} function",
        opts=child,
    )
    policy = pulumi.Output.all(
        read_objects,
        write_objects,
        log_group.arn,
        dlq.arn,
        invoke_function_arn,
        pulumi.Output.all(*lookups),
        library_objects,
    ).apply(
        lambda v: policies.to_json(
            policies.function_role(
                read_objects=v[0],
                write_objects=v[1],
                log_group_arn=v[2],
                dead_letter_queue_arn=v[3],
                invoke_function_arn=v[4],
                lookup_objects=v[5],
                library_objects=v[6],
            )
        )
    )
    role_policy = aws.iam.RolePolicy(f"{name}-access", role=execution_role.id, policy=policy, opts=child)
    return FunctionParts(log_group, dlq, execution_role, role_policy)


def _objects(bucket_arn: pulumi.Input[str], suffixes) -> pulumi.Output[list]:
    return pulumi.Output.from_input(bucket_arn).apply(lambda arn: policies.objects(arn, suffixes))


def lambda_function(
    parent: pulumi.Resource, name: str, role: str, settings: StackSettings, parts: FunctionParts, **package: Any
) -> tuple[aws.lambda_.Function, aws.lambda_.FunctionEventInvokeConfig]:
    """Function `role` of topology.FUNCTIONS as its row describes it (package type, handler,
    environment), with its role and log group, its size from the settings, and asynchronous-
    invocation settings (bounded retries and event age, then the dead-letter queue). `package` is
    what was built for it: `code` and `layers` for a zip, `image_uri` for an image."""
    facts, function = topology.FUNCTIONS[role], settings.function(role)
    if facts.package == topology.ZIP:
        package.update(runtime=topology.ZIP_RUNTIME, handler=facts.handler)
    lambda_ = aws.lambda_.Function(
        name,
        role=parts.role.arn,
        package_type=facts.package,
        environment={"variables": topology.environment(role, settings)},
        # Our handlers already write one JSON object per line; Lambda passes text lines through.
        logging_config={"log_format": "Text", "log_group": parts.log_group.name},
        **_sizing(function),
        **package,
        # The role must allow logging and the dead-letter queue before the first invocation.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[parts.log_group, parts.role_policy]),
    )
    invoke_config = aws.lambda_.FunctionEventInvokeConfig(
        f"{name}-async",
        function_name=lambda_.name,
        maximum_retry_attempts=settings.max_retry_attempts,
        maximum_event_age_in_seconds=settings.max_event_age_s,
        destination_config={"on_failure": {"destination": parts.dead_letter_queue.arn}},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[parts.role_policy]),
    )
    return lambda_, invoke_config


class _Sizing(TypedDict):
    """aws.lambda_.Function's arguments that come straight from the stack settings: typed, so that
    mypy checks each key against Function's parameters where they are passed on."""

    name: str
    memory_size: int
    timeout: int
    ephemeral_storage: aws.lambda_.FunctionEphemeralStorageArgsDict
    reserved_concurrent_executions: int | None
    architectures: list[str]


def _sizing(function: FunctionSettings) -> _Sizing:
    """Function arguments that come straight from the stack settings."""
    return _Sizing(
        name=function.name,
        memory_size=function.memory_mb,
        timeout=function.timeout_s,
        ephemeral_storage={"size": function.ephemeral_storage_mb},
        # -1 in the settings means "unreserved"; leaving it unset says the same to Lambda.
        reserved_concurrent_executions=None if function.reserved_concurrency < 0 else function.reserved_concurrency,
        architectures=[topology.CPU_ARCHITECTURE],
    )


class FunctionComponent(pulumi.ComponentResource):
    """What every function component offers the program and registers as its outputs: its
    function's name and ARN and its dead-letter queue's URL, with outputs of its own."""

    parts: FunctionParts
    function: aws.lambda_.Function
    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]

    def expose(self, function: aws.lambda_.Function, parts: FunctionParts, **extra: pulumi.Input[str]) -> None:
        self.parts, self.function = parts, function
        self.function_name = function.name
        self.function_arn = function.arn
        self.dead_letter_queue_url = parts.dead_letter_queue.url
        self.register_outputs(
            {
                "functionName": self.function_name,
                "functionArn": self.function_arn,
                "deadLetterQueueUrl": self.dead_letter_queue_url,
                **extra,
            }
        )
