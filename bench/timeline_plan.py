"""analysis timeline, any length: what a 1-hour and a 6-hour video cost on AWS and how long it takes.

    python -m bench.timeline_plan --logs out/long/logs [--baseline out/long/baseline.json] [--stack Pulumi.dev.yaml]

From the local stack's per-segment log figures (or bench.timeline_cpu's CPU-seconds with --baseline),
beside Rekognition Video's list price; the arithmetic is in docs/decisions/0007-cost-and-scale-model.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.plan import LAMBDA_GB_SECOND, LAMBDA_REQUEST, S3_GET, S3_PUT, cpu_share, money
from components.project import DEFAULT_STACK_FILE
from components.settings import StackSettings, load_stack_file
from pipeline_common import segments

SFN_TRANSITION = 0.025 / 1000  # Step Functions standard workflows, per state transition (us-east-1, 2025)
REKOGNITION_FACE_SEARCH_MINUTE = 0.10  # Rekognition Video, stored video face search, per minute (list price; check)
FFMPEG_GETS = 4  # ranged GETs ffmpeg makes of the video per segment (open, index, seek, read on)
START_S = 1.0  # the start (HeadObject, ffmpeg reads the header, StartExecution): 0.37 s measured locally
COLD_START_S = 5.0  # a recognizer environment's init (models loaded): 4.2-5.3 s measured locally
# The execution's Cleanup deletes each segment's two objects once the timeline is written (DELETE is
# free on S3; storage for the minutes they live is negligible): a Lambda task of one round trip an object.
CLEANUP_S_PER_OBJECT = 0.02  # not measured on AWS: a DeleteObject round trip within the region


@dataclass(frozen=True)
class Measured:
    sample_s: float  # one segment's sampling, wall time of the `segment sampled` line, median
    recognise_frame_s: float  # one frame's recognition, from `segment recognised` lines, median
    frames_per_segment: float
    merge_s: float


def _lines(path: Path, message: str) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{") and f'"message": "{message}"' in line:
            out.append(json.loads(line))
    return out


def measured(logs: Path) -> Measured:
    sampled = _lines(logs / "video-splitting.log", "segment sampled")
    recognised = _lines(logs / "face-recognition.log", "segment recognised")
    merged = _lines(logs / "face-recognition.log", "timeline merged")
    if not sampled or not recognised:
        raise ValueError(f"{logs}: no `segment sampled` / `segment recognised` lines: run a timeline video first")
    per_frame = [r["ms"]["total"] / 1000 / max(1, r["frames"]) for r in recognised if isinstance(r.get("ms"), dict)]
    return Measured(
        sample_s=statistics.median(s["ms"] / 1000 for s in sampled),
        recognise_frame_s=statistics.median(per_frame),
        frames_per_segment=statistics.median(r["frames"] for r in recognised),
        merge_s=statistics.median(m["ms"] / 1000 for m in merged) if merged else 1.0,
    )


def from_baseline(m: Measured, baseline: dict, s: StackSettings) -> Measured:
    """CPU-seconds (one process, one core) instead of the logs' wall times, per segment and per frame."""
    frames = int(baseline["frames"])
    n = len(segments.plan(frames / s.sample_fps, s.sample_fps, s.max_frames))
    return Measured(
        sample_s=float(baseline["sampling_cpu_s"]) / n,
        recognise_frame_s=float(baseline["recognition_cpu_s_per_frame"]),
        frames_per_segment=m.frames_per_segment,
        merge_s=m.merge_s,
    )


def video(hours: float, m: Measured, s: StackSettings) -> dict:
    """Cost and time to timeline for one video of `hours`."""
    seconds = hours * 3600
    n = len(segments.plan(seconds, s.sample_fps, s.max_frames))
    split_mb, rec_mb = s.splitter.memory_mb, s.recognizer.memory_mb
    # local figures are one full core's; a function gets cpu_share of one
    sample_s = m.sample_s / cpu_share(split_mb)
    recognise_s = m.recognise_frame_s * min(m.frames_per_segment, s.max_frames) / cpu_share(rec_mb)
    cleanup_s = 2 * n * CLEANUP_S_PER_OBJECT
    gb_s = (START_S + n * sample_s) * split_mb / 1024 + (n * recognise_s + m.merge_s + cleanup_s) * rec_mb / 1024
    lambda_cost = gb_s * LAMBDA_GB_SECOND + (2 * n + 3) * LAMBDA_REQUEST  # start, samples, recognitions, merge, cleanup
    transitions = 2 * n + 5  # Sample and Recognise a segment; the start, Map, Merge, Cleanup, the end
    sfn_cost = transitions * SFN_TRANSITION
    s3_cost = (2 * n + 2) * S3_PUT + (2 * n + FFMPEG_GETS * n + 3) * S3_GET
    rounds = math.ceil(n / s.segment_concurrency)
    time_s = START_S + COLD_START_S + rounds * (sample_s + recognise_s) + m.merge_s
    return {
        "hours": hours,
        "segments": n,
        "rounds": rounds,
        "lambda": lambda_cost,
        "step_functions": sfn_cost,
        "transitions": transitions,
        "s3": s3_cost,
        "total": lambda_cost + sfn_cost + s3_cost,
        "rekognition": seconds / 60 * REKOGNITION_FACE_SEARCH_MINUTE,
        "time_to_timeline_s": time_s,
        "segment_s": sample_s + recognise_s,
    }


def report(m: Measured, s: StackSettings) -> str:
    length = segments.segment_seconds(s.sample_fps, s.max_frames)
    lines = [
        f"timeline, any length: {length:g} s segments (maxFrames {s.max_frames} at sampleFps {s.sample_fps:g}), "
        f"segmentConcurrency {s.segment_concurrency}, splitter {s.splitter.memory_mb} MB, "
        f"recognizer {s.recognizer.memory_mb} MB",
        f"measured here per segment: sampling {m.sample_s:.2f} s, recognition {m.recognise_frame_s:.3f} s a frame "
        f"({m.frames_per_segment:g} frames), merge {m.merge_s:.2f} s (one full core; scaled to each function's share)",
        "",
        "| video | segments | rounds | Lambda | Step Functions | S3 | total | Rekognition Video | time to timeline |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for hours in (1, 6):
        v = video(hours, m, s)
        lines.append(
            f"| {hours} h | {v['segments']} | {v['rounds']} | {money(v['lambda'])} | {money(v['step_functions'])} "
            f"({v['transitions']} transitions) | {money(v['s3'])} | **{money(v['total'])}** | "
            f"{money(v['rekognition'])} | {v['time_to_timeline_s']:.0f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.timeline_plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=Path, default=Path("out/long/logs"), help="a timeline run's function logs")
    parser.add_argument("--baseline", type=Path, help="bench.timeline_cpu's JSON: CPU-seconds instead of wall times")
    parser.add_argument("--stack", type=Path, default=DEFAULT_STACK_FILE)
    args = parser.parse_args(argv)
    try:
        s = load_stack_file(args.stack, check_files=False)
        m = measured(args.logs)
        if args.baseline:
            m = from_baseline(m, json.loads(args.baseline.read_text(encoding="utf-8")), s)
        print(report(m, s))
    except (OSError, ValueError) as error:
        print(f"timeline_plan: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
