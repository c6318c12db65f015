"""`python -m local`: the pipeline on this machine, wired as the stack file says.

    python -m local demo                        # sample faces → database → videos through the stack
    python -m local run --videos DIR [--db FILE] [--stack Pulumi.dev.yaml] [--architecture A]
                        [--concurrency N] [--report out.json] [--torch-home DIR | --model-dir DIR]
                        [--expect course|FILE]
    python -m local serve [--db FILE] [--outputs FILE] ...
                                                # keep a stack up for any AWS client; Ctrl-C stops it

Each run's files are its own, in out/local/<run-id>/ (logs; a serve's outputs file, readable by its
owner only, as it holds the stack's credentials; what a stop left without a result), and
out/local/latest points at the newest (local/runs.py).

Exit status of run and demo: what the verdict line says, 0 for `PASSED: yes` (every upload has
exactly its frame and its result, each as --expect says when given) and 1 for `PASSED: NO`, the line
naming each check that failed; 2 for bad arguments, settings, database or models (before anything
starts); 130 on Ctrl-C, 143 on SIGTERM. The stack is always stopped, workers and ports included.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from components.project import DEFAULT_STACK_FILE, DEFAULT_TORCH_HOME, OUT_DIR
from components.topology import ANALYSES, ARCHITECTURES
from local import runs
from tools import cli, exported

if TYPE_CHECKING:
    from types import FrameType

    from local.stack import LocalStack
    from tools.grading.expectations import Expectation

RUNS_DIR = OUT_DIR / "local"  # one folder per run (local/runs.py)
# A link to the outputs of the serve that claimed it and still runs: the path the tools' examples use.
DEFAULT_OUTPUTS = RUNS_DIR / "outputs.json"
DEMO_DIR = OUT_DIR / "demo"
DEFAULT_HTML = OUT_DIR / "local" / "html"


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C, so the stack's `with` block stops everything."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP all stop the stack and say so.

    SIGINT is set explicitly: a shell starts a script's background jobs with SIGINT ignored and
    Python keeps an inherited "ignore", so `serve &` from a script would otherwise ignore `kill -INT`.
    """

    def stop(signum: int, _frame: FrameType | None) -> NoReturn:
        raise Stopped(signum)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        help="face database ([embeddings, names]), or `live` (a faces bucket that tools.enroll fills, "
        "and the running recognizer reloads); default: the stack's faceDatabase",
    )
    parser.add_argument("--stack", type=Path, default=DEFAULT_STACK_FILE, help="stack file (default: Pulumi.dev.yaml)")
    parser.add_argument("--architecture", choices=ARCHITECTURES, help="override the stack file's wiring")
    parser.add_argument(
        "--analysis",
        choices=ANALYSES,
        help="override the stack file's analysis: first-frame (the course's answer) or timeline (who appears when)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="workers per function when its reserved concurrency is -1 (default 2); caps a reserved one",
    )
    exported.add_arguments(
        parser,
        torch_home_default=DEFAULT_TORCH_HOME,
        torch_home_help="folder with checkpoints/20180402-114759-vggface2.pt, exported to the recognizer's "
        "models once per checkpoint; the untrained stand-in is written there when it is missing "
        "(default: data/torch)",
    )
    parser.add_argument("--logs", type=Path, help="function logs (default: out/local/<run-id>/logs)")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="initialise every environment before uploading (like provisioned concurrency), "
        "so timings leave the cold start out",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--expect",
        help="'course' (the NN %% 8 rule) or a JSON file {video: label}: a name, or in timeline mode also who "
        "appears and when (tools/timelines.py)",
    )
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument(
        "--html",
        type=Path,
        nargs="?",
        const=DEFAULT_HTML,
        help=f"write the HTML report (who appears when; tools/report) into this folder (default {DEFAULT_HTML}; "
        "demo writes one to out/demo/html unless told otherwise)",
    )
    parser.add_argument("--rate", type=float, help="uploads per second (default: all at once)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for every outcome (default 600)")
    parser.add_argument("--no-progress", action="store_true")


