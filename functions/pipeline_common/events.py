"""Typed records for what invokes the functions.

S3 notifications URL-encode object keys (`+` for a space, `%XX` for the rest); every key leaves
this module decoded, and nothing downstream ever sees the encoded form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote_plus

from pipeline_common.log import fields

T = TypeVar("T")


class Permanent(Exception):
    """A failure that every retry would meet again (the same object, the same settings): the
    function dead-letters it at once rather than let Lambda retry it (handlers, `permanent`)."""


class EventError(ValueError):
    """The invocation payload is not a shape this function accepts."""


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    def __str__(self) -> str:  # used in log lines and error messages
        return f"s3://{self.bucket}/{self.key}"


def process_each(
    event: Mapping[str, Any],
    process: Callable[[S3Object], T],
    *,
    log: logging.Logger,
    noun: str,
    error: type[Exception],
) -> list[T]:
    """`process` every object the event names, and the rest when one fails (they are independent);
    then raise `error` naming each failure, so the invocation fails and Lambda retries the event or
    dead-letters it. Retrying re-runs the ones that succeeded, which write the same key again. The
    error's `permanent` is true when every failure was Permanent (a retry would change nothing)."""
    results, failures, permanent = [], [], True
    for obj in parse_s3_objects(event):
        try:
            results.append(process(obj))
        except Exception as exc:
            message = str(exc) if str(obj) in str(exc) else f"{obj}: {exc}"
            failures.append(message)
            permanent = permanent and isinstance(exc, Permanent)
            log.error(
                f"{noun} failed",
                extra=fields(**{noun: str(obj)}, error=message, error_type=type(exc).__name__),
            )
    if failures:
        failed = error("; ".join(failures))
        failed.permanent = permanent  # type: ignore[attr-defined]  # every failure would recur: see Permanent
        raise failed
    return results


def parse_s3_objects(event: Mapping[str, Any]) -> list[S3Object]:
    """Objects named by an S3 ObjectCreated notification or by a direct payload.

    Accepted shapes:
    - an S3 notification: {"Records": [{"eventSource": "aws:s3", "s3": {...}}, ...]}
      (keys URL-encoded, as S3 sends them);
    - a direct payload: {"bucket": "...", "key": "..."} (key as is, not encoded), which is what
      the splitter sends the recognizer in direct-invocation wiring.
    S3's one-off `s3:TestEvent` (sent when a notification is configured) yields no objects.
    """
    if not isinstance(event, Mapping):
        raise EventError(f"event must be a JSON object, got {type(event).__name__}")
    if event.get("Event") == "s3:TestEvent":
        return []
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list):
            raise EventError("event 'Records' must be a list")
        return [_from_record(i, r) for i, r in enumerate(records)]
    if "bucket" in event and "key" in event:
        bucket, key = event["bucket"], event["key"]
        if not (isinstance(bucket, str) and bucket and isinstance(key, str) and key):
            raise EventError("direct payload needs non-empty string 'bucket' and 'key'")
        return [S3Object(bucket, key)]
    raise EventError("event is neither an S3 notification ('Records') nor a {'bucket', 'key'} payload")


def _from_record(index: int, record: Any) -> S3Object:
    try:
        if record.get("eventSource") not in (None, "aws:s3"):
            raise EventError(f"record {index} comes from {record.get('eventSource')!r}, not aws:s3")
        s3 = record["s3"]
        bucket = s3["bucket"]["name"]
        key = unquote_plus(s3["object"]["key"])
    except (AttributeError, KeyError, TypeError) as exc:
        raise EventError(f"record {index} is not an S3 event record (missing {exc})") from None
    if not bucket or not key:
        raise EventError(f"record {index} has an empty bucket or key")
    return S3Object(bucket, key)
