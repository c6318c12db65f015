"""The rest of the story, not judged: what CloudWatch says each function did from the first upload
on (tools/cloudwatch.py), and for every video without a result the dead-letter record that says why
(tools/dead_letters.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from components import topology
from tools import cloudwatch as cw
from tools import dead_letters as dl
from tools.grading.reading import timestamp
from tools.grading.records import Contents, Report
from tools.target import Target, aws_failure

if TYPE_CHECKING:
    from botocore.client import BaseClient


def run_window(report: Report, contents: Contents | None = None) -> datetime | None:
    """When the graded run began: its first upload's LastModified."""
    uploads = {r["video"] for r in report["videos"]}
    times = [timestamp(o["last_modified"]) for o in (contents or {}).get("input", []) if o["key"] in uploads]
    return datetime.fromtimestamp(min(times), UTC) if times else None


def add_cloudwatch(report: Report, cloudwatch: BaseClient, functions: dict[str, str], since: datetime | None) -> None:
    """report["cloudwatch"]: each function's figures from `since` (the first upload) until now."""
    if since is None:
        return
    now = datetime.now(UTC)
    figures = cw.function_figures(cloudwatch, list(functions.values()), since, now)
    report["cloudwatch"] = {
        "since": since.isoformat(),
        "until": now.isoformat(),
        "functions": {name: f.as_dict() for name, f in figures.items()},
        "roles": dict(functions),
    }


def wait_for_figures(
    report: Report, cloudwatch: BaseClient, functions: dict[str, str], since: datetime | None, timeout_s: float
) -> None:
    """CloudWatch lags a run (by up to a few minutes on AWS, seconds locally): wait until each
    function has at least the invocations the buckets show (one per upload for the splitter, one
    per frame for the recognizer), or time runs out."""
    deadline = time.monotonic() + timeout_s
    wanted = {topology.SPLITTER: report["uploads"], topology.RECOGNIZER: report["stage1"]["present"]}
    while True:
        add_cloudwatch(report, cloudwatch, functions, since)
        got = report.get("cloudwatch", {}).get("functions", {})
        counted = {role: got.get(name, {}).get("invocations", 0) for role, name in functions.items()}
        if all(counted.get(role, 0) >= n for role, n in wanted.items()):
            return
        if time.monotonic() >= deadline:
            report.setdefault("cloudwatch", {})["incomplete"] = True
            return
        time.sleep(2.0)


def add_dead_letters(report: Report, sqs: BaseClient, target: Target) -> None:
    """report["dead_letters"]: each queue's records, and for every video without a result the
    record that explains it (also in that video's note)."""
    queues: dict[str, int] = {}
    problems: list[str] = []
    records: list[tuple[str, dict]] = []
    for role, url in target.dead_letter_queues.items():
        name = f"{target.functions[role]}-dlq"
        try:
            url = url or sqs.get_queue_url(QueueName=name)["QueueUrl"]
            found = dl.peek(sqs, url)
        except Exception as exc:  # a queue this stack does not have, or may not read: say so, go on
            if aws_failure(exc) is not None:
                raise
            problems.append(f"{name}: {exc}")
            continue
        queues[dl.queue_name(url)] = len(found)
        records.extend((dl.queue_name(url), r) for r in found)
    without = [r["video"] for r in report["videos"] if r["result"] is None]
    explained = dl.match(records, target.buckets, without) if without else {}
    for row in report["videos"]:
        if row["video"] in explained and not row["note"]:
            row["note"] = "dead-lettered: " + dl.explain(*explained[row["video"]], message=False)
    report["dead_letters"] = {
        "queues": queues,
        "videos": {video: dl.explain(*found) for video, found in explained.items()},
        "unexplained": [v for v in without if v not in explained],
        "problems": problems,
    }


def story_lines(report: Report) -> list[str]:
    """CloudWatch's figures and the dead-letter explanations, for people."""
    lines = []
    figures = report.get("cloudwatch")
    if figures and figures.get("functions"):
        lines.append(
            f"CloudWatch, {figures['since'][:19]} to {figures['until'][:19]} UTC"
            + (" (still incomplete: CloudWatch lags the run)" if figures.get("incomplete") else "")
            + ":"
        )
        for name, f in figures["functions"].items():
            lines.append("  " + cw.describe(name, cw.FunctionFigures(**f)))
    dead = report.get("dead_letters")
    if dead:
        lines.append(
            "dead-letter queues: "
            + (", ".join(f"{q} {n} message(s)" for q, n in dead["queues"].items()) or "none readable")
        )
        for video, why in dead["videos"].items():
            lines.append(f"  {video}: {why}")
        for video in dead["unexplained"]:
            lines.append(f"  {video}: no result and no dead-letter record (still running, or lost)")
        for problem in dead["problems"]:
            lines.append(f"  could not read {problem}")
    return lines
