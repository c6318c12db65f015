"""The grade report's shape: plain JSON-ready dicts (`--json` writes them as they are), typed."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class ObjectInfo(TypedDict):
    """One listed object (reading.list_objects)."""

    key: str
    size: int
    etag: str
    last_modified: str  # ISO 8601, UTC


Contents = dict[str, list[ObjectInfo]]  # bucket role ("input", "stage-1", "output") → its objects


class VideoRow(TypedDict):
    """One upload's line of the report (local.session adds when its frame and result were seen)."""

    video: str
    uploaded: bool
    frame: str
    frame_present: bool
    result_key: str
    result: str | None
    expected: str | None
    correct: bool | None  # None: nothing to judge (no expectation or no result)
    face_db_version: str | None  # the database version that answered (from the result's metadata)
    frame_latency_s: float | None
    result_latency_s: float | None
    note: str
    # analysis: timeline only: what <stem>.json says (timelines.summary) and how it compares with the labels
    timeline: NotRequired[dict | None]
    timeline_judged: NotRequired[dict | None]
    labels: NotRequired[dict | None]  # who the labels say it shows (tools/timelines.py Labels)
    # a local run: seconds from the end of the upload until the run first saw the frame and the result
    frame_seen_s: NotRequired[float | None]
    result_seen_s: NotRequired[float | None]


class BucketCheck(TypedDict):
    expected: int
    present: int
    missing: list[str]
    extra: list[str]


class Checks(TypedDict):
    """Each check: True passed, False failed, None nothing to judge."""

    uploads_present: bool
    stage1_exact: bool
    output_exact: bool
    results_correct: bool | None
    results_distinct: bool
    within_deadline: bool
    timelines_correct: NotRequired[bool | None]  # analysis: timeline only


class LatencySummary(TypedDict):
    n: int
    p50: float
    max: float
    mean: float


class LatencyFigures(TypedDict):
    end_to_end: float | None  # first upload → last result
    per_video: LatencySummary | None
    source: str


class Latency(LatencyFigures):
    observed: NotRequired[LatencyFigures]  # a local run: as polled, finer than S3's LastModified


class CloudWatchStory(TypedDict, total=False):
    since: str
    until: str
    functions: dict[str, dict[str, Any]]  # function name → cloudwatch.FunctionFigures.as_dict()
    roles: dict[str, str]
    incomplete: bool  # CloudWatch still lagged the run when waiting ended


class DeadLetterStory(TypedDict):
    queues: dict[str, int]  # queue name → records read
    videos: dict[str, str]  # video → why (its dead-letter record, explained)
    unexplained: list[str]  # videos without a result or a record
    problems: list[str]  # queues that could not be read


class TimelineScores(TypedDict, total=False):
    """analysis: timeline: per-person scores, and how many timelines are as labelled."""

    timeline_scores: dict[str, dict]
    timelines_correct: int
    timelines_judged: int


class Hint(TypedDict, total=False):
    hint: str  # added to the verdict when it fails (a local run with untrained weights)


class Report(TypedDict):
    buckets: dict[str, str]
    prefix: str
    uploads: int
    checks: Checks
    passed: bool
    stage1: BucketCheck
    output: BucketCheck
    correct: int
    judged: int
    analysis: str
    timeline_scores: NotRequired[dict[str, dict]]
    timelines_correct: NotRequired[int]
    timelines_judged: NotRequired[int]
    latency_s: Latency
    videos: list[VideoRow]
    cloudwatch: NotRequired[CloudWatchStory]
    dead_letters: NotRequired[DeadLetterStory]
    hint: NotRequired[str]  # added to the verdict when it fails (a local run with untrained weights)
