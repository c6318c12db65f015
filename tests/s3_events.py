"""S3 notifications as S3 shapes and encodes them, for tests that invoke the functions directly."""

from __future__ import annotations

from urllib.parse import quote_plus


def s3_event(bucket: str, key: str, *, event_name: str = "ObjectCreated:Put") -> dict:
    """An S3 notification for one object, shaped and encoded as S3 sends it."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": event_name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/")},
                },
            }
        ]
    }
