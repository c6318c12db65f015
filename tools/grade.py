"""The course grader's checks, against any stack (AWS or local): bucket contents, each result,
latency, what CloudWatch says each function did, and why any video has no result. Prints a table;
`--json FILE` writes the full report.

    python -m tools.grade --expect course [--outputs FILE | --stack Pulumi.dev.yaml] [--wait 300] [--json grade.json]
    python -m tools.grade --expect expected.json --outputs out/local/outputs.json      # a local stack

What it checks, for every upload (every video in the input bucket, or the files of `--videos DIR`):
- stage-1 holds exactly `<stem>.jpg` for each upload, and nothing else;
- output holds exactly `<stem>.txt` for each upload, and nothing else;
- each result (whitespace stripped) is the expected name, and which face database version gave it
  (the recognizer names it in the result's metadata); `--expect course` is the course's rule,
  ["Trump", "Biden", "Bean", "Depp", "Diesel", "Floki", "Freeman", "Obama"][NN % 8] for `..._NN`;
  `--expect FILE.json` maps a video's key, file name or stem to its name;
- latency from S3's LastModified times: per video (upload → frame, upload → result) and end to
  end (first upload → last result; the course allows 300 s for 100 uploads). S3 keeps
  LastModified to the second, so on AWS each figure is good to about ±1 s.

And tells the rest of the story, not judged: each function's CloudWatch figures from the first
upload on (invocations, errors, throttles, average and maximum duration, maximum concurrency;
tools/cloudwatch.py), and for every video without a result the dead-letter record that says why
(tools/dead_letters.py), read from the queues the stack's outputs name.

Exit status: 0 for `PASSED: yes`, 1 for `PASSED: NO (failed: ...)`; 2 for bad arguments or a stack
that is not there, 3 when the endpoint cannot be reached, 4 when credentials are missing or
refused (one line says which, no traceback). `--wait` shows its progress on a terminal only.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from components import topology
from pipeline_common import keys
from tools import cli, timelines
from tools import cloudwatch as cw
from tools import dead_letters as dl
from tools.target import Target, aws_failure, failure_status, preflight, resolve_target
from tools.workload import Buckets, add_target_arguments

COURSE_NAMES = ["Trump", "Biden", "Bean", "Depp", "Diesel", "Floki", "Freeman", "Obama"]
COURSE_DEADLINE_S = 300
_TRAILING_NUMBER = re.compile(r"(\d+)$")

Expectation = Callable[[str], str | None]


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


def _stem_name(key: str) -> str:
    return posixpath.splitext(posixpath.basename(key))[0]


def course_expectation(key: str) -> str | None:
    """The course's expected name for `test_NN.mp4` (NN % 8); None for a key without a number."""
    match = _TRAILING_NUMBER.search(_stem_name(key))
    return COURSE_NAMES[int(match.group(1)) % len(COURSE_NAMES)] if match else None


class MappingExpectation:
    """Labels from a mapping {video: label}, looked up by the video's key, then its file name, then
    its stem. Called, it gives the text answer the label expects; `label` gives the whole label, which
    in timeline mode also says who appears (and when: tools/timelines.py)."""

    def __init__(self, mapping: dict[str, Any]):
        for video, value in mapping.items():
            timelines.check_label(value, str(video))
        self.mapping = mapping
        self.label = timelines.lookup_in(mapping)

    def __call__(self, key: str) -> str | None:
        return timelines.answer_of(self.label(key))


def mapping_expectation(mapping: dict[str, Any]) -> MappingExpectation:
    return MappingExpectation(mapping)


def timeline_labels(expect: Expectation | None, key: str) -> timelines.Labels | None:
    """Who a video should show (and when, if labelled): from its whole label, or its expected name."""
    if expect is None:
        return None
    if isinstance(expect, MappingExpectation):
        return timelines.labels_of(expect.label(key), key)
    return timelines.labels_of(expect(key), key)


def load_expectation(spec: str | None) -> Expectation | None:
    """`course`, a JSON file {video: name}, or None (results are reported, not judged)."""
    if spec is None:
        return None
    if spec == "course":
        return course_expectation
    path = Path(spec)
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--expect {spec}: neither 'course' nor a readable JSON file ({exc})") from None
    if not isinstance(mapping, dict):
        raise ValueError(f"--expect {spec}: expected a JSON object {{video: name}}")
    try:
        return mapping_expectation(mapping)
    except timelines.LabelError as exc:
        raise ValueError(f"--expect {spec}: {exc}") from None


