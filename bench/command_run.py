"""6. command: `python -m local run` as a user runs it, timed from outside: from the command to a
ready stack (its "stack up" line), first upload to the last outcome, from the last outcome to the
process's exit, and in all. The local stack's fixed cost is what every run and every test pays."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TypedDict

from components.project import PROJECT_DIR

READY_LINE = " stack up: "  # what LocalStack.start() logs once the stack is up


class CommandRun(TypedDict):
    ready_s: float | None  # spawn → the "stack up" line
    outcomes_s: float  # first upload → every video accounted for
    exit_s: float  # last outcome seen → the process gone
    total_s: float  # spawn → the process gone
    exit_code: int
    accounted_for: bool


class CommandFigures(TypedDict):
    videos: int
    runs: list[CommandRun]
    median: dict[str, float | None]  # each figure's median over the runs


def bench_command(args: argparse.Namespace, videos: Path, db: Path | None, count: int) -> CommandFigures:
    runs = [_one_run(args, videos, db, args.work / f"command-{i}") for i in range(args.command_runs)]
    figures: dict[str, list[float | None]] = {
        "ready_s": [r["ready_s"] for r in runs],
        "outcomes_s": [r["outcomes_s"] for r in runs],
        "exit_s": [r["exit_s"] for r in runs],
        "total_s": [r["total_s"] for r in runs],
    }
    return {"videos": count, "runs": runs, "median": {key: _median(values) for key, values in figures.items()}}


def _median(values: list[float | None]) -> float | None:
    measured = [v for v in values if v is not None]
    return round(statistics.median(measured), 3) if measured else None


def _one_run(args: argparse.Namespace, videos: Path, db: Path | None, work: Path) -> CommandRun:
    work.mkdir(parents=True, exist_ok=True)
    report = work / "report.json"
    command = [sys.executable, "-m", "local", "run", "--videos", str(videos), "--stack", str(args.stack)]
    command += ["--torch-home", str(args.torch_home), "--logs", str(work / "logs"), "--report", str(report)]
    command += ["--no-progress", *(["--db", str(db)] if db else [])]
    command += ["--expect", args.expect] if args.expect else []
    print(f"[bench] command: python -m local run on {videos}", file=sys.stderr)
    spawned = time.time()
    proc = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ready = None
    assert proc.stderr is not None
    for line in proc.stderr:  # read to the end: a full pipe would stall the run
        if ready is None and READY_LINE in line:
            ready = time.time()
    code = proc.wait()
    ended = time.time()
    local = json.loads(report.read_text(encoding="utf-8"))["local"]
    return {
        "ready_s": round(ready - spawned, 3) if ready else None,
        "outcomes_s": local["wall_s"]["until_last_outcome"],
        "exit_s": round(ended - local["last_outcome_at"], 3),
        "total_s": round(ended - spawned, 3),
        "exit_code": code,
        "accounted_for": local["accounted_for"],
    }
