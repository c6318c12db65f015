"""One run through a local stack: upload videos, wait until each has a result or has failed, and
report what happened (the grader's table and checks, every object in every bucket, the dead-letter
queues, what each function did)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from components import topology
from local.stack import LocalStack
from pipeline_common import keys
from pipeline_common.events import EventError, parse_s3_objects
from tools.grade import Expectation, format_table, grade, latency_summary, snapshot
from tools.workload import Buckets, upload_videos


@dataclass
class Outcome:
    """Which uploads ended how, while the run waits."""

    done: set = field(default_factory=set)  # result present
    failed: dict = field(default_factory=dict)  # video key → "video-splitting-dlq: ..."
    pending: list = field(default_factory=list)


def failed_videos(stack: LocalStack, videos: list[str]) -> dict[str, str]:
    """Videos whose own invocation, or whose frame's, ended in a dead-letter queue."""
    by_key = {}
    for video in videos:
        by_key[(stack.settings.input_bucket, video)] = video
        by_key[(stack.settings.stage1_bucket, keys.frame_key(video))] = video
    failed = {}
    for record in stack.dead_letters():
        try:
            objects = parse_s3_objects(record["requestPayload"])
        except EventError:
            continue
        for obj in objects:
            failed_video = by_key.get((obj.bucket, obj.key))
            if failed_video is not None and failed_video not in failed:
                error = record["responsePayload"]
                failed[failed_video] = (
                    f"{record['function']}-dlq after {record['requestContext']['approximateInvokeCount']} "
                    f"attempts: {error['errorType']}"
                )
    return failed


def _listing(s3, bucket: str) -> set[str]:
    present: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        present.update(o["Key"] for o in page.get("Contents", []))
    return present


def outcome(stack: LocalStack, s3, videos: list[str], seen: dict[str, float] | None = None) -> Outcome:
    """Where each video stands; `seen` collects when each frame and result key first appeared."""
    now = time.time()
    present = _listing(s3, stack.settings.output_bucket)
    if seen is not None:
        for key in present | _listing(s3, stack.settings.stage1_bucket):
            seen.setdefault(key, now)
    result = Outcome()
    result.done = {v for v in videos if keys.result_key(keys.frame_key(v)) in present}
    result.failed = {v: why for v, why in failed_videos(stack, videos).items() if v not in result.done}
    result.pending = [v for v in videos if v not in result.done and v not in result.failed]
    return result


