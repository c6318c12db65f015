"""The pipeline's buckets, each private, encrypted at rest and reachable over TLS only: input,
stage-1 and output, the versioned library (face thumbnails and boxes), and with faceDatabase: live
the versioned faces bucket, with the managed policy
that lets a person or CI role enrol faces there."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import policies, topology


@dataclass
class SecureBucketArgs:
    bucket_name: str  # exact: the functions and the course grader look buckets up by name
    # Versioned, each old version deleted this many days after a newer one replaced it, and only
    # conditional writes accepted (the faces bucket); None: unversioned, as the pipeline's buckets.
    noncurrent_version_days: int | None = None
    # A versioned bucket refuses unconditional writes (the faces bucket) unless this is False (the
    # library, which the recognizer overwrites as any retried answer does).
    conditional_writes_only: bool = True


class SecureBucket(pulumi.ComponentResource):
    """An S3 bucket with public access blocked, SSE-S3 default encryption and a TLS-only policy;
    optionally versioned with a lifecycle for its old versions.

    SSE-S3 rather than KMS: nothing to grant on a key, no per-request KMS cost, and the objects
    (frames, names, the face database) are encrypted at rest either way.
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
        versioned = args.noncurrent_version_days is not None
        conditional = versioned and args.conditional_writes_only
        self.policy = aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(
                lambda arn: policies.to_json(policies.tls_only_bucket(arn, conditional_writes_only=conditional))
            ),
            # S3 refuses a policy while the public access block is being changed; order them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )
        self.versioning: aws.s3.BucketVersioning | None = None
        self.lifecycle: aws.s3.BucketLifecycleConfiguration | None = None
        if args.noncurrent_version_days is not None:
            self.versioning = aws.s3.BucketVersioning(
                f"{name}-versioning", bucket=self.bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
            )
            self.lifecycle = aws.s3.BucketLifecycleConfiguration(
                f"{name}-lifecycle",
                bucket=self.bucket.id,
                rules=[
                    {
                        "id": "expire-old-versions",
                        "status": "Enabled",
                        "filter": {},  # every object
                        "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
                        # A delete marker left with no versions behind it (everyone removed, history expired).
                        "expiration": {"expired_object_delete_marker": True},
                        "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                    }
                ],
                # S3 requires versioning to be set before a rule about noncurrent versions.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
            )

        self.bucket_name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "arn": self.arn})


@dataclass
class PipelineBucketsArgs:
    input_bucket: str
    stage1_bucket: str
    output_bucket: str
    faces_bucket: str | None = None  # faceDatabase: live
    faces_history_days: int = 1  # how long an old version of the face database is kept
    library_bucket: str | None = None  # `<prefix>-library`: face thumbnails and boxes (topology.LIBRARY)
    library_history_days: int = 1  # how long a replaced thumbnail or faces.json is kept


class PipelineBuckets(pulumi.ComponentResource):
    """`<prefix>-input` (videos), `<prefix>-stage-1` (frames), `<prefix>-output` (names)."""

    def __init__(self, name: str, args: PipelineBucketsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:PipelineBuckets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.input = SecureBucket(f"{name}-input", SecureBucketArgs(args.input_bucket), child)
        self.stage1 = SecureBucket(f"{name}-stage-1", SecureBucketArgs(args.stage1_bucket), child)
        self.output = SecureBucket(f"{name}-output", SecureBucketArgs(args.output_bucket), child)
        self.faces: SecureBucket | None = None
        self.library: SecureBucket | None = None
        self.enrol_policy: aws.iam.Policy | None = None
        outputs: dict[str, pulumi.Input[str]] = {
            "input": self.input.bucket_name,
            "stage1": self.stage1.bucket_name,
            "output": self.output.bucket_name,
        }
        if args.library_bucket is not None:
            self.library = SecureBucket(
                f"{name}-library",
                SecureBucketArgs(args.library_bucket, args.library_history_days, conditional_writes_only=False),
                child,
            )
            outputs["library"] = self.library.bucket_name
        if args.faces_bucket is not None:
            self.faces = SecureBucket(
                f"{name}-faces", SecureBucketArgs(args.faces_bucket, args.faces_history_days), child
            )
            self.enrol_policy = aws.iam.Policy(
                f"{name}-faces-enrol",  # auto-named: policy names are unique per account
                description=f"Enrol, remove and list faces in the live database of {args.faces_bucket} (tools.enroll)",
                policy=self.faces.arn.apply(
                    lambda arn: policies.to_json(policies.face_enrolment(arn, topology.FACES_OBJECT))
                ),
                opts=child,
            )
            outputs.update(faces=self.faces.bucket_name, enrolPolicyArn=self.enrol_policy.arn)
        self.register_outputs(outputs)

    def by_role(self) -> dict[str, SecureBucket]:
        """Buckets by their logical names in components.topology."""
        buckets = {topology.INPUT: self.input, topology.STAGE1: self.stage1, topology.OUTPUT: self.output}
        if self.faces is not None:
            buckets[topology.FACES] = self.faces
        if self.library is not None:
            buckets[topology.LIBRARY] = self.library
        return buckets
