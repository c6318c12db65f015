"""The course grader's checks on what a stack holds: stage-1 and output hold exactly what the uploads
give, each result is the expected name (each timeline as labelled), and every result came within the
course's deadline; one row per upload."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import TYPE_CHECKING

from components import topology
from pipeline_common import keys, segments
from tools import timelines
from tools.grading.expectations import Expectation, timeline_labels
from tools.grading.reading import read_results, read_timelines, snapshot, timestamp
from tools.grading.records import (
    BucketCheck,
    Checks,
    Contents,
    LatencySummary,
    ObjectInfo,
    Report,
    TimelineScores,
    VideoRow,
)
from tools.workload import Buckets

if TYPE_CHECKING:
    from botocore.client import BaseClient

COURSE_DEADLINE_S = 300

ByRole = dict[str, dict[str, ObjectInfo]]  # bucket role → key → its object


def _when(iso: str | None) -> float | None:
    return timestamp(iso) if iso else None


def grade(
    s3: BaseClient,
    buckets: Buckets,
    *,
    expect: Expectation | None = None,
    uploads: list[str] | None = None,
    contents: Contents | None = None,
    prefix: str = "",
    analysis: str = topology.FIRST_FRAME,
) -> Report:
    """The report: bucket checks, one row per upload, latency. `uploads` defaults to every video in
    the input bucket; `contents` is a snapshot() already taken; with `prefix`, only keys under it
    count, in every bucket (several runs can then share a stack). `analysis` TIMELINE: stage-1
    holds nothing but the uploads' segment objects (none once merged), output `<stem>.txt` and
    `<stem>.json`, and each timeline is judged against the labels (tools/timelines.py)."""
    timeline = analysis == topology.TIMELINE
    contents = contents if contents is not None else snapshot(s3, buckets)
    # timeline: stage-1's keys are the uploads' segment folders, `segments/<quoted key>/` (pipeline_common.segments)
    stage1_prefix = segments.folder(prefix)[:-1] if timeline and prefix else prefix
    by_role = {
        role: {o["key"]: o for o in objs if o["key"].startswith(stage1_prefix if role == "stage-1" else prefix)}
        for role, objs in contents.items()
    }
    inputs = by_role["input"]
    if uploads is None:
        uploads = sorted(k for k in inputs if keys.is_video(k))
    # timeline: stage-1 holds each video's segments (pipeline_common.segments); the first one's frames stand for it
    frames = {k: segments.frames_key(k, 0) if timeline else keys.frame_key(k) for k in uploads}
    results = {k: keys.result_key(keys.frame_key(k)) for k in uploads}
    timeline_keys = {k: keys.timeline_key(keys.frames_key(k)) for k in uploads} if timeline else {}

    stage1_wanted = set(frames.values())
    if timeline:  # only the uploads' segment objects, if any: Cleanup deletes a merged video's (a failed one's stay)
        folders = tuple(segments.folder(k) for k in uploads)
        stage1_wanted = {k for k in by_role["stage-1"] if k.startswith(folders)}
    stage1 = exact(by_role, "stage-1", stage1_wanted)
    output = exact(by_role, "output", set(results.values()) | set(timeline_keys.values()))
    texts = read_results(s3, buckets.output, sorted(set(results.values()) & set(by_role["output"])))
    found = read_timelines(s3, buckets.output, sorted(set(timeline_keys.values()) & set(by_role["output"])))

    rows: list[VideoRow] = []
    for video in uploads:
        row = video_row(video, by_role, frames[video], results[video], expect, texts)
        if timeline:
            summary = found.get(timeline_keys[video])
            labels = timeline_labels(expect, video)
            row["timeline"] = summary
            row["timeline_judged"] = None if labels is None or summary is None else timelines.judge(summary, labels)
            row["labels"] = labels
        rows.append(row)

    judged = [r for r in rows if r["expected"] is not None]
    latencies = [r["result_latency_s"] for r in rows if r["result_latency_s"] is not None]
    end_to_end = _end_to_end(by_role, uploads, results.values())
    checks: Checks = {
        "uploads_present": all(r["uploaded"] for r in rows),
        "stage1_exact": not stage1["missing"] and not stage1["extra"],
        "output_exact": not output["missing"] and not output["extra"],
        "results_correct": all(r["correct"] for r in judged) if judged else None,
        "results_distinct": len(set(results.values())) == len(results),  # no two uploads share a result
        "within_deadline": end_to_end is not None and end_to_end <= COURSE_DEADLINE_S and not output["missing"],
    }
    judged_timelines = [r for r in rows if r.get("labels") is not None]
    if timeline:
        checks["timelines_correct"] = (
            all((r.get("timeline_judged") or {}).get("correct", False) for r in judged_timelines)
            if judged_timelines
            else None
        )
    no_scores: TimelineScores = {}
    report: Report = {
        "buckets": buckets.as_dict(),
        "prefix": prefix,
        "uploads": len(uploads),
        "checks": checks,
        "passed": bool(uploads) and all(v is not False for v in checks.values()),
        "stage1": stage1,
        "output": output,
        "correct": sum(1 for r in judged if r["correct"]),
        "judged": len(judged),
        "analysis": analysis,
        **(timeline_scores(judged_timelines) if timeline else no_scores),
        "latency_s": {
            "end_to_end": end_to_end,
            "per_video": latency_summary(latencies),
            "source": "S3 LastModified (whole seconds on AWS)",
        },
        "videos": rows,
    }
    return report


def exact(by_role: ByRole, role: str, wanted: set[str]) -> BucketCheck:
    """How a bucket's keys compare with exactly the keys the uploads give."""
    have = set(by_role[role])
    return {
        "expected": len(wanted),
        "present": len(have & wanted),
        "missing": sorted(wanted - have),
        "extra": sorted(have - wanted),
    }