def start_stack(args: argparse.Namespace) -> tuple[LocalStack, bool]:
    from local.stack import LocalStack, load_settings

    settings = load_settings(args.stack, db=args.db, architecture=args.architecture, analysis=args.analysis)
    models = exported.for_stack(args, settings, stand_in=True)
    untrained = exported.untrained(models)
    if untrained:  # the full banner follows the results, where it cannot scroll away
        print(
            f"[local] models {models} come from UNTRAINED stand-in weights: names are only meaningful "
            "against faces enrolled with them",
            file=sys.stderr,
        )
    args.run_dir = runs.new_run(RUNS_DIR, args.command)
    if args.logs is None:
        args.logs = args.run_dir / "logs"
    else:  # a folder of the caller's: this run's logs only, and never a live stack's
        runs.claim(args.logs)
        for old in args.logs.glob("*.log"):
            old.unlink()
    return LocalStack(
        settings, model_dir=models, concurrency=args.concurrency, log_dir=args.logs, provisioned=args.warm
    ), untrained


def run(args: argparse.Namespace, expect: Expectation | None = None) -> int:
    from local.session import describe, run_videos
    from tools.grading.expectations import load_expectation
    from tools.workload import video_files

    files = video_files(args.videos)
    if expect is None:
        expect = load_expectation(args.expect)
    stack, untrained = start_stack(args)
    html = None
    try:
        with stack:
            report = run_videos(
                stack, files, expect=expect, timeout_s=args.timeout, rate=args.rate, progress=not args.no_progress
            )
            html = write_html(stack, report, args.html) if getattr(args, "html", None) else None
    except (KeyboardInterrupt, Stopped):  # every upload left without a result, named in the report too
        record_stop(args, stack, report_file=args.report)
        raise
    print(describe(report))
    if untrained:
        print(exported.banner(stack.model_dir))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        print(f"report: {args.report}")
    if html is not None:
        print(f"html report: {html} (open it in a browser: file://{html.resolve()})")
    return 0 if report["passed"] else 1  # the verdict line, PASSED: yes or NO, says the same


def write_html(stack: LocalStack, report: Any, out_dir: Path) -> Path:
    """The HTML report of this run (tools/report), read from the stack before it stops."""
    from components.library import OUTPUT_BUCKET
    from tools.report.site import from_stack
    from tools.target import from_outputs

    outputs = stack.outputs()
    target = from_outputs(outputs, "the local stack")
    return from_stack(
        stack.client("s3"),
        target.buckets,
        outputs.get(OUTPUT_BUCKET),
        report,
        out_dir,
        source="the local stack (python -m local)",
    )


def demo(args: argparse.Namespace) -> int:
    if args.videos is not None:  # someone else's videos and database
        return run(args)
    alone = [flag for flag, given in (("--db", args.db is not None), ("--expect", args.expect is not None)) if given]
    if alone:  # the sample videos come with their own database and expectations: say so, exit 2
        print(
            f"local: demo: {' and '.join(alone)} need{'s' if len(alone) == 1 else ''} --videos "
            "(without them the demo enrols its own sample faces and knows what each sample shows)",
            file=sys.stderr,
        )
        return 2
    from tools.demo.samples import sample_workload

    args.videos, args.db, expect = sample_workload(DEMO_DIR, exported.resolve(args, stand_in=True), tag="demo")
    if args.report is None:
        args.report = DEMO_DIR / "report.json"
    if args.html is None:
        args.html = DEMO_DIR / "html"
    return run(args, expect=expect)


def record_stop(args: argparse.Namespace, stack: LocalStack, *, report_file: Path | None = None) -> None:
    """What a stopped stack left without a result (every upload, named), in the run's folder and
    in `report_file` when one was asked for."""
    from local.event_sources import describe_event

    record = {
        "stopped": True,
        "without_result": stack.without_result,  # upload → its dead-letter line, or null: unfinished
        "interrupted": {name: [describe_event(e) for e in events] for name, events in stack.interrupted.items()},
    }
    for path in (args.run_dir / "stopped.json", report_file):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"[local] what the stop left without a result: {args.run_dir / 'stopped.json'}", file=sys.stderr)


def serve(args: argparse.Namespace) -> int:
    stack, _ = start_stack(args)
    outputs_file = args.outputs or args.run_dir / "outputs.json"
    try:
        with stack:
            _serve(args, stack, outputs_file)
    finally:
        if stack.without_result or any(stack.interrupted.values()):
            record_stop(args, stack)
    return 0


