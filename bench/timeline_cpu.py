"""analysis timeline: the CPU a video's timeline needs when its frames are sampled and recognised one
by one in ONE process (ffmpeg sampling the whole video once, then every sampled frame detected,
embedded and matched in turn): the baseline the segmented pipeline is compared with (bench/README.md,
Any length), as CPU-seconds per video-hour. Faces are followed between samples as the recognizer
does (face_recognizer.tracking; --tracking-seconds 0: every face embedded).

    python -m bench.timeline_cpu VIDEO --db FACE_DB [--torch-home data/torch | --model-dir DIR] [--fps 1]
                                 [--tracking-seconds 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from components.project import DEFAULT_TORCH_HOME
from face_recognizer.facedb import FaceDatabase
from face_recognizer.onnx_models import OnnxFaceModels
from face_recognizer.recognizer import decode_frame
from face_recognizer.timeline import FaceMatch, FrameFaces, build, match_faces
from face_recognizer.tracking import Tracker
from pipeline_common.env import DEFAULT_TRACKING_SECONDS
from pipeline_common.log import Laps
from tools import exported
from tools.modelbuild.ffmpeg import ffmpeg_exe
from video_splitting import ffmpeg


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(video: Path, db: Path, model_dir: Path, fps: float, tracking_s: float = DEFAULT_TRACKING_SECONDS) -> dict:
    models = OnnxFaceModels.load(model_dir, 1, warm_up=True)
    database = FaceDatabase.load(db)
    with tempfile.TemporaryDirectory(prefix="vfp-cpu-") as tmp:
        before = children_cpu_s()
        samples = ffmpeg.sample_frames(
            ffmpeg_exe(), video, Path(tmp), label=str(video), fps=fps, max_frames=100_000, timeout_s=3600
        )
        sampling_cpu = children_cpu_s() - before
        started = time.process_time()
        results = []
        tracker: Tracker[FaceMatch] | None = Tracker(tracking_s) if tracking_s > 0 else None
        for sample in samples.frames:
            image = decode_frame(sample.path.read_bytes(), str(sample.path))
            faces = match_faces(models, image, database, None, Laps(), tracker, sample.t)[0]
            results.append(FrameFaces(sample.t, faces))
        recognition_cpu = time.process_time() - started
    timeline = build(results, 1 / fps)
    hours = (results[-1].t + 1 / fps) / 3600
    return {
        "video": str(video),
        "frames": len(results),
        "tracking_s": tracking_s,
        "faces": sum(len(r.faces) for r in results),
        "faces_embedded": sum(not f.tracked for r in results for f in r.faces),
        "sampling_cpu_s": round(sampling_cpu, 2),
        "recognition_cpu_s": round(recognition_cpu, 2),
        "recognition_cpu_s_per_frame": round(recognition_cpu / len(results), 4),
        "cpu_s_per_video_hour": round((sampling_cpu + recognition_cpu) / hours, 1),
        "people": {p["name"]: [(r["start_s"], r["end_s"]) for r in p["ranges"]] for p in timeline["people"]},
        "answer": timeline["answer"],
        "no_face": [(r["start_s"], r["end_s"]) for r in timeline["no_face"]],
        "unknown": [(r["start_s"], r["end_s"]) for r in timeline["unknown"]["ranges"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.timeline_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--db", type=Path, required=True)
    exported.add_arguments(
        parser, torch_home_default=DEFAULT_TORCH_HOME, torch_home_help="vggface2 weights (default: data/torch)"
    )
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--tracking-seconds", type=float, default=DEFAULT_TRACKING_SECONDS)
    args = parser.parse_args(argv)
    try:
        model_dir = exported.resolve(args)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    print(json.dumps(measure(args.video, args.db, model_dir, args.fps, args.tracking_seconds), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
