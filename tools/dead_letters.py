"""Why a video has no result: the on-failure records Lambda left in the functions' dead-letter
queues (one queue per function), matched to the uploads they were about.

A record is Lambda's on-failure destination message: the event as it came (`requestPayload`, an
S3 notification or the splitter's direct payload), why it ended there (`condition`:
RetriesExhausted or EventAgeExceeded), after how many attempts, and the last error. Reading leaves
every message in its queue (each is made visible again), so anyone can look again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pipeline_common import keys
from pipeline_common.events import EventError, parse_s3_objects
from tools.target import Buckets

if TYPE_CHECKING:
    from botocore.client import BaseClient


def peek(sqs: BaseClient, url: str) -> list[dict]:
    """Every message body in a queue (JSON-decoded), read and then made visible again."""
    seen: dict[str, dict] = {}
    handles = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            break
        for message in batch:
            try:
                seen.setdefault(message["MessageId"], json.loads(message["Body"]))
            except ValueError:  # not one of Lambda's records: say what it is rather than fail
                seen.setdefault(message["MessageId"], {"unreadable": message["Body"][:200]})
            handles.append(message["ReceiptHandle"])
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return list(seen.values())


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def match(records: list[tuple[str, dict]], buckets: Buckets, videos: list[str]) -> dict[str, tuple[str, dict]]:
    """video → (queue, record) for each video whose own event or whose frame's event was
    dead-lettered; `records` are (queue name, record) pairs. The first record per video wins."""
    by_object = {}
    for video in videos:
        by_object[(buckets.input, video)] = video
        by_object[(buckets.stage1, keys.frame_key(video))] = video
        by_object[(buckets.stage1, keys.frames_key(video))] = video  # analysis: timeline
    found: dict[str, tuple[str, dict]] = {}
    for queue, record in records:
        try:
            objects = parse_s3_objects(record.get("requestPayload") or {})
        except EventError:
            continue
        for obj in objects:
            matched = by_object.get((obj.bucket, obj.key))
            if matched is not None and matched not in found:
                found[matched] = (queue, record)
    return found


def explain(queue: str, record: dict, *, message: bool = True) -> str:
    """`video-splitting-dlq: RetriesExhausted after 3 attempts: SplitError: ...` (without the
    error's message when `message` is false)."""
    context = record.get("requestContext", {})
    error = record.get("responsePayload") or {}
    line = (
        f"{queue}: {context.get('condition', '?')} after {context.get('approximateInvokeCount', '?')} attempts: "
        f"{error.get('errorType', '?')}"
    )
    return f"{line}: {error.get('errorMessage', '')}" if message else line