def _serve(args: argparse.Namespace, stack: LocalStack, outputs_file: Path) -> None:
    s = stack.settings
    written = json.dumps(stack.outputs(), indent=2) + "\n"
    runs.write_private(outputs_file, written)  # it holds the stack's credentials: its owner's only
    linked = args.outputs is None and runs.publish(DEFAULT_OUTPUTS, outputs_file)
    shown = DEFAULT_OUTPUTS if linked else outputs_file  # what a user types to reach this stack
    try:
        info = {
            "pid": os.getpid(),
            "architecture": s.architecture,
            "analysis": s.analysis,
            "endpoint_url": stack.endpoint_url,
            "outputs": str(outputs_file),
            "run_dir": str(args.run_dir),
            "buckets": stack.buckets,  # by topology name; `faces` too when the database is live
            "functions": {stack.function_name(r): n for r, n in stack.concurrency.items()},
            "dead_letter_queues": {f"{stack.function_name(r)}-dlq": url for r, url in stack.dead_letter_queues.items()},
            "logs": str(stack.log_dir),
            "ports": stack.ports(),
            "environment": stack.client_environment(),  # the credentials: the only ones it lets in
        }
        print(json.dumps(info), flush=True)
        if args.outputs is None and not linked:
            print(
                f"[local] {DEFAULT_OUTPUTS} belongs to another running stack; this one's outputs are {outputs_file}",
                file=sys.stderr,
            )
        enrol = f"python -m tools.enroll FACES_DIR --outputs {shown} ; " if s.live_database else ""
        print(
            f"[local] serving on {stack.endpoint_url}; outputs and credentials in {shown}; try: {enrol}"
            f"python -m tools.workload VIDEOS --outputs {shown} ; "
            f"python -m tools.grade --outputs {shown} --wait 120 ; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        # Short naps, not one long sleep: the kernel may hand Ctrl-C to any of the stack's threads,
        # and Python raises KeyboardInterrupt only when the main thread next wakes up.
        while True:
            time.sleep(0.2)
    finally:  # a stopped stack's outputs would name an endpoint that is gone
        runs.unpublish(DEFAULT_OUTPUTS, outputs_file)
        try:
            if outputs_file.read_text(encoding="utf-8") == written:  # still ours, not a newer stack's
                outputs_file.unlink()
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m local", __doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p_run = commands.add_parser("run", help="run a folder of videos through the local stack and report")
    p_run.add_argument("--videos", type=Path, required=True, help="folder of videos to upload")
    add_stack_arguments(p_run)
    add_run_arguments(p_run)
    p_demo = commands.add_parser("demo", help="what `make demo` runs: sample faces, enrolment, a run")
    p_demo.add_argument(
        "--videos", type=Path, help="run these videos instead of the samples (needs --db or the stack's)"
    )
    add_stack_arguments(p_demo)
    add_run_arguments(p_demo)
    p_serve = commands.add_parser("serve", help="start a stack and keep it up until Ctrl-C")
    add_stack_arguments(p_serve)
    p_serve.add_argument(
        "--outputs",
        type=Path,
        help="write the stack's outputs (and credentials; mode 0600) here, as `pulumi stack output --json` "
        "would print them, for the tools' --outputs (default: out/local/<run-id>/outputs.json, linked "
        "from out/local/outputs.json unless another running stack holds that)",
    )
    args = parser.parse_args(argv)
    from local.stack import StackError

    _stop_on_signals()
    try:
        return {"run": run, "demo": demo, "serve": serve}[args.command](args)
    except KeyboardInterrupt:
        print("\n[local] interrupted; the stack is stopped", file=sys.stderr)
        return 128 + signal.SIGINT
    except Stopped as stopped:
        print(f"[local] stopped by {signal.Signals(stopped.signum).name}; the stack is stopped", file=sys.stderr)
        return 128 + stopped.signum
    except (ValueError, OSError, StackError) as exc:  # bad settings, folders or files: the message names them
        print(f"local: {exc}", file=sys.stderr)
        return 2
    finally:  # the run's folders are free for others once it has ended
        for folder in (getattr(args, "run_dir", None), getattr(args, "logs", None)):
            if folder is not None:
                runs.release(folder)


def exit_now(code: int) -> NoReturn:
    """Exit without tearing the interpreter down: once the stack has stopped, nothing of this process
    is worth freeing object by object (measured: 0.3-0.4 s of a run's end). Exit handlers still run
    and the output is flushed first."""
    import atexit
    import contextlib
    import logging

    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream: nothing more to say there
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
