"""The library's AWS resources (face_recognizer.library): the private, versioned `<namePrefix>-library`
bucket of stored face embeddings, the appearances table and the KMS-encrypted results topic, from
the plain data in components/library.py (which the local stack builds from too)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import library, policies, topology
from components.buckets import SecureBucket, SecureBucketArgs
from components.settings import StackSettings


@dataclass
class PipelineLibraryArgs:
    settings: StackSettings


class PipelineLibrary(pulumi.ComponentResource):
    def __init__(self, name: str, args: PipelineLibraryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:PipelineLibrary", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        self.settings = s
        self.bucket = SecureBucket(
            f"{name}-bucket",
            SecureBucketArgs(s.bucket(topology.LIBRARY), library.LIBRARY_HISTORY_DAYS, conditional_writes_only=False),
            child,
        )
        table = library.table_arguments(s)
        self.table = aws.dynamodb.Table(
            f"{name}-appearances",
            name=table["TableName"],
            billing_mode=table["BillingMode"],
            hash_key=library.PARTITION_KEY,
            range_key=library.SORT_KEY,
            attributes=[
                {"name": a["AttributeName"], "type": a["AttributeType"]} for a in table["AttributeDefinitions"]
            ],
            server_side_encryption={"enabled": True},
            point_in_time_recovery={"enabled": True},
            deletion_protection_enabled=table["DeletionProtectionEnabled"],
            opts=child,
        )
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        self.key = aws.kms.Key(
            f"{name}-results-key",
            description=f"Encrypts the results topic {s.results_topic}",
            enable_key_rotation=True,
            deletion_window_in_days=7,
            policy=account_id.apply(
                lambda account: policies.to_json(policies.results_topic_key(account_id=account, region=s.region))
            ),
            opts=child,
        )
        self.topic = aws.sns.Topic(f"{name}-results", name=s.results_topic, kms_master_key_id=self.key.arn, opts=child)
        self.register_outputs(
            {
                library.OUTPUT_TABLE: self.table.name,
                library.OUTPUT_TOPIC: self.topic.arn,
                library.OUTPUT_BUCKET: self.bucket.bucket_name,
            }
        )

    def writer_statements(self, output_bucket_arn: pulumi.Input[str]) -> pulumi.Output[list]:
        """The recognizer's grants on the library (policies.library_writer)."""
        timeline = self.settings.timeline
        return pulumi.Output.all(
            self.bucket.arn, self.table.arn, self.topic.arn, self.key.arn, output_bucket_arn
        ).apply(
            lambda v: policies.library_writer(
                library_bucket_arn=v[0],
                table_arn=v[1],
                topic_arn=v[2],
                key_arn=v[3],
                timeline_objects=policies.objects(v[4], (".json",)) if timeline else (),
            )
        )
