"""What a stack holds: every object in its buckets, each result's text and database version, each
timeline in short; and waiting until every upload has its result."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

from pipeline_common import keys
from tools import timelines
from tools.grading.records import Contents, ObjectInfo
from tools.workload import Buckets

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from tools.target import Target


def list_objects(s3: BaseClient, bucket: str) -> list[ObjectInfo]:
    """Every object in a bucket: key, size, ETag, LastModified (ISO, UTC)."""
    objects: list[ObjectInfo] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            objects.append(
                {
                    "key": o["Key"],
                    "size": o["Size"],
                    "etag": o["ETag"].strip('"'),
                    "last_modified": o["LastModified"].isoformat(),
                }
            )
    return objects


def snapshot(s3: BaseClient, buckets: Buckets) -> Contents:
    return {role: list_objects(s3, name) for role, name in buckets.as_dict().items()}


# The recognizer's result metadata naming the database version that answered
# (face_recognizer.service.VERSION_METADATA; boto3 gives metadata keys in lower case).


# The recognizer's result metadata naming the database version that answered
# (face_recognizer.service.VERSION_METADATA; boto3 gives metadata keys in lower case).
VERSION_METADATA = "face-db-version"


def read_timelines(s3: BaseClient, bucket: str, timeline_keys: list[str]) -> dict[str, dict | None]:
    """analysis: timeline: each `<stem>.json` in short (timelines.summary); None for one that is not JSON."""

    def read(key: str) -> tuple[str, dict | None]:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            return key, timelines.summary(json.loads(body))
        except (ValueError, KeyError, TypeError, AttributeError):
            return key, None

    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(pool.map(read, timeline_keys))


def read_results(s3: BaseClient, bucket: str, result_keys: list[str]) -> dict[str, tuple[str, str | None]]:
    """Each result's text and the database version that gave it (None for a result written without one)."""

    def read(key: str) -> tuple[str, tuple[str, str | None]]:
        response = s3.get_object(Bucket=bucket, Key=key)
        text = response["Body"].read().decode("utf-8", errors="replace").strip()
        return key, (text, (response.get("Metadata") or {}).get(VERSION_METADATA))

    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(pool.map(read, result_keys))


def wait_for_results(
    s3: BaseClient,
    buckets: Buckets,
    uploads: list[str],
    timeout_s: float,
    *,
    progress: bool = True,
    dead_lettered: Callable[[list[str]], set[str]] | None = None,
) -> bool:
    """Poll the output bucket until every upload has its result or, when `dead_lettered` says which
    of the missing ones have a dead-letter record, every upload has one or the other (no result will
    come for a dead-lettered video: waiting on would only end in blaming the time); or until time
    runs out. On a terminal a progress bar counts the outcomes (nothing is drawn when stderr is a
    pipe or a file)."""
    from tqdm import tqdm

    wanted = {keys.result_key(keys.frame_key(k)): k for k in uploads}
    deadline = time.monotonic() + timeout_s
    failed: set[str] = set()
    # disable=None: tqdm draws only on a terminal.
    drawn = None if progress else True
    with tqdm(total=len(wanted), unit="outcome", desc="waiting", file=sys.stderr, disable=drawn) as bar:
        while True:
            present = {o["key"] for o in list_objects(s3, buckets.output)} & wanted.keys()
            missing = [video for result, video in wanted.items() if result not in present]
            if missing and dead_lettered is not None:
                failed = dead_lettered(missing)
            bar.update(len(wanted) - len(missing) + len(failed & set(missing)) - bar.n)
            if not missing:
                return True
            if not set(missing) - failed:
                bar.close()
                print(
                    f"grade: stopped waiting: every upload has a result or a dead-letter record "
                    f"({len(missing)} dead-lettered, no result will come for them)",
                    file=sys.stderr,
                )
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(1.0)


def dead_letter_check(sqs: BaseClient, target: Target) -> Callable[[list[str]], set[str]]:
    """Which of some videos a record in the stack's dead-letter queues explains (for the wait)."""
    from tools import dead_letters as dl
    from tools.target import aws_failure

    def dead_lettered(videos: list[str]) -> set[str]:
        records: list[tuple[str, dict]] = []
        for role, url in target.dead_letter_queues.items():
            try:
                url = url or sqs.get_queue_url(QueueName=f"{target.functions[role]}-dlq")["QueueUrl"]
                records.extend((dl.queue_name(url), r) for r in dl.peek(sqs, url))
            except Exception as exc:  # a queue it may not read: wait for results only, as before
                if aws_failure(exc) is not None:
                    raise
        return set(dl.match(records, target.buckets, videos))

    return dead_lettered


def timestamp(iso: str) -> float:
    """Seconds since the epoch of a listed object's LastModified (ISO 8601)."""
    return datetime.fromisoformat(iso).timestamp()
