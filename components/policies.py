"""IAM and resource policy documents, as plain dicts built from plain strings.

Kept apart from the components so tests can read the exact documents, and so least privilege is
visible in one place: every Allow names exact actions on exact resources (object ARNs are limited to
one bucket and to the suffix the function reads or writes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

VERSION = "2012-10-17"


def document(*statements: dict) -> dict:
    return {"Version": VERSION, "Statement": list(statements)}


def to_json(doc: dict) -> str:
    return json.dumps(doc, sort_keys=True)


def allow(sid: str, actions: Sequence[str], resources: Iterable[str]) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


def objects(bucket_arn: str, suffixes: Iterable[str]) -> list[str]:
    """Object ARNs in one bucket whose keys end with one of `suffixes`; every object of the bucket
    when there are none (topology.EVERY_OBJECT: IAM's patterns are case-sensitive too)."""
    return [f"{bucket_arn}/*{suffix}" for suffix in suffixes] or [f"{bucket_arn}/*"]


def log_streams(log_group_arn: str) -> list[str]:
    # CreateLogStream and PutLogEvents act on the group's streams, `<group arn>:log-stream:<name>`.
    return [f"{log_group_arn}:*"]


def lambda_assume_role() -> dict:
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )


def function_role(
    *,
    read_objects: Sequence[str],
    write_objects: Sequence[str],
    log_group_arn: str,
    dead_letter_queue_arn: str,
    invoke_function_arn: str | None = None,
    lookup_objects: Sequence[str] = (),
    extra: Sequence[dict] = (),
) -> dict:
    """A pipeline function's execution policy.

    Reads its input objects, writes its output objects, writes its own log streams, sends failed
    asynchronous events to its dead-letter queue (Lambda's on-failure destination uses the
    function's role), in direct-invocation wiring invokes that one function, and reads (GET and
    HEAD, both s3:GetObject) each single object it looks up by name (the live face database).
    """
    statements = [
        allow("ReadInput", ["s3:GetObject"], read_objects),
        allow("WriteOutput", ["s3:PutObject"], write_objects),
        allow("WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], log_streams(log_group_arn)),
        allow("SendFailedEvents", ["sqs:SendMessage"], [dead_letter_queue_arn]),
    ]
    if lookup_objects:
        statements.append(allow("ReadLookups", ["s3:GetObject"], lookup_objects))
    if invoke_function_arn is not None:
        statements.append(allow("InvokeNextStage", ["lambda:InvokeFunction"], [invoke_function_arn]))
    return document(*statements, *extra)


def library_writer(
    *,
    library_bucket_arn: str,
    table_arn: str,
    topic_arn: str,
    key_arn: str,
    timeline_objects: Sequence[str] = (),
) -> list[dict]:
    """What the recognizer needs for the library (face_recognizer.library, relabel): read and write
    each video's faces.json, write its report.json and thumbnails (and a timeline segment's crops,
    which the merge copies and deletes), list them (a relabel reads every one), read and replace its appearances
    items, publish to the results topic (and use that topic's key, as SNS asks of a publisher to an
    encrypted topic), and in timeline mode read back a timeline it relabels."""
    statements = [
        allow("LibraryFaces", ["s3:GetObject", "s3:PutObject"], objects(library_bucket_arn, ("/faces.json",))),
        allow("ListLibrary", ["s3:ListBucket"], [library_bucket_arn]),
        # The HTML report's (face_recognizer.thumbnails): report.json, and the JPEGs (thumb-<n>.jpg, and a
        # timeline segment's crops/<segment>-<k>.jpg, which the merge copies from and then deletes).
        allow("LibraryReport", ["s3:PutObject"], objects(library_bucket_arn, ("/report.json",))),
        allow(
            "LibraryThumbnails",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            objects(library_bucket_arn, (".jpg",)),
        ),
        allow("IndexAppearances", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"], [table_arn]),
        allow("PublishResults", ["sns:Publish"], [topic_arn]),
        allow("EncryptResults", ["kms:GenerateDataKey", "kms:Decrypt"], [key_arn]),
    ]
    if timeline_objects:
        statements.append(allow("ReadTimelinesToRelabel", ["s3:GetObject"], list(timeline_objects)))
    return statements


def results_topic_key(*, account_id: str, region: str) -> dict:
    """The results topic's KMS key policy: the account administers it, and its IAM principals (the
    recognizer's role, a subscriber's, the person running tools.relabel or forget) may use it
    through SNS only, as far as their own IAM policies allow. In a key policy, Resource "*" is the key."""
    return document(
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": list(KEY_ADMINISTRATION),
            "Resource": "*",
        },
        {
            "Sid": "AccountUsesTheKeyThroughSns",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
        },
    )


def tls_only_bucket(bucket_arn: str, *, conditional_writes_only: bool = False) -> dict:
    """Refuse any request to the bucket or its objects that does not come over TLS and, with
    `conditional_writes_only` (the faces bucket), any object write without If-Match or If-None-Match.

    A Deny is right for both: it removes access, whoever else grants it. The second makes S3 itself
    hold every writer of the live face database to what tools.enroll does (one PUT conditional on
    the version it read), so no client can overwrite a concurrent enrolment; a multipart upload,
    whose parts carry no condition, is refused with it.
    """
    statements = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if conditional_writes_only:
        statements.append(
            {
                "Sid": "DenyUnconditionalWrites",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": [f"{bucket_arn}/*"],
                # Both headers absent (the keys of one Null block must all hold).
                "Condition": {"Null": {"s3:if-match": "true", "s3:if-none-match": "true"}},
            }
        )
    return document(*statements)


def face_enrolment(bucket_arn: str, key: str) -> dict:
    """What `python -m tools.enroll` needs against a live stack, and nothing more: the stack creates
    it as a managed policy (output facesEnrolPolicyArn) for a person or CI role to attach.

    Read, write (always conditionally: tools.enroll sends If-Match or If-None-Match) and delete
    (removing the last person) the one database object; list the bucket, without which S3 answers a
    missing object with 403 rather than 404 and the tool could not tell "nobody enrolled yet" from
    "denied"; and, for `--list`, `--restore` and `--purge`, list, read and delete old versions.
    """
    database = f"{bucket_arn}/{key}"
    return document(
        allow("ReadWriteTheDatabase", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], [database]),
        allow("RestoreOrPurgeOldVersions", ["s3:GetObjectVersion", "s3:DeleteObjectVersion"], [database]),
        allow("ListTheBucket", ["s3:ListBucket", "s3:ListBucketVersions"], [bucket_arn]),
    )


def ecr_lifecycle(keep_images: int) -> dict:
    """Expire untagged images after a day and keep at most `keep_images` images in all.

    Each push of the recognizer retags `latest`; the image it replaces turns untagged and goes a
    day later, after the function has moved to the new digest.
    """
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": "Expire untagged images after one day",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the last {keep_images} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
                "action": {"type": "expire"},
            },
        ]
    }


# The alarm topic: CloudWatch publishes to it, encrypted with a key of the stack's own (SNS's
# AWS-managed key cannot be used: its policy cannot grant CloudWatch the key, so every alarm
# notification to a topic encrypted with it would be dropped).
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
# What the account (through its IAM policies: the deployer) may do with the key: administer it, not
# use it. Only CloudWatch encrypts with it, so nobody else can publish to the topic or read from it.
KEY_ADMINISTRATION = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)


def alarm_sources(account_id: str, region: str, alarm_name_prefix: str) -> dict:
    """The condition that ties a grant to CloudWatch acting for this stack's alarms, in this account
    (so no other account's alarms can use it: the confused deputy)."""
    return {
        "StringEquals": {"aws:SourceAccount": account_id},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{alarm_name_prefix}*"},
    }


def alarm_topic_key(*, account_id: str, region: str, topic_arn: str, alarm_name_prefix: str) -> dict:
    """The alarm topic's KMS key policy. In a key policy, Resource "*" is the key itself.

    CloudWatch gets exactly what SNS asks of a publisher to an encrypted topic (a data key, and
    decrypting it), for this topic only (the encryption context SNS sets) and for this stack's alarms.
    """
    return document(
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": list(KEY_ADMINISTRATION),
            "Resource": "*",
        },
        {
            "Sid": "AlarmsEncryptNotifications",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDWATCH_PRINCIPAL},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": _merge(
                alarm_sources(account_id, region, alarm_name_prefix),
                {"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": topic_arn}},
            ),
        },
    )


def alarm_topic(*, topic_arn: str, account_id: str, region: str, alarm_name_prefix: str) -> dict:
    """The alarm topic's access policy: CloudWatch may publish, for this stack's alarms only.

    It replaces SNS's default policy, which lets every principal of the account publish and
    subscribe; the deployer's own IAM permissions still manage the topic and its subscription."""
    return document(
        {
            "Sid": "AlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDWATCH_PRINCIPAL},
            "Action": ["sns:Publish"],
            "Resource": [topic_arn],
            "Condition": alarm_sources(account_id, region, alarm_name_prefix),
        }
    )


def _merge(*conditions: dict) -> dict:
    merged: dict[str, dict] = {}
    for condition in conditions:
        for operator, pairs in condition.items():
            merged.setdefault(operator, {}).update(pairs)
    return merged