def video_row(
    video: str,
    by_role: ByRole,
    frame: str,
    result: str,
    expect: Expectation | None,
    texts: dict[str, tuple[str, str | None]],
) -> VideoRow:
    """One upload's frame, result, expected name and latency from S3's LastModified times."""
    inputs = by_role["input"]
    uploaded = _when(inputs[video]["last_modified"]) if video in inputs else None
    framed = _when(by_role["stage-1"][frame]["last_modified"]) if frame in by_role["stage-1"] else None
    done = _when(by_role["output"][result]["last_modified"]) if result in by_role["output"] else None
    expected = expect(video) if expect else None
    got, version = texts.get(result, (None, None))
    return {
        "video": video,
        "uploaded": video in inputs,
        "frame": frame,
        "frame_present": frame in by_role["stage-1"],
        "result_key": result,
        "result": got,
        "expected": expected,
        "correct": None if expected is None or got is None else got == expected,
        "face_db_version": version,
        "frame_latency_s": round(framed - uploaded, 3) if framed and uploaded else None,
        "result_latency_s": round(done - uploaded, 3) if done and uploaded else None,
        "note": "",
    }


def _end_to_end(by_role: ByRole, uploads: list[str], results: Iterable[str]) -> float | None:
    """First upload → last result, from S3's LastModified (a listed object always has one)."""
    inputs, output = by_role["input"], by_role["output"]
    first_upload = min((timestamp(inputs[k]["last_modified"]) for k in uploads if k in inputs), default=None)
    last_result = max((timestamp(output[r]["last_modified"]) for r in results if r in output), default=None)
    return round(last_result - first_upload, 3) if first_upload and last_result else None


def timeline_scores(judged_timelines: list[VideoRow]) -> TimelineScores:
    """analysis: timeline: per-person scores, and how many timelines are as labelled."""
    return {
        "timeline_scores": timelines.scores(
            [
                (summary_, labels_)
                for r in judged_timelines
                if (summary_ := r.get("timeline")) and (labels_ := r.get("labels")) is not None
            ]
        ),
        "timelines_correct": sum(1 for r in judged_timelines if (r.get("timeline_judged") or {}).get("correct")),
        "timelines_judged": len(judged_timelines),
    }


def latency_summary(seconds: list[float]) -> LatencySummary | None:
    """n, p50, max and mean of per-video latencies (seconds), or None when there are none."""
    if not seconds:
        return None
    return {
        "n": len(seconds),
        "p50": round(statistics.median(seconds), 3),
        "max": round(max(seconds), 3),
        "mean": round(statistics.fmean(seconds), 3),
    }