# -- reading a stack ---------------------------------------------------------------------------------


def list_objects(s3, bucket: str) -> list[dict]:
    """Every object in a bucket: key, size, ETag, LastModified (ISO, UTC)."""
    objects = []
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


def snapshot(s3, buckets: Buckets) -> dict[str, list[dict]]:
    return {role: list_objects(s3, name) for role, name in buckets.as_dict().items()}


# The recognizer's result metadata naming the database version that answered
# (face_recognizer.service.VERSION_METADATA; boto3 gives metadata keys in lower case).
VERSION_METADATA = "face-db-version"


def read_timelines(s3, bucket: str, timeline_keys: list[str]) -> dict[str, dict | None]:
    """analysis: timeline: each `<stem>.json` in short (timelines.summary); None for one that is not JSON."""

    def read(key: str) -> tuple[str, dict | None]:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            return key, timelines.summary(json.loads(body))
        except (ValueError, KeyError, TypeError, AttributeError):
            return key, None

    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(pool.map(read, timeline_keys))


def read_results(s3, bucket: str, result_keys: list[str]) -> dict[str, tuple[str, str | None]]:
    """Each result's text and the database version that gave it (None for a result written without one)."""

    def read(key: str) -> tuple[str, tuple[str, str | None]]:
        response = s3.get_object(Bucket=bucket, Key=key)
        text = response["Body"].read().decode("utf-8", errors="replace").strip()
        return key, (text, (response.get("Metadata") or {}).get(VERSION_METADATA))

    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(pool.map(read, result_keys))


def wait_for_results(s3, buckets: Buckets, uploads: list[str], timeout_s: float, *, progress: bool = True) -> bool:
    """Poll the output bucket until every upload has its result, or time runs out; on a terminal a
    progress bar counts the results (nothing is drawn when stderr is a pipe or a file)."""
    from tqdm import tqdm

    wanted = {keys.result_key(keys.frame_key(k)) for k in uploads}
    deadline = time.monotonic() + timeout_s
    # disable=None: tqdm draws only on a terminal.
    drawn = None if progress else True
    with tqdm(total=len(wanted), unit="result", desc="waiting", file=sys.stderr, disable=drawn) as bar:
        while True:
            present = {o["key"] for o in list_objects(s3, buckets.output)} & wanted
            bar.update(len(present) - bar.n)
            if len(present) == len(wanted):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(1.0)


# -- the rest of the story: CloudWatch and the dead-letter queues --------------------------------


def run_window(report: dict, contents: dict[str, list[dict]] | None = None) -> datetime | None:
    """When the graded run began: its first upload's LastModified."""
    uploads = {r["video"] for r in report["videos"]}
    times = [_timestamp(o["last_modified"]) for o in (contents or {}).get("input", []) if o["key"] in uploads]
    return datetime.fromtimestamp(min(times), UTC) if times else None


def add_cloudwatch(report: dict, cloudwatch, functions: dict[str, str], since: datetime | None) -> None:
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
    report: dict, cloudwatch, functions: dict[str, str], since: datetime | None, timeout_s: float
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


def add_dead_letters(report: dict, sqs, target: Target) -> None:
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


def story_lines(report: dict) -> list[str]:
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


# -- grading -----------------------------------------------------------------------------------------


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _when(iso: str | None) -> float | None:
    return _timestamp(iso) if iso else None


