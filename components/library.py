"""The library's resources as plain data: the appearances table's shape, the library bucket's and
stage-1's lifecycle rules, the output names. The Pulumi component (components/library_component.py)
and the local stack (local/library.py) both build from these, so the two never differ.

Plain Python on purpose: importing it must not need the Pulumi engine.
"""

from __future__ import annotations

from typing import Any

from components.settings import StackSettings

# Stack outputs (__main__.py exports them; tools/library_target.py reads them)
OUTPUT_TABLE, OUTPUT_TOPIC, OUTPUT_BUCKET = "appearancesTable", "resultsTopicArn", "libraryBucket"
PARTITION_KEY, SORT_KEY = "pk", "sk"  # face_recognizer.appearances: person#NAME / video#KEY
# Old versions of faces.json (a relabel or forget replaced them) go after a day, as the faces bucket's do.
LIBRARY_HISTORY_DAYS = 1


def table_arguments(s: StackSettings) -> dict[str, Any]:
    """DynamoDB CreateTable's arguments: on demand, encrypted (SSE, AWS-owned key), deletion
    protection as the stack says. Point-in-time recovery is a separate call (UpdateContinuousBackups)."""
    return {
        "TableName": s.appearances_table,
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": True},
        "DeletionProtectionEnabled": s.appearances_deletion_protection,
    }


def stage1_lifecycle_rule(s: StackSettings, *, boto: bool = False) -> dict[str, Any]:
    """Stage-1 objects (frames) expire `stage1RetentionDays` after they were written."""
    if boto:
        return {
            "ID": "expire-frames",
            "Status": "Enabled",
            "Filter": {},
            "Expiration": {"Days": s.stage1_retention_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    return {
        "id": "expire-frames",
        "status": "Enabled",
        "filter": {},
        "expiration": {"days": s.stage1_retention_days},
        "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
    }


def library_lifecycle_rule(s: StackSettings, *, boto: bool = False) -> dict[str, Any]:
    """The library bucket keeps replaced versions of faces.json a day (then they, and the embeddings
    and names they hold, are gone); tools.forget deletes a forgotten person's at once."""
    if boto:
        return {
            "ID": "expire-old-versions",
            "Status": "Enabled",
            "Filter": {},
            "NoncurrentVersionExpiration": {"NoncurrentDays": LIBRARY_HISTORY_DAYS},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    return {
        "id": "expire-old-versions",
        "status": "Enabled",
        "filter": {},
        "noncurrent_version_expiration": {"noncurrent_days": LIBRARY_HISTORY_DAYS},
        "expiration": {"expired_object_delete_marker": True},
        "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
    }
