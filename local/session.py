"""One run through a local stack: upload videos, wait until each has a result or has failed, and
report what happened (the grader's table and checks, every object in every bucket, the dead-letter
queues, what each function did, as its workers counted and as CloudWatch says)."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from components import topology
from local import alarms
from local.stack import LocalStack
from pipeline_common import keys
from tools import dead_letters, exported
from tools.grading.checks import grade, latency_summary
from tools.grading.expectations import Expectation
from tools.grading.reading import snapshot
from tools.grading.records import Contents, Hint, Report
from tools.grading.report import format_table
from tools.grading.story import add_cloudwatch, add_dead_letters, run_window
from tools.target import Target
from tools.workload import Buckets, upload_videos

IDLE_LOOK_S = 1.0  # with no invocation answered, the buckets are still listed this often (a DLQ record, a stall)
# ...and at most this often while invocations are answered: each look lists two buckets that grow to
# hundreds of keys, and a look after every answer was a quarter of the moto server's CPU time and
# a third of this process's in a 100-video run (seen times are this precise).
MIN_LOOK_S = 0.25

if TYPE_CHECKING:
    from botocore.client import BaseClient


class LocalRun(TypedDict):
    """What the local stack itself saw of a run (report["local"])."""

    architecture: str
    analysis: str
    functions: dict[str, dict]  # function name → its runtime's summary (environments, retries, memory)
    face_database: str
    model_dir: str  # the recognizer's exported graphs
    untrained_weights: bool
    logs: str
    wall_s: dict[str, float]  # upload, until_last_outcome
    last_outcome_at: float  # epoch seconds when the run saw every outcome (bench/command_run.py times the exit from it)
    settled: bool
    accounted_for: bool
    succeeded: int
    failed: dict[str, str]  # video → why it failed
    lost: list[str]  # videos without result or failure
    upload_errors: list[str]


class LocalReport(Report):
    """The grader's report of a local run, plus what only the local stack can tell."""

    local: LocalRun
    objects: Contents  # every object in every bucket
    dead_letter_queues: dict[str, list[dict]]  # queue name → its records
    alarms: list[dict]  # the deployed stack's alarms, evaluated on this run (local.alarms)


@dataclass
class Outcome:
    """Which uploads ended how, while the run waits."""

    done: set = field(default_factory=set)  # result present
    failed: dict = field(default_factory=dict)  # video key → "video-splitting-dlq: ..."
    pending: list = field(default_factory=list)


def failed_videos(stack: LocalStack, videos: list[str]) -> dict[str, str]:
    """Videos whose own invocation, or whose frame's, ended in a dead-letter queue."""
    s = stack.settings
    records = [(f"{r['function']}-dlq", r) for r in stack.dead_letters()]
    buckets = Buckets(s.input_bucket, s.stage1_bucket, s.output_bucket)
    failed = {}
    for video, (queue, record) in dead_letters.match(records, buckets, videos).items():
        failed[video] = (
            f"{queue} after {record['requestContext']['approximateInvokeCount']} attempts: "
            f"{record['responsePayload']['errorType']}"
        )
    return failed


def _listing(s3: BaseClient, bucket: str) -> set[str]:
    present: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        present.update(o["Key"] for o in page.get("Contents", []))
    return present