def grade(
    s3,
    buckets: Buckets,
    *,
    expect: Expectation | None = None,
    uploads: list[str] | None = None,
    contents: dict[str, list[dict]] | None = None,
    prefix: str = "",
    analysis: str = topology.FIRST_FRAME,
) -> dict:
    """The report: bucket checks, one row per upload, latency. `uploads` defaults to every video in
    the input bucket; `contents` is a snapshot() already taken; with `prefix`, only keys under it
    count, in every bucket (several runs can then share a stack). `analysis` TIMELINE: stage-1
    holds one `<stem>.tar` per upload, output `<stem>.txt` and `<stem>.json`, and each timeline is
    judged against the labels (tools/timelines.py)."""
    timeline = analysis == topology.TIMELINE
    contents = contents if contents is not None else snapshot(s3, buckets)
    by_role = {role: {o["key"]: o for o in objs if o["key"].startswith(prefix)} for role, objs in contents.items()}
    inputs = by_role["input"]
    if uploads is None:
        uploads = sorted(k for k in inputs if keys.is_video(k))
    frames = {k: keys.frames_key(k) if timeline else keys.frame_key(k) for k in uploads}
    results = {k: keys.result_key(f) for k, f in frames.items()}
    timeline_keys = {k: keys.timeline_key(f) for k, f in frames.items()} if timeline else {}

    def exact(role: str, wanted: set[str]) -> dict:
        have = set(by_role[role])
        return {
            "expected": len(wanted),
            "present": len(have & wanted),
            "missing": sorted(wanted - have),
            "extra": sorted(have - wanted),
        }

    stage1 = exact("stage-1", set(frames.values()))
    output = exact("output", set(results.values()) | set(timeline_keys.values()))
    texts = read_results(s3, buckets.output, sorted(set(results.values()) & set(by_role["output"])))
    found = read_timelines(s3, buckets.output, sorted(set(timeline_keys.values()) & set(by_role["output"])))

    rows: list[VideoRow] = []
    for video in uploads:
        frame, result = frames[video], results[video]
        uploaded = _when(inputs.get(video, {}).get("last_modified"))
        framed = _when(by_role["stage-1"].get(frame, {}).get("last_modified"))
        done = _when(by_role["output"].get(result, {}).get("last_modified"))
        expected = expect(video) if expect else None
        got, version = texts.get(result, (None, None))
        extra: dict = {}
        if timeline:
            summary = found.get(timeline_keys[video])
            labels = timeline_labels(expect, video)
            extra = {
                "timeline": summary,
                "timeline_judged": None if labels is None or summary is None else timelines.judge(summary, labels),
                "labels": labels,
            }
        rows.append(
            {
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
                **extra,
            }
        )

    judged = [r for r in rows if r["expected"] is not None]
    latencies = [r["result_latency_s"] for r in rows if r["result_latency_s"] is not None]
    # A listed object always has its LastModified (snapshot()), so these are never None.
    first_upload = min((_timestamp(inputs[k]["last_modified"]) for k in uploads if k in inputs), default=None)
    last_result = max(
        (_timestamp(by_role["output"][r]["last_modified"]) for r in results.values() if r in by_role["output"]),
        default=None,
    )
    end_to_end = round(last_result - first_upload, 3) if first_upload and last_result else None
    checks = {
        "uploads_present": all(r["uploaded"] for r in rows),
        "stage1_exact": not stage1["missing"] and not stage1["extra"],
        "output_exact": not output["missing"] and not output["extra"],
        "results_correct": all(r["correct"] for r in judged) if judged else None,
        "within_deadline": end_to_end is not None and end_to_end <= COURSE_DEADLINE_S and not output["missing"],
    }
    judged_timelines = [r for r in rows if r.get("labels") is not None]
    if timeline:
        checks["timelines_correct"] = (
            all((r.get("timeline_judged") or {}).get("correct", False) for r in judged_timelines)
            if judged_timelines
            else None
        )
    return {
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
        **(
            {
                "timeline_scores": timelines.scores(
                    [
                        (summary_, labels_)
                        for r in judged_timelines
                        if (summary_ := r.get("timeline")) and (labels_ := r.get("labels")) is not None
                    ]
                ),
                "timelines_correct": sum(
                    1 for r in judged_timelines if (r.get("timeline_judged") or {}).get("correct")
                ),
                "timelines_judged": len(judged_timelines),
            }
            if timeline
            else {}
        ),
        "latency_s": {
            "end_to_end": end_to_end,
            "per_video": latency_summary(latencies),
            "source": "S3 LastModified (whole seconds on AWS)",
        },
        "videos": rows,
    }


def latency_summary(seconds: list[float]) -> dict | None:
    """n, p50, max and mean of per-video latencies (seconds), or None when there are none."""
    if not seconds:
        return None
    return {
        "n": len(seconds),
        "p50": round(statistics.median(seconds), 3),
        "max": round(max(seconds), 3),
        "mean": round(statistics.fmean(seconds), 3),
    }


