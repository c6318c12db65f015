"""1. core: both functions alone, warm, one at a time: per-stage latency, CPU time, cold start, peak
memory; with --int8 the recognizer at each precision beside float32 on the same frames, with
--baseline its PyTorch paths; and what the recognizer image adds to its base (bench/image.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bench.alone import alone_against_s3, database_file, environments, probe
from components import topology

if TYPE_CHECKING:
    from components.settings import StackSettings

# --baseline: the recognizer's PyTorch paths, measured like the function on the same frames.
BASELINES = {"torch": "PyTorch path", "torch-exact": "course's exact path"}
# --int8: the recognizer's graphs at each precision (tools/export_models.py variants), side by side.
PRECISIONS: dict[str, dict] = {
    "fp32": {"precision": "fp32"},
    "int8 embedding": {"precision": "int8"},
}


def bench_core(args: argparse.Namespace, settings: StackSettings, files: list[Path]) -> dict:
    """Both functions alone, against S3 on a moto server in this process."""
    from bench.stats import summary
    from tools.modelbuild.export_models import ensure_exported

    with alone_against_s3(settings) as (aws, s3):
        env = environments(args, settings, aws)
        for f in files:
            s3.upload_file(str(f), settings.input_bucket, f.name)
        log = args.work / "probe.log"
        log.unlink(missing_ok=True)
        results = {}
        print(f"[bench] splitter alone: {len(files)} videos × {args.repeat}", file=sys.stderr)
        results["video-splitting"] = probe(
            "splitter", env[topology.SPLITTER], [(settings.input_bucket, f.name) for f in files], args.repeat, log
        )
        frames = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=settings.stage1_bucket).get("Contents", []))
        print(f"[bench] recognizer alone: {len(frames)} frames × {args.repeat}", file=sys.stderr)
        objects = [(settings.stage1_bucket, k) for k in frames]
        results["face-recognition"] = probe("recognizer", env[topology.RECOGNIZER], objects, args.repeat, log)
        if args.int8:
            for label, variant in PRECISIONS.items():
                models = ensure_exported(args.torch_home.resolve(), database=database_file(settings), **variant)
                row_env = {
                    **env[topology.RECOGNIZER],
                    "MODEL_DIR": str(models),
                    "MODEL_PRECISION": variant["precision"],
                }
                if row_env == env[topology.RECOGNIZER]:
                    continue  # what the stack deploys: the row above
                print(f"[bench] recognizer alone, {label}: {len(frames)} frames × {args.repeat}", file=sys.stderr)
                results[f"face-recognition ({label})"] = probe("recognizer", row_env, objects, args.repeat, log)
        if args.baseline:
            for runtime, label in BASELINES.items():
                print(f"[bench] recognizer alone, {label}: {len(frames)} frames × {args.repeat}", file=sys.stderr)
                results[f"face-recognition ({label})"] = probe(
                    "recognizer",
                    env[topology.RECOGNIZER],
                    objects,
                    args.repeat,
                    log,
                    runtime=runtime,
                    torch_home=args.torch_home.resolve(),
                )
    for r in results.values():  # raw laps → percentiles per stage
        r.pop("warm_frames", None)  # one frame per object in first-frame mode
        for raw, key in (("warm_stages_ms", "warm_ms"), ("warm_cpu_ms", "warm_cpu_ms")):
            stages: dict[str, list[float]] = {}
            for record in r.pop(raw, []):
                for stage, ms in record.items():
                    stages.setdefault(stage, []).append(ms / 1000)
            r[key] = {stage: summary(v) for stage, v in stages.items()}
    return results


def compare_precisions(results: dict) -> dict:
    """Which row is each precision, and how its answers agree with float32's on the same frames."""
    from bench.stats import iou

    rows = {}
    for label in PRECISIONS:
        name = f"face-recognition ({label})"
        if name not in results:  # the deployed row is this variant
            name = "face-recognition"
        rows[label] = name
    reference = results[rows["fp32"]]["answers"]
    compared: dict = {"rows": rows, "this_run": {}}
    for label, name in rows.items():
        answers = results[name]["answers"]
        keys = sorted(reference)
        boxes = [(reference[k]["box"], answers[k]["box"]) for k in keys if reference[k]["box"] and answers[k]["box"]]
        cosines = []
        for k in keys:
            a, b = reference[k]["embedding"], answers[k]["embedding"]
            if a and b:
                cosines.append(sum(x * y for x, y in zip(a, b, strict=True)) / (_norm(a) * _norm(b)))
        compared["this_run"][label] = {
            "frames": len(keys),
            "same_name": sum(reference[k]["name"] == answers[k]["name"] for k in keys),
            "same_face_count": sum(reference[k]["faces"] == answers[k]["faces"] for k in keys),
            "chosen_box_iou_min": round(min((iou(a, b) for a, b in boxes), default=1.0), 4),
            "chosen_box_iou_under_0.98": sum(iou(a, b) < 0.98 for a, b in boxes),
            "embedding_cosine_min": round(min(cosines, default=1.0), 6),
        }
    compared["exported"] = {label: results[name].get("agreement") for label, name in rows.items()}
    return compared


def _norm(v: list[float]) -> float:
    return sum(x * x for x in v) ** 0.5


def bench_image(args: argparse.Namespace, settings: StackSettings) -> dict:
    """What the recognizer image adds to its base (bench/image.py): for ECR storage in the cost plan."""
    from bench import image

    print("[bench] the recognizer image's own layers: sizes, and gzip'd", file=sys.stderr)
    return image.measure(args.model_dir, database_file(settings))
