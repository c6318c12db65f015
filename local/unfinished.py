"""Every upload a stopping stack leaves without a result, by name: those a dead-letter record
explains, and those it interrupted or never reached (issue 19: a stop mid-burst must name each
one, not a count and a few examples)."""

from __future__ import annotations

from typing import Any

from pipeline_common import keys
from tools import dead_letters
from tools.workload import Buckets


def listing(s3: Any, bucket: str) -> set[str]:
    present: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        present.update(o["Key"] for o in page.get("Contents", []))
    return present


def uploads_without_result(s3: Any, buckets: Buckets, records: list[tuple[str, dict]]) -> dict[str, str | None]:
    """video key → why it has no result (its dead-letter record, in one line) or None (unfinished:
    interrupted, queued or never handed to a function), for every object in the input bucket
    without its result in the output bucket; `records` are (queue name, dead-letter record) pairs."""
    results = listing(s3, buckets.output)
    missing = sorted(v for v in listing(s3, buckets.input) if keys.result_key(keys.frame_key(v)) not in results)
    explained = dead_letters.match(records, buckets, missing)
    return {v: dead_letters.explain(*explained[v], message=False) if v in explained else None for v in missing}


def describe(without: dict[str, str | None]) -> list[str]:
    """One line for the count, then one per upload (all of them), unfinished first."""
    unfinished = [v for v, why in without.items() if why is None]
    lines = [
        f"{len(without)} upload(s) without a result: {len(unfinished)} unfinished (interrupted, queued or never "
        f"started), {len(without) - len(unfinished)} dead-lettered"
    ]
    lines += [f"  {v!r}: unfinished" for v in unfinished]
    lines += [f"  {v!r}: {why}" for v, why in without.items() if why is not None]
    return lines
