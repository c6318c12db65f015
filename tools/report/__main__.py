"""`python -m tools.report --out DIR`: the HTML report of any stack, AWS or local.

    python -m tools.report --out out/report --outputs out/local/outputs.json   # a local stack (`local serve`)
    python -m tools.report --out out/report --stack Pulumi.dev.yaml             # a deployed one

Reads what tools.grade reads (every video in the input bucket, its result, the dead-letter records
of those without one), each timeline, and from the library bucket each answer's faces; writes
DIR/index.html and a page per video. Exit status: 0 when written; 2, 3, 4 as the other tools
(bad arguments or stack, unreachable endpoint, credentials).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components import topology
from tools import cli
from tools.target import Target, add_analysis_argument, failure_status, preflight, resolve_target
from tools.workload import add_target_arguments


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m tools.report", __doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the report into (made if missing)")
    parser.add_argument("--prefix", default="", help="only videos uploaded under this key prefix")
    add_analysis_argument(parser)
    add_target_arguments(parser)
    parser.add_argument(
        "--library-bucket", help="report.json and thumbnails (default: the outputs', or <prefix>-library)"
    )
    args = parser.parse_args(argv)
    try:
        target = resolve_target(args)
    except Exception as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    try:
        index = run(target, args)
    except Exception as exc:
        return failure_status("report", exc, target)
    print(f"html report: {index}")
    return 0


def run(target: Target, args: argparse.Namespace) -> Path:
    from tools import grade
    from tools.report.site import from_stack

    preflight(target)
    s3 = target.client("s3")
    report = grade.grade(s3, target.buckets, prefix=args.prefix, analysis=target.analysis)
    grade.add_dead_letters(report, target.client("sqs"), target)
    return from_stack(s3, target.buckets, library_bucket(target, args), report, args.out, source=target.source)


def library_bucket(target: Target, args: argparse.Namespace) -> str | None:
    """The stack's library bucket: --library-bucket, its outputs' libraryBucket, else <prefix>-library."""
    from components.library import OUTPUT_BUCKET
    from tools.target import read_outputs

    if args.library_bucket:
        return str(args.library_bucket)
    outputs = read_outputs(args.outputs) if getattr(args, "outputs", None) else {}
    if outputs.get(OUTPUT_BUCKET):
        return str(outputs[OUTPUT_BUCKET])
    output = target.buckets.output
    return output[: -len("-output")] + f"-{topology.LIBRARY}" if output.endswith("-output") else None


if __name__ == "__main__":
    sys.exit(main())