def outcome(stack: LocalStack, s3: BaseClient, videos: list[str], seen: dict[str, float] | None = None) -> Outcome:
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
) -> LocalReport:
    """Upload `files`, wait for every result or failure (at most `timeout_s`), and report."""
    s = stack.settings
    s3 = stack.client("s3")
    before = alarms.snapshot(stack)  # the alarms judge this run's figures
    t0 = time.time()
    uploads = upload_videos(s3, s.input_bucket, files, rate=rate, prefix=prefix, progress=progress)
    uploaded = time.time()
    videos = [u.key for u in uploads if not u.error]
    deadline = time.monotonic() + timeout_s
    seen: dict[str, float] = {}  # key → when this loop first saw it (S3's LastModified is whole seconds)
    from tqdm import tqdm

    # On a terminal only (disable=None): a pipe or a file gets no progress bar.
    drawn = None if progress else True
    with tqdm(total=len(videos), unit="video", desc="outcomes", file=sys.stderr, disable=drawn) as bar:
        # The buckets are listed when an invocation has been answered since the last look (or a second
        # has passed), at most every MIN_LOOK_S: listings compete with the functions for the cores.
        answered, looked = -1, 0.0
        while True:
            now_answered, since = stack.answered(), time.monotonic() - looked
            if (now_answered != answered and since >= MIN_LOOK_S) or since >= IDLE_LOOK_S:
                answered, looked = now_answered, time.monotonic()
                state = outcome(stack, s3, videos, seen)
                bar.update(len(videos) - len(state.pending) - bar.n)
                if not state.pending:
                    break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
    finished = time.time()
    settled = stack.wait_idle(30)  # retries and duplicate deliveries finish before the snapshot
    stack.flush_telemetry()  # CloudWatch has every data point of the run before it is read back

    buckets = Buckets(s.input_bucket, s.stage1_bucket, s.output_bucket, s.region)
    # The alarms (which read the dead-letter queues' depth, so before anything peeks into them) while
    # the buckets are read and graded.
    with ThreadPoolExecutor(1, thread_name_prefix="alarms") as pool:
        judged = pool.submit(alarms.evaluate_run, stack, before)
        contents = snapshot(s3, buckets)
        graded = grade(
            s3, buckets, expect=expect, uploads=videos, contents=contents, prefix=prefix, analysis=s.analysis
        )
        alarm_states = judged.result()
    upload_end = {u.key: u.finished for u in uploads}
    for row in graded["videos"]:
        end = upload_end[row["video"]]
        row["frame_seen_s"] = round(seen[row["frame"]] - end, 3) if row["frame"] in seen else None
        row["result_seen_s"] = round(seen[row["result_key"]] - end, 3) if row["result_key"] in seen else None
        if row["video"] in state.failed:
            row["note"] = "failed: " + state.failed[row["video"]]
        elif row["video"] in state.pending:
            row["note"] = f"no result after {timeout_s:g} s"
    observed = [seen_s for r in graded["videos"] if (seen_s := r.get("result_seen_s")) is not None]
    last = max((seen[r["result_key"]] for r in graded["videos"] if r["result_key"] in seen), default=None)
    graded["latency_s"]["observed"] = {
        "source": f"listed within {MIN_LOOK_S:g} s of each invocation's answer, from the end of each upload",
        "end_to_end": round(last - min(u.started for u in uploads), 3) if last else None,
        "per_video": latency_summary(observed),
    }
    local: LocalRun = {
        "architecture": s.architecture,
        "analysis": s.analysis,
        "functions": stack.summary(),
        "face_database": f"s3://{s.faces_bucket}/{topology.FACES_OBJECT}" if s.live_database else str(s.face_database),
        "model_dir": str(stack.model_dir),
        "untrained_weights": exported.untrained(stack.model_dir),
        "logs": str(stack.log_dir),
        "wall_s": {"upload": round(uploaded - t0, 3), "until_last_outcome": round(finished - t0, 3)},
        "last_outcome_at": round(finished, 3),
        "settled": settled,
        "accounted_for": not state.pending and not [u for u in uploads if u.error],
        "succeeded": len(state.done),
        "failed": state.failed,
        "lost": state.pending,
        "upload_errors": [u.error for u in uploads if u.error],
    }
    hint: Hint = {}
    if graded["checks"]["results_correct"] is False and local["untrained_weights"]:
        hint["hint"] = (
            "the recognizer ran the untrained stand-in weights: names match only faces enrolled with those same weights"
        )
    dead_letter_queues = {
        f"{stack.function_name(role)}-dlq": stack.read_dead_letter_queue(role) for role in topology.FUNCTIONS
    }
    report: LocalReport = {
        **graded,
        "local": local,
        **hint,
        "objects": contents,
        "dead_letter_queues": dead_letter_queues,
        "alarms": alarm_states,  # the deployed stack's alarms, on this run
    }
    # What tools.grade adds against any stack, read here as it reads it: through the stack's endpoint.
    target = Target(
        buckets,
        {role: stack.function_name(role) for role in topology.FUNCTIONS},
        dict(stack.dead_letter_queues),
        stack.endpoint_url,
        "the local stack",
        s.analysis,
    )
    with ThreadPoolExecutor(1, thread_name_prefix="cloudwatch") as pool:
        window = run_window(report, contents)
        read = pool.submit(add_cloudwatch, report, stack.client("cloudwatch"), target.functions, window)
        add_dead_letters(report, stack.client("sqs"), target)
        read.result()
    return report


def describe(report: LocalReport) -> str:
    """The grader's table (with CloudWatch's figures and the dead-letter explanations) plus what the
    local stack itself saw: wall time, each function's environments, retries and memory."""
    lines = [format_table(report), ""]
    local = report["local"]
    wall = local["wall_s"]
    lines.append(
        f"{local['architecture']}, {local['analysis']}: {report['uploads']} uploads in {wall['upload']:.2f} s; "
        f"every video accounted for after {wall['until_last_outcome']:.2f} s "
        f"({local['succeeded']} results, {len(local['failed'])} failed)"
        if local["accounted_for"]
        else f"{local['architecture']}, {local['analysis']}: NOT every video accounted for: "
        f"{len(local['lost'])} without result or failure after {wall['until_last_outcome']:.2f} s: "
        f"{', '.join(map(repr, local['lost']))}"
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
    lines += alarms.describe(report["alarms"])
    lines.append(f"  function logs: {local['logs']} (and /aws/lambda/<function> in CloudWatch Logs while it runs)")
    return "\n".join(lines)