def _mark(value) -> str:
    return {True: "yes", False: "NO", None: "-"}[value]


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def table_rows(report: dict) -> list[list[str]]:
    """The per-video table: a header row, then one row per video (format_table, markdown_table)."""
    headers = ["video", "frame", "result", "expected", "ok", "frame s", "result s", "database"]
    timeline = report.get("analysis") == topology.TIMELINE
    if timeline:  # who appears when, and whether that is what the labels say
        headers[1] = "frames"
        headers += ["timeline", "as labelled"]
    notes = any(r.get("note") for r in report["videos"])
    if notes:
        headers.append("note")

    mark, num = _mark, _num
    # A local run also records when it saw each object, finer than S3's whole-second LastModified.
    observed = report["latency_s"].get("observed")
    frame_col, result_col = ("frame_seen_s", "result_seen_s") if observed else ("frame_latency_s", "result_latency_s")
    table = [headers]
    for r in report["videos"]:
        row = [
            r["video"],
            r["frame"] if r["frame_present"] else "(missing)",
            r["result"] if r["result"] is not None else "(missing)",
            r["expected"] if r["expected"] is not None else "-",
            mark(r["correct"]),
            num(r.get(frame_col)),
            num(r.get(result_col)),
            r.get("face_db_version") or "-",
        ]
        if timeline:
            found, judged = r.get("timeline"), r.get("timeline_judged")
            row.append(timelines.describe(found) if found else "(missing)")
            row.append("-" if judged is None else mark(judged["correct"]) + _differences(judged))
        if notes:
            row.append(r.get("note", ""))
        table.append(row)
    return table


def format_table(report: dict) -> str:
    """The per-video table and a summary, for people."""
    table = table_rows(report)
    lines = _aligned(table)
    lines.append("")
    lines.extend(summary_lines(report))
    return "\n".join(lines)


