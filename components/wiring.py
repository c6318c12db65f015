"""S3 notifications and the Lambda permissions they need, rendered from components.topology."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import topology
from components.buckets import SecureBucket

S3_PRINCIPAL = "s3.amazonaws.com"


@dataclass
class EventWiringArgs:
    architecture: str
    buckets: Mapping[str, SecureBucket]  # by topology bucket name
    functions: Mapping[str, aws.lambda_.Function]  # by topology function name
    analysis: str = topology.FIRST_FRAME  # which objects stage-1 notifies of (topology.FUNCTIONS' reads)


class EventWiring(pulumi.ComponentResource):
    """One notification per notifying bucket, each after the permission that lets S3 invoke its target.

    Event-driven: input (videos) → splitter, stage-1 (frames) → recognizer. Direct invocation: input
    only; stage-1 notifies nothing. The output bucket never notifies.
    """

    def __init__(self, name: str, args: EventWiringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:EventWiring", name, None, opts)
        # With a live database its bucket notifies the recognizer of each change (a relabel).
        plan = topology.triggers(args.architecture, args.analysis) + topology.database_triggers(
            topology.FACES in args.buckets
        )
        # Scoping each permission to the bucket's ARN *and* the account stops another account's
        # bucket that later takes the same name from invoking the function.
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id

        self.permissions: dict[tuple[str, str], aws.lambda_.Permission] = {}
        self.notifications: dict[str, aws.s3.BucketNotification] = {}
        for bucket_role in dict.fromkeys(t.bucket for t in plan):  # in plan order, once each
            bucket = args.buckets[bucket_role]
            mine = [t for t in plan if t.bucket == bucket_role]
            permissions = []
            for target in dict.fromkeys(t.function for t in mine):
                permission = aws.lambda_.Permission(
                    f"{name}-{bucket_role}-invokes-{target}",
                    action="lambda:InvokeFunction",
                    function=args.functions[target].name,
                    principal=S3_PRINCIPAL,
                    source_arn=bucket.arn,
                    source_account=account_id,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                self.permissions[(bucket_role, target)] = permission
                permissions.append(permission)
            self.notifications[bucket_role] = aws.s3.BucketNotification(
                f"{name}-{bucket_role}-notifications",
                bucket=bucket.bucket.id,
                lambda_functions=[
                    _lambda_rule(args.functions[t.function].arn, t.events, suffix)
                    for t in mine
                    for suffix in t.filters()
                ],
                # S3 checks it may invoke the function when the notification is saved.
                opts=pulumi.ResourceOptions(parent=self, depends_on=permissions),
            )
        self.register_outputs({})


def _lambda_rule(
    function_arn: pulumi.Input[str], events: tuple[str, ...], suffix: str | None
) -> aws.s3.BucketNotificationLambdaFunctionArgsDict:
    """One notification rule: `events` invoke the function, for keys ending in `suffix` (None: every key)."""
    rule: aws.s3.BucketNotificationLambdaFunctionArgsDict = {
        "lambda_function_arn": function_arn,
        "events": list(events),
    }
    if suffix:
        rule["filter_suffix"] = suffix
    return rule
