"""The pipeline's three buckets, each private, encrypted at rest and reachable over TLS only."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import policies, topology


@dataclass
class SecureBucketArgs:
    bucket_name: str  # exact: the functions and the course grader look buckets up by name


class SecureBucket(pulumi.ComponentResource):
    """An S3 bucket with public access blocked, SSE-S3 default encryption and a TLS-only policy.

    SSE-S3 rather than KMS: nothing to grant on a key, no per-request KMS cost, and the objects
    (frames, names) are encrypted at rest either way.
    """

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.bucket = aws.s3.Bucket(name, bucket=args.bucket_name, opts=child)
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},  # ACLs off: the policy alone decides
            opts=child,
        )
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        self.policy = aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(lambda arn: policies.to_json(policies.tls_only_bucket(arn))),
            # S3 refuses a policy while the public access block is being changed; order them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )

        self.bucket_name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "arn": self.arn})


@dataclass
class PipelineBucketsArgs:
    input_bucket: str
    stage1_bucket: str
    output_bucket: str


class PipelineBuckets(pulumi.ComponentResource):
    """`<prefix>-input` (videos), `<prefix>-stage-1` (frames), `<prefix>-output` (names)."""

    def __init__(self, name: str, args: PipelineBucketsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:PipelineBuckets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.input = SecureBucket(f"{name}-input", SecureBucketArgs(args.input_bucket), child)
        self.stage1 = SecureBucket(f"{name}-stage-1", SecureBucketArgs(args.stage1_bucket), child)
        self.output = SecureBucket(f"{name}-output", SecureBucketArgs(args.output_bucket), child)
        self.register_outputs(
            {
                "input": self.input.bucket_name,
                "stage1": self.stage1.bucket_name,
                "output": self.output.bucket_name,
            }
        )

    def by_role(self) -> dict[str, SecureBucket]:
        """Buckets by their logical names in components.topology."""
        return {topology.INPUT: self.input, topology.STAGE1: self.stage1, topology.OUTPUT: self.output}