def run_videos(
    stack: LocalStack,
    files: list[Path],
    *,
    expect: Expectation | None = None,
    timeout_s: float = 600,
    rate: float | None = None,
    prefix: str = "",
    progress: bool = True,
) -> dict:
    """Upload `files`, wait for every result or failure (at most `timeout_s`), and report."""
    s = stack.settings
    s3 = stack.client("s3")
    t0 = time.time()
    uploads = upload_videos(s3, s.input_bucket, files, rate=rate, prefix=prefix, progress=progress)
    uploaded = time.time()
    videos = [u.key for u in uploads if not u.error]
    deadline = time.monotonic() + timeout_s
    seen: dict[str, float] = {}  # key → when this loop first saw it (S3's LastModified is whole seconds)
    while True:
        state = outcome(stack, s3, videos, seen)
        if not state.pending or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    finished = time.time()
    settled = stack.wait_idle(30)  # retries and duplicate deliveries finish before the snapshot

    buckets = Buckets(s.input_bucket, s.stage1_bucket, s.output_bucket, s.region)
    contents = snapshot(s3, buckets)
    report = grade(s3, buckets, expect=expect, uploads=videos, contents=contents, prefix=prefix)
    upload_end = {u.key: u.finished for u in uploads}
    for row in report["videos"]:
        end = upload_end[row["video"]]
        row["frame_seen_s"] = round(seen[row["frame"]] - end, 3) if row["frame"] in seen else None
        row["result_seen_s"] = round(seen[row["result_key"]] - end, 3) if row["result_key"] in seen else None
        if row["video"] in state.failed:
            row["note"] = "failed: " + state.failed[row["video"]]
        elif row["video"] in state.pending:
            row["note"] = f"no result after {timeout_s:g} s"
    observed = [r["result_seen_s"] for r in report["videos"] if r["result_seen_s"] is not None]
    last = max((seen[r["result_key"]] for r in report["videos"] if r["result_key"] in seen), default=None)
    report["latency_s"]["observed"] = {
        "source": "polled every 0.1 s from the end of each upload",
        "end_to_end": round(last - min(u.started for u in uploads), 3) if last else None,
        "per_video": latency_summary(observed),
    }
    report["local"] = {
        "architecture": s.architecture,
        "functions": stack.summary(),
        "face_database": f"s3://{s.faces_bucket}/{topology.FACES_OBJECT}" if s.live_database else str(s.face_database),
        "torch_home": str(stack.torch_home),
        "model_dir": str(stack.model_dir),
        "untrained_weights": untrained(stack.torch_home),
        "logs": str(stack.log_dir),
        "wall_s": {"upload": round(uploaded - t0, 3), "until_last_outcome": round(finished - t0, 3)},
        "settled": settled,
        "accounted_for": not state.pending and not [u for u in uploads if u.error],
        "succeeded": len(state.done),
        "failed": state.failed,
        "lost": state.pending,
        "upload_errors": [u.error for u in uploads if u.error],
    }
    if report["checks"]["results_correct"] is False and report["local"]["untrained_weights"]:
        report["hint"] = (
            "the recognizer ran the untrained stand-in weights: names match only faces enrolled with those same weights"
        )
    report["objects"] = contents
    report["dead_letter_queues"] = {
        f"{stack.function_name(role)}-dlq": stack.read_dead_letter_queue(role) for role in topology.FUNCTIONS
    }
    return report


def untrained(torch_home: Path) -> bool:
    from tools import weights

    return weights.is_untrained(torch_home)


def describe(report: dict) -> str:
    """The grader's table plus what the local stack saw: wall time, each function, the DLQs."""
    lines = [format_table(report), ""]
    local = report["local"]
    wall = local["wall_s"]
    lines.append(
        f"{local['architecture']}: {report['uploads']} uploads in {wall['upload']:.2f} s; "
        f"every video accounted for after {wall['until_last_outcome']:.2f} s "
        f"({local['succeeded']} results, {len(local['failed'])} failed)"
        if local["accounted_for"]
        else f"{local['architecture']}: NOT every video accounted for: {len(local['lost'])} without "
        f"result or failure after {wall['until_last_outcome']:.2f} s: {', '.join(local['lost'][:5])}"
    )
    for name, st in local["functions"].items():
        d = st.get("duration_ms") or {}
        over = "  (above its memory setting: Lambda would end it)" if st["max_memory_used_mb"] > st["memory_mb"] else ""
        lines.append(
            f"  {name}: {st['invocations']} invocations, {st['errors']} errors, {st['retries']} retries, "
            f"{st['cold_starts']} cold starts (init {', '.join(f'{v / 1000:.1f}' for v in st['init_ms']) or '-'} s), "
            f"duration p50 {d.get('p50', 0):.0f} ms max {d.get('max', 0):.0f} ms, "
            f"concurrency {st['max_concurrency_seen']}/{st['concurrency']}, "
            f"max memory used {st['max_memory_used_mb']:.0f} of {st['memory_mb']} MB{over}"
        )
    for queue, records in report["dead_letter_queues"].items():
        lines.append(f"  {queue}: {len(records)} message(s)")
        for r in records:
            payload = r["responsePayload"]
            lines.append(
                f"    {r['requestContext']['condition']} after {r['requestContext']['approximateInvokeCount']} "
                f"attempts: {payload['errorType']}: {payload['errorMessage']}"
            )
    lines.append(f"  function logs: {local['logs']}")
    return "\n".join(lines)