def _aligned(table: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _markdown_cell(value: object) -> str:
    """A table cell's text for Markdown: pipes escaped, no line breaks, HTML's specials escaped."""
    text = " ".join(str(value).split())
    return html.escape(text, quote=False).replace("|", "\\|")


def markdown_table(report: dict) -> str:
    """The same table and summary as Markdown (GitHub's tables), for a CI step summary:
    `python -m tools.grade ... --markdown >> "$GITHUB_STEP_SUMMARY"`."""
    table = table_rows(report)
    lines = ["| " + " | ".join(_markdown_cell(c) for c in table[0]) + " |"]
    lines.append("|" + "|".join(" --- " for _ in table[0]) + "|")
    lines.extend("| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in table[1:])
    lines.append("")
    lines.extend(f"- {_markdown_cell(line.strip())}" for line in summary_lines(report) if line.strip())
    return "\n".join(lines)


def summary_lines(report: dict) -> list[str]:
    """What the table is followed by: the bucket checks, the answers, latency, the story, the verdict."""
    lines: list[str] = []
    mark = _mark
    num = _num
    c, s1, out, lat = report["checks"], report["stage1"], report["output"], report["latency_s"]

    def detail(part: dict) -> str:
        bits = [f"{part['present']}/{part['expected']}"]
        if part["missing"]:
            bits.append(
                f"missing {len(part['missing'])}: {', '.join(part['missing'][:5])}"
                + (" …" if len(part["missing"]) > 5 else "")
            )
        if part["extra"]:
            bits.append(
                f"extra {len(part['extra'])}: {', '.join(part['extra'][:5])}" + (" …" if len(part["extra"]) > 5 else "")
            )
        return "; ".join(bits)

    timeline = report.get("analysis") == topology.TIMELINE
    observed = report["latency_s"].get("observed")
    if timeline:
        lines.append(f"stage-1 exactly one <stem>.tar per upload: {mark(c['stage1_exact'])} ({detail(s1)})")
        lines.append(f"output exactly <stem>.txt and <stem>.json per upload: {mark(c['output_exact'])} ({detail(out)})")
    else:
        lines.append(f"stage-1 exactly one <stem>.jpg per upload: {mark(c['stage1_exact'])} ({detail(s1)})")
        lines.append(f"output exactly one <stem>.txt per upload:  {mark(c['output_exact'])} ({detail(out)})")
    if report["judged"]:
        lines.append(f"results as expected: {mark(c['results_correct'])} ({report['correct']}/{report['judged']})")
    else:
        lines.append("results as expected: - (no expectation given)")
    if timeline:
        if report.get("timelines_judged"):
            lines.append(
                f"timelines as labelled (within one sampling interval): {mark(c.get('timelines_correct'))} "
                f"({report['timelines_correct']}/{report['timelines_judged']}); per person:"
            )
            lines.extend(timelines.score_lines(report.get("timeline_scores") or {}))
        else:
            lines.append("timelines as labelled: - (no labels given)")
    answered: dict[str, int] = {}
    for r in report["videos"]:
        if r["result"] is not None:
            version = r.get("face_db_version") or "(not named)"
            answered[version] = answered.get(version, 0) + 1
    if answered:
        lines.append("face database versions that answered: " + ", ".join(f"{v} ({n})" for v, n in answered.items()))
    for figures in ([observed] if observed else []) + [lat]:
        per = figures["per_video"]
        lines.append(
            f"end to end (first upload → last result): {num(figures['end_to_end'])} s"
            + (f"; per video p50 {per['p50']:.2f} s, max {per['max']:.2f} s" if per else "")
            + f"  [{figures['source']}]"
        )
    lines.extend(story_lines(report))
    lines.append(verdict(report))
    return lines


def _differences(judged: dict) -> str:
    bits = [f"missing {', '.join(judged['missing'])}"] if judged["missing"] else []
    bits += [f"extra {', '.join(judged['extra'])}"] if judged["extra"] else []
    bits += [
        f"{name} {t['covered_s']:g}/{t['labelled_s']:g} s labelled, {t['within_s']:g}/{t['found_s']:g} s found"
        for name, t in judged["times"].items()
        if abs(t["covered_s"] - t["labelled_s"]) > 1e-3 or abs(t["within_s"] - t["found_s"]) > 1e-3
    ]
    return f" ({'; '.join(bits)})" if bits else ""


# What each check means, for the verdict line.
CHECK_NAMES = {
    "uploads_present": "every upload in the input bucket",
    "stage1_exact": "stage-1 contents",
    "output_exact": "output contents",
    "results_correct": "results as expected",
    "within_deadline": f"every result within {COURSE_DEADLINE_S} s",
    "timelines_correct": "timelines as labelled",
}


def verdict(report: dict) -> str:
    """`PASSED: yes`, or `PASSED: NO (failed: ...)` naming each check that failed. The tools' exit
    status follows this line: 0 for yes, 1 for NO."""
    if report["passed"]:
        return "PASSED: yes"
    failed = [CHECK_NAMES[name] for name, ok in report["checks"].items() if ok is False]
    if not report["uploads"]:
        failed.insert(0, "no uploads to grade")
    if report.get("hint"):
        failed.append(report["hint"])
    return f"PASSED: NO (failed: {'; '.join(failed)})"


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m tools.grade", __doc__)
    parser.add_argument(
        "--expect",
        help="'course' (the NN %% 8 rule) or a JSON file {video: label}: a name, or in timeline mode also who "
        "appears and when (tools/timelines.py)",
    )
    parser.add_argument(
        "--videos", type=Path, help="the folder that was uploaded (default: what the input bucket holds)"
    )
    parser.add_argument("--prefix", default="", help="key prefix the videos were uploaded under")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for every result first")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument(
        "--markdown", action="store_true", help="print the table and summary as Markdown (a CI step summary)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar while waiting")
    parser.add_argument(
        "--analysis",
        choices=topology.ANALYSES,
        help="what the stack makes of a video (default: its outputs' or stack file's `analysis`)",
    )
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    try:
        expect = load_expectation(args.expect)
        target = resolve_target(args)
        uploads = None
        if args.videos:
            from tools.workload import video_files

            uploads = [args.prefix + f.name for f in video_files(args.videos)]
    except Exception as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    try:
        report = run(target, args, expect, uploads)
    except Exception as exc:
        return failure_status("grade", exc, target)
    print(markdown_table(report) if args.markdown else format_table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"report: {args.json}")
    return 0 if report["passed"] else 1


def run(target: Target, args, expect: Expectation | None, uploads: list[str] | None) -> dict:
    preflight(target)
    buckets = target.buckets
    s3 = target.client("s3")
    started = time.monotonic()
    if args.wait:
        if uploads is None:
            uploads = sorted(
                o["key"]
                for o in list_objects(s3, buckets.input)
                if o["key"].startswith(args.prefix) and keys.is_video(o["key"])
            )
        wait_for_results(s3, buckets, uploads, args.wait, progress=not args.no_progress)
    contents = snapshot(s3, buckets)
    report = grade(
        s3, buckets, expect=expect, uploads=uploads, contents=contents, prefix=args.prefix, analysis=target.analysis
    )
    since = run_window(report, contents)
    cloudwatch = target.client("cloudwatch")
    if args.wait:
        left = max(0.0, args.wait - (time.monotonic() - started))
        wait_for_figures(report, cloudwatch, target.functions, since, left)
    else:
        add_cloudwatch(report, cloudwatch, target.functions, since)
    add_dead_letters(report, target.client("sqs"), target)
    return report


if __name__ == "__main__":
    sys.exit(main())
