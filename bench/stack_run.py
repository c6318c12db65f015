"""2. stack: the local stack in one wiring at the stack's concurrency, every video uploaded at once:
wall time, videos per second, per-video latency, each function's durations and peak memory, and what
the run left for the cost plan (bench/plan.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from components import topology

if TYPE_CHECKING:
    from tools.grading.expectations import Expectation
    from tools.grading.records import LatencySummary


class StackFigures(TypedDict):
    """One wiring's run (results["stack"][architecture] in the JSON; bench/plan.py reads it)."""

    videos: int
    accounted_for: bool
    results: int
    failed: int
    exact_bucket_contents: bool
    results_correct: bool | None
    wall_s: float | None  # first upload → last result, as polled
    videos_per_s: float | None
    per_video_latency_s: LatencySummary | None
    functions: dict[str, dict]  # function name → the local runtime's summary
    provisioned: bool
    objects: dict[str, dict[str, int]]  # bucket role → count, bytes
    log_bytes: dict[str, int]  # function name → bytes it logged


def bench_stack(
    args: argparse.Namespace, files: list[Path], db: Path | None, expect: Expectation | None, architecture: str
) -> StackFigures:
    from local.session import run_videos
    from local.stack import LocalStack, load_settings

    settings = load_settings(args.stack, db=db, architecture=architecture)
    logs = args.work / f"logs-{architecture}"
    logs.mkdir(parents=True, exist_ok=True)
    quiet = lambda _line: None  # noqa: E731 - the bench prints its own table
    log_files = {role: logs / f"{settings.function(role).name}.log" for role in topology.FUNCTIONS}
    logged_before = {role: f.stat().st_size if f.exists() else 0 for role, f in log_files.items()}
    with LocalStack(
        settings,
        model_dir=args.model_dir,
        concurrency=args.concurrency,
        log_dir=logs,
        provisioned=not args.cold,
        log=quiet,
    ) as stack:
        print(f"[bench] {architecture}: {len(files)} videos through the local stack", file=sys.stderr)
        report = run_videos(stack, files, expect=expect, timeout_s=args.timeout, progress=False)
    local = report["local"]
    observed = report["latency_s"]["observed"]  # run_videos always adds it
    wall = observed["end_to_end"]
    # What the run left, for the cost plan (bench/plan.py): each bucket's objects and each function's
    # log bytes (START/END/REPORT and its JSON lines, as CloudWatch Logs would ingest them).
    objects = {
        bucket: {"count": len(listed), "bytes": sum(o["size"] for o in listed)}
        for bucket, listed in report["objects"].items()
    }
    log_bytes = {settings.function(role).name: f.stat().st_size - logged_before[role] for role, f in log_files.items()}
    return {
        "videos": len(files),
        "accounted_for": local["accounted_for"],
        "results": local["succeeded"],
        "failed": len(local["failed"]),
        "exact_bucket_contents": report["checks"].get("stage1_exact") and report["checks"].get("output_exact"),
        "results_correct": report["checks"].get("results_correct"),
        "wall_s": wall,
        "videos_per_s": round(len(files) / wall, 2) if wall else None,
        "per_video_latency_s": observed["per_video"],
        "functions": local["functions"],
        "provisioned": not args.cold,
        "objects": objects,
        "log_bytes": log_bytes,
    }
