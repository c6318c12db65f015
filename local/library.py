"""The library's resources on the embedded stack, as components/library.py declares them on AWS:
the versioned library bucket, the stage-1 expiry rule, the appearances table (moto's DynamoDB) and
the results topic (moto's SNS, which delivers to SQS subscriptions itself). moto keeps the
lifecycle rules but never runs them; the topic is not KMS-encrypted here (no key is made)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components import library as spec
from components import topology
from components.settings import StackSettings


def create(client: Callable[[str], Any], s: StackSettings) -> str:
    """Make them (the buckets exist already); the results topic's ARN."""
    s3 = client("s3")
    library_bucket = s.bucket(topology.LIBRARY)
    s3.put_bucket_versioning(Bucket=library_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket=library_bucket, LifecycleConfiguration={"Rules": [spec.library_lifecycle_rule(s, boto=True)]}
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=s.stage1_bucket, LifecycleConfiguration={"Rules": [spec.stage1_lifecycle_rule(s, boto=True)]}
    )
    dynamodb = client("dynamodb")
    dynamodb.create_table(**spec.table_arguments(s))
    dynamodb.update_continuous_backups(
        TableName=s.appearances_table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    return str(client("sns").create_topic(Name=s.results_topic)["TopicArn"])


def outputs(s: StackSettings, topic_arn: str) -> dict[str, str]:
    """The stack outputs the Pulumi program exports for the library (tools/library_target.py reads them)."""
    return {
        spec.OUTPUT_TABLE: s.appearances_table,
        spec.OUTPUT_TOPIC: topic_arn,
        spec.OUTPUT_BUCKET: s.bucket(topology.LIBRARY),
    }
