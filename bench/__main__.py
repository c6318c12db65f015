"""`make bench`: how fast and how big each function is, alone and through the local stack.

    python -m bench                                    # sample videos it makes, enrolled faces
    python -m bench --videos ../shared/data/cse546/test_case_2 --db ../shared/data/cse546/data.pt
    python -m bench --skip-stack | --skip-core | --skip-largest-frame | --skip-timeline | --cold ...
    python -m bench --command-runs N                   # `python -m local run` timed from outside (0: none)
    python -m bench --baseline | --int8 | --architectures direct-invocation

Parts (core, stack, largest frame, live database, timeline, command) and what each measures: bench/README.md.
Prints a table and writes every figure, with machine and versions, to out/bench/; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.command_run import bench_command
from bench.core import bench_core, compare_precisions
from bench.image import bench_image
from bench.largest_frame import bench_largest_frame
from bench.live_database import bench_live_database
from bench.stack_run import bench_stack
from bench.table import table
from bench.timeline import bench_timeline
from components.project import DEFAULT_STACK_FILE, DEFAULT_TORCH_HOME, OUT_DIR
from components.topology import ARCHITECTURES
from tools import cli, exported

if TYPE_CHECKING:
    from tools.grading.expectations import Expectation

DEFAULT_WORK = OUT_DIR / "bench"


def prepare_inputs(args: argparse.Namespace, model_dir: Path) -> tuple[list[Path], Path | None, Expectation | None]:
    """The videos, the face database (the samples' enrolled with the models in `model_dir`), and what
    each video should give."""
    from tools.demo.samples import sample_workload
    from tools.grading.expectations import load_expectation
    from tools.workload import video_files

    if args.videos is not None:
        return video_files(args.videos), args.db, load_expectation(args.expect)
    videos, db, expect = sample_workload(args.work / "samples", model_dir, copies=args.copies, tag="bench")
    return video_files(videos), db, expect


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m bench", __doc__)
    parser.add_argument("--videos", type=Path, help="folder of videos (default: sample videos the bench makes)")
    parser.add_argument("--db", type=Path, help="face database for --videos (default: the stack's faceDatabase)")
    parser.add_argument("--expect", help="with --videos: 'course' (NN %% 8) or a JSON file {video: name}")
    parser.add_argument("--stack", type=Path, default=DEFAULT_STACK_FILE)
    exported.add_arguments(
        parser,
        torch_home_default=DEFAULT_TORCH_HOME,
        torch_home_help="vggface2 weights, exported to the recognizer's models (the untrained stand-in is "
        "written when missing; default: data/torch); --int8 and --baseline need them",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="warm passes over the inputs per function, and reloads per live database (default 3)",
    )
    parser.add_argument("--copies", type=int, default=4, help="sample videos per person (default 4)")
    parser.add_argument(
        "--threads",
        type=int,
        help="recognizer inference threads alone (default: what the stack's memory setting gives, as deployed)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also time the recognizer's PyTorch paths: the one the ONNX runtime replaced "
        "(FaceModels.load()) and the course's exact one (fast=False), on the same frames",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also time the recognizer with the int8 embedding beside float32 on "
        "the same frames, and compare their answers (the int8 embedding's export passes its gate first)",
    )
    parser.add_argument("--concurrency", type=int, help="local stack workers per function (default: the stack's)")
    parser.add_argument("--architectures", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES))
    parser.add_argument("--cold", action="store_true", help="stack runs include the workers' cold starts")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--skip-core", action="store_true")
    parser.add_argument("--skip-stack", action="store_true")
    parser.add_argument(
        "--command-runs",
        type=int,
        default=3,
        help="times to run `python -m local run` on the videos, timed from outside (start, run, exit; default 3; "
        "0 leaves it out)",
    )
    parser.add_argument(
        "--skip-largest-frame",
        action="store_true",
        help="leave out the peak memory of each function on an 8K video (a few seconds)",
    )
    parser.add_argument(
        "--skip-timeline",
        action="store_true",
        help="leave out analysis timeline (each function alone, per video and per frame; ~a minute)",
    )
    parser.add_argument(
        "--work", type=Path, default=DEFAULT_WORK, help="sample videos, logs and reports (default: out/bench)"
    )
    parser.add_argument("--out", type=Path, help="JSON report (default: WORK/bench-<time>.json and WORK/latest.json)")
    args = parser.parse_args(argv)
    if args.db is not None and args.videos is None:
        parser.error("--db needs --videos")
    if args.model_dir is not None and (args.int8 or args.baseline):
        parser.error("--int8 and --baseline export and run the weights: give --torch-home, not --model-dir")

    from bench.stats import machine
    from local.stack import load_settings

    args.work.mkdir(parents=True, exist_ok=True)
    try:
        files, db, expect = prepare_inputs(args, exported.resolve(args, stand_in=True))
        if not files:
            parser.error("no videos to run")
        settings = load_settings(args.stack, db=db)
        args.model_dir = exported.for_stack(args, settings, stand_in=True)  # what every part below runs
    except FileNotFoundError as exc:  # a --model-dir without an export
        parser.error(str(exc))
    results: dict = {
        "machine": machine(),
        "inputs": {
            "videos": str(args.videos or args.work / "samples" / "videos"),
            "count": len(files),
            "face_database": str(settings.face_database),
            "untrained_weights": exported.untrained(args.model_dir),
            "stack": str(args.stack),
            "repeat": args.repeat,
        },
    }
    if not args.skip_core:
        results["core"] = bench_core(args, settings, files)
        if args.int8:
            results["precisions"] = compare_precisions(results["core"])
        for r in results["core"].values():
            r.pop("answers", None)  # each object's answer: compared above, too bulky to keep
        results["image"] = bench_image(args, settings)
        if not args.skip_largest_frame:
            results["largest_frame"] = bench_largest_frame(args, settings)
        results["live_database"] = bench_live_database(settings, reloads=args.repeat)
        if not args.skip_timeline:
            results["timeline"] = bench_timeline(args, files, db)
    if not args.skip_stack:
        results["stack"] = {arch: bench_stack(args, files, db, expect, arch) for arch in args.architectures}
    if args.command_runs > 0:
        results["command"] = bench_command(args, Path(results["inputs"]["videos"]), db, len(files))
    print(table(results))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.out or args.work / f"bench-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2)
    out.write_text(text, encoding="utf-8")
    if args.out is None:
        (args.work / "latest.json").write_text(text, encoding="utf-8")
    print(f"figures: {out}")
    if results["inputs"]["untrained_weights"]:
        print("(untrained stand-in weights: the timings are those of the real networks; names are not)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
