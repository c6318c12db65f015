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

import argparse
import json
import sys
import time
from pathlib import Path

from pipeline_common import keys
from tools import cli
from tools.grading.checks import grade
from tools.grading.expectations import (
    COURSE_NAMES,
    Expectation,
    course_expectation,
    load_expectation,
    mapping_expectation,
)
from tools.grading.reading import dead_letter_check, list_objects, snapshot, wait_for_results
from tools.grading.records import Report
from tools.grading.report import format_table, markdown_table
from tools.grading.story import add_cloudwatch, add_dead_letters, run_window, wait_for_figures
from tools.target import Target, add_analysis_argument, failure_status, preflight, resolve_target
from tools.workload import add_target_arguments

# What tests and older callers import from here; the parts live in tools/grading/.
__all__ = [
    "COURSE_NAMES",
    "Expectation",
    "course_expectation",
    "format_table",
    "markdown_table",
    "grade",
    "load_expectation",
    "mapping_expectation",
    "main",
    "run",
]


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
    add_analysis_argument(parser)
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


def run(target: Target, args: argparse.Namespace, expect: Expectation | None, uploads: list[str] | None) -> Report:
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
        dead_lettered = dead_letter_check(target.client("sqs"), target)
        wait_for_results(s3, buckets, uploads, args.wait, progress=not args.no_progress, dead_lettered=dead_lettered)
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
