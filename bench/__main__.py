"""`make bench`: how fast and how big each function is, alone and through the local stack.

    python -m bench                                    # sample videos it makes, enrolled faces
    python -m bench --videos ../shared/data/cse546/test_case_2 --db ../shared/data/cse546/data.pt
    python -m bench --skip-stack | --skip-core | --skip-largest-frame | --architectures direct-invocation | --cold ...

1. core: each function in a fresh interpreter (bench/probe.py) against S3 on a moto server: the
   cold start split into phases, then every video (splitter) or frame (recognizer) `--repeat`
   times, warm, one at a time: per-stage p50 / p95 / max; the process's peak resident memory.
2. stack: the local stack in each wiring at the stack's concurrency: every video uploaded at once,
   wall time until the last result, videos per second, per-video latency from upload to result,
   each function's invocation durations and its workers' peak memory. Environments are initialised
   before the uploads (as with provisioned concurrency) unless `--cold`, so throughput is not
   mixed with the cold start that part 1 measures.
3. largest frame (with part 1, a few seconds; --skip-largest-frame leaves it out): an 8K UHD video,
   the largest frame the pipeline accepts (pipeline_common.limits), split and recognised by each
   function alone in a fresh interpreter: each one's peak resident memory (the splitter's with
   ffmpeg's beside it) against its memory setting, and the time it took.
4. live database (with part 1, a few seconds): what faceDatabase: live costs the recognizer: the
   conditional GET a look for a new version takes when nothing changed, and a reload
   (bench/live_database.py).
5. analysis timeline (with part 1; --skip-timeline leaves it out): each function alone with the
   stack's sampleFps and maxFrames, over the videos and the demo's two-people clip: per video and
   per frame, per stage; then peak memory on the largest frames the pipeline accepts (an 8K
   video sampled, and a frames object of several 8K frames recognised) against the memory settings.

Prints a table and writes every figure, with the machine and versions, to out/bench/ (JSON), so two
runs can be compared; `--baseline` adds the recognizer's PyTorch paths (the one the ONNX runtime
replaced, and the course's exact one) for a before/after on the same machine; `--int8` adds the
recognizer with int8 MTCNN, and with int8 MTCNN and int8 embedding, beside float32 on the same
frames: per-stage latency, cold start, peak memory, and how their answers agree with float32's in
this run (names, faces, chosen box, embedding) beside the figures their export recorded. Nothing
here asserts a figure.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from components import topology
from components.project import DEFAULT_STACK_FILE, DEFAULT_TORCH_HOME, OUT_DIR, PROJECT_DIR
from components.topology import ARCHITECTURES
from tools import cli

DEFAULT_WORK = OUT_DIR / "bench"
# --baseline: the recognizer's PyTorch paths, measured like the function on the same frames.
BASELINES = {"torch": "PyTorch path", "torch-exact": "course's exact path"}
# --int8: the recognizer's graphs at each precision (tools/export_models.py variants), side by side.
PRECISIONS: dict[str, dict] = {
    "fp32": {"precision": "fp32", "mtcnn_int8": ()},
    "int8 detection": {"precision": "fp32", "mtcnn_int8": ("pnet", "rnet", "onet")},
    "int8 detection + embedding": {"precision": "int8", "mtcnn_int8": ("pnet", "rnet", "onet")},
}


def prepare_inputs(args) -> tuple[list[Path], Path, object | None]:
    """The videos, the face database, and what each video should give."""
    from tools import weights
    from tools.grade import load_expectation
    from tools.samples import sample_workload
    from tools.workload import video_files

    if args.videos is not None:
        weights.prepare(args.torch_home)
        return video_files(args.videos), args.db, load_expectation(args.expect)
    videos, db, expect = sample_workload(args.work / "samples", args.torch_home, copies=args.copies, tag="bench")
    return video_files(videos), db, expect


# -- 1. each function alone --------------------------------------------------------------------------


def probe(
    function: str,
    env: dict,
    objects: list[tuple[str, str]],
    repeats: int,
    log: Path,
    *,
    runtime: str = "onnx",
    torch_home: Path | None = None,
) -> dict:
    spec = {
        "function": function,
        "env": env,
        "objects": objects,
        "repeats": repeats,
        "runtime": runtime,
        "torch_home": str(torch_home) if torch_home else None,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
        path = Path(fh.name)
    try:
        with open(log, "ab") as err:
            # The spawn time travels on the command line: cold start counts from here.
            done = subprocess.run(
                [sys.executable, "-m", "bench.probe", str(path), repr(time.time())],
                cwd=PROJECT_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                check=False,
            )
        if done.returncode:
            raise RuntimeError(f"the {function} probe failed (exit {done.returncode}); see {log}")
        return json.loads(done.stdout)
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def alone_against_s3(settings) -> Iterator[tuple[dict, Any]]:
    """A moto server in this process with the stack's buckets: the environment that points a probe
    at it (and nowhere else), and an S3 client for it."""
    import boto3
    from moto.server import ThreadedMotoServer

    from local.stack import sandbox_environment

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log would bury the table
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws = sandbox_environment(settings.region, AWS_ENDPOINT_URL=f"http://{host}:{port}")
        s3 = boto3.client(
            "s3",
            endpoint_url=aws["AWS_ENDPOINT_URL"],
            region_name=settings.region,
            aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
        )
        for role in topology.buckets(settings):  # the library too: the recognizer files its faces there
            s3.create_bucket(Bucket=settings.bucket(role))
        yield aws, s3
    finally:
        server.stop()


def environments(args, settings, aws: dict) -> dict[str, dict]:
    """Each function's environment as deployed (topology.environment), with this machine's files,
    and S3 on the probe's moto server. Alone, the splitter hands nothing to the recognizer."""
    from tools.export_models import ensure_exported
    from tools.ffmpeg import ffmpeg_exe

    where = topology.Locations(
        ffmpeg=ffmpeg_exe(),
        face_database=str(settings.face_database),
        models=str(ensure_exported(args.torch_home.resolve())),
    )
    env = {role: {**aws, **topology.environment(role, settings, where)} for role in topology.FUNCTIONS}
    env[topology.SPLITTER].pop("RECOGNIZER_FUNCTION", None)
    if args.threads:
        env[topology.RECOGNIZER]["MODEL_THREADS"] = str(args.threads)
    return env


def bench_core(args, settings, files: list[Path]) -> dict:
    """Both functions alone, against S3 on a moto server in this process."""
    from bench.stats import summary
    from tools.export_models import ensure_exported

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
                models = ensure_exported(args.torch_home.resolve(), database=settings.face_database, **variant)
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
    from tools.calibrate_mtcnn import iou

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


def bench_image(args, settings) -> dict:
    """What the recognizer image adds to its base (bench/image.py): for ECR storage in the cost plan."""
    from bench import image
    from tools.export_models import ensure_exported

    print("[bench] the recognizer image's own layers: sizes, and gzip'd", file=sys.stderr)
    return image.measure(ensure_exported(args.torch_home.resolve()), settings.face_database)


# -- 3. the largest frame the pipeline accepts --------------------------------------------------------


def largest_video(work: Path) -> Path:
    """The astronaut as a one-frame H.264 video of the largest frame the pipeline accepts (made once)."""
    from pipeline_common.limits import MAX_FRAME_HEIGHT_8K, MAX_FRAME_WIDTH_8K
    from tools import samples

    video = work / "largest" / f"astronaut-{MAX_FRAME_WIDTH_8K}x{MAX_FRAME_HEIGHT_8K}.mp4"
    if not video.is_file():
        samples.make_video("astronaut", video, seconds=0.1, fps=10, size=(MAX_FRAME_WIDTH_8K, MAX_FRAME_HEIGHT_8K))
    return video


def bench_largest_frame(args, settings) -> dict:
    """Peak memory of each function alone on the largest frame the pipeline accepts."""
    from pipeline_common import keys, limits

    video = largest_video(args.work)
    print(f"[bench] largest frame: {video.name}, each function alone", file=sys.stderr)
    with alone_against_s3(settings) as (aws, s3):
        env = environments(args, settings, aws)
        s3.upload_file(str(video), settings.input_bucket, video.name)
        log = args.work / "probe.log"
        split = probe("splitter", env[topology.SPLITTER], [(settings.input_bucket, video.name)], 0, log)
        frame = keys.frame_key(video.name)
        frame_bytes = s3.head_object(Bucket=settings.stage1_bucket, Key=frame)["ContentLength"]
        recognise = probe("recognizer", env[topology.RECOGNIZER], [(settings.stage1_bucket, frame)], 0, log)
    return {
        "frame": {
            "width": limits.MAX_FRAME_WIDTH_8K,
            "height": limits.MAX_FRAME_HEIGHT_8K,
            "pixels": limits.MAX_FRAME_PIXELS,
            "limit": limits.describe(),
        },
        "video-splitting": {
            "memory_mb": settings.splitter.memory_mb,
            "peak_rss_mb": split["peak_rss_mb"],
            "ffmpeg_peak_rss_mb": split["children_peak_rss_mb"],
            "frame_bytes": frame_bytes,
            "stages_ms": split["cold_invocation_stages_ms"],
        },
        "face-recognition": {
            "memory_mb": settings.recognizer.memory_mb,
            "peak_rss_mb": recognise["peak_rss_mb"],
            "stages_ms": recognise["cold_invocation_stages_ms"],
        },
    }


# -- 5. analysis: timeline ---------------------------------------------------------------------------

LARGEST_TIMELINE_FRAMES = 3  # 8K frames in the largest-frame frames object: the recognizer holds one at a time


def per_video_and_frame(r: dict) -> dict:
    """A timeline probe's warm log lines (one per video) → per-video and per-frame percentiles per stage."""
    from bench.stats import summary

    records, frames = r.pop("warm_stages_ms"), r.pop("warm_frames")
    per_video: dict[str, list[float]] = {}
    per_frame: dict[str, list[float]] = {}
    for record, n in zip(records, frames, strict=True):
        for stage, ms in record.items():
            per_video.setdefault(stage, []).append(ms / 1000)
            per_frame.setdefault(stage, []).append(ms / 1000 / max(1, n))
    return {
        **r,
        "frames_per_video": {"min": min(frames, default=0), "max": max(frames, default=0), "total": sum(frames)},
        "per_video_ms": {stage: summary(v) for stage, v in per_video.items()},
        "per_frame_ms": {stage: summary(v) for stage, v in per_frame.items()},
    }


def bench_timeline(args, files: list[Path], db: Path) -> dict:
    """analysis: timeline, each function alone in a fresh interpreter against S3 on moto: the splitter
    sampling each video into one frames object, the recognizer matching every face of every frame;
    per video and per frame. Then the recognizer's peak memory on a frames object of 8K frames, the
    largest the pipeline accepts, against its memory setting."""
    from local.stack import load_settings
    from pipeline_common import frames, keys
    from tools import samples

    settings = load_settings(args.stack, db=db, analysis=topology.TIMELINE)
    clip = samples.sequence_video(samples.SEQUENCE, args.work / "timeline" / "two-people.mp4")
    videos = [f for f in files if f.name != clip.name] + [clip]
    with alone_against_s3(settings) as (aws, s3):
        env = environments(args, settings, aws)
        for f in videos:
            s3.upload_file(str(f), settings.input_bucket, f.name)
        log = args.work / "probe.log"
        print(
            f"[bench] timeline (sampleFps {settings.sample_fps:g}, maxFrames {settings.max_frames}): "
            f"splitter alone: {len(videos)} videos × {args.repeat}",
            file=sys.stderr,
        )
        split = probe(
            "splitter", env[topology.SPLITTER], [(settings.input_bucket, f.name) for f in videos], args.repeat, log
        )
        objects = [(settings.stage1_bucket, keys.frames_key(f.name)) for f in videos]
        print(f"[bench] timeline: recognizer alone: {len(objects)} frames objects × {args.repeat}", file=sys.stderr)
        recognise = probe("recognizer", env[topology.RECOGNIZER], objects, args.repeat, log)

        # The largest frames: the splitter's own 8K sample, LARGEST_TIMELINE_FRAMES times in one object.
        largest = largest_video(args.work)
        s3.upload_file(str(largest), settings.input_bucket, largest.name)
        split_8k = probe("splitter", env[topology.SPLITTER], [(settings.input_bucket, largest.name)], 0, log)
        one = s3.get_object(Bucket=settings.stage1_bucket, Key=keys.frames_key(largest.name))["Body"]
        reader = frames.read(one, "8k", max_frames=settings.max_frames)
        index = next(reader)
        assert isinstance(index, frames.Index)
        [(entry, jpeg)] = [item for item in reader if isinstance(item, tuple)]
        folder = args.work / "timeline" / "largest"
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(LARGEST_TIMELINE_FRAMES):
            paths.append(folder / frames.frame_name(i))
            paths[-1].write_bytes(jpeg)
        many = frames.Index(
            index.video,
            index.sample_fps,
            settings.max_frames,
            tuple(
                frames.Entry(frames.frame_name(i), i / index.sample_fps, entry.width, entry.height, entry.size)
                for i in range(LARGEST_TIMELINE_FRAMES)
            ),
        )
        package = folder / "frames.tar"
        frames.write(package, many, paths)
        s3.upload_file(str(package), settings.stage1_bucket, "largest/8k.tar")
        recognise_8k = probe(
            "recognizer", env[topology.RECOGNIZER], [(settings.stage1_bucket, "largest/8k.tar")], 0, log
        )
    return {
        "sample_fps": settings.sample_fps,
        "max_frames": settings.max_frames,
        "videos": len(videos),
        "video-splitting": per_video_and_frame(split),
        "face-recognition": per_video_and_frame(recognise),
        "largest_frames": {
            "frames": LARGEST_TIMELINE_FRAMES,
            "width": entry.width,
            "height": entry.height,
            "video-splitting": {
                "memory_mb": settings.splitter.memory_mb,
                "peak_rss_mb": split_8k["peak_rss_mb"],
                "ffmpeg_peak_rss_mb": split_8k["children_peak_rss_mb"],
            },
            "face-recognition": {
                "memory_mb": settings.recognizer.memory_mb,
                "peak_rss_mb": recognise_8k["peak_rss_mb"],
                "stages_ms": recognise_8k["cold_invocation_stages_ms"],
            },
        },
    }


# -- 4. the live database ----------------------------------------------------------------------------


def bench_live_database(settings, db: Path) -> dict:
    from bench import live_database

    print("[bench] live database: looks for a new version, and reloads", file=sys.stderr)
    with alone_against_s3(settings) as (_, s3):
        return live_database.measure(s3, db)


# -- 2. the local stack ------------------------------------------------------------------------------


def bench_stack(args, files: list[Path], db: Path, expect, architecture: str) -> dict:
    from local.session import run_videos
    from local.stack import LocalStack, load_settings

    settings = load_settings(args.stack, db=db, architecture=architecture)
    logs = args.work / f"logs-{architecture}"
    logs.mkdir(parents=True, exist_ok=True)
    quiet = lambda _line: None  # noqa: E731 - the bench prints its own table
    log_files = {role: logs / f"{settings.function(role).name}.log" for role in topology.FUNCTIONS}
    logged_before = {role: f.stat().st_size if f.exists() else 0 for role, f in log_files.items()}
    with LocalStack(
        settings,
        torch_home=args.torch_home,
        concurrency=args.concurrency,
        log_dir=logs,
        provisioned=not args.cold,
        log=quiet,
    ) as stack:
        print(f"[bench] {architecture}: {len(files)} videos through the local stack", file=sys.stderr)
        report = run_videos(stack, files, expect=expect, timeout_s=args.timeout, progress=False)
    local = report["local"]
    observed = report["latency_s"]["observed"]
    wall = observed["end_to_end"]
    # What the run left, for the cost plan (bench/plan.py): each bucket's objects and each function's
    # log bytes (START/END/REPORT and its JSON lines, as CloudWatch Logs would ingest them).
    objects = {
        bucket: {"count": len(listed), "bytes": sum(o["size"] for o in listed)}
        for bucket, listed in report["objects"].items()
    }
    log_bytes = {settings.function(role).name: f.stat().st_size - logged_before[role] for role, f in log_files.items()}
    return {
        "videos": len(files),
        "accounted_for": local["accounted_for"],
        "results": local["succeeded"],
        "failed": len(local["failed"]),
        "exact_bucket_contents": report["checks"].get("stage1_exact") and report["checks"].get("output_exact"),
        "results_correct": report["checks"].get("results_correct"),
        "wall_s": wall,
        "videos_per_s": round(len(files) / wall, 2) if wall else None,
        "per_video_latency_s": observed["per_video"],
        "functions": local["functions"],
        "provisioned": not args.cold,
        "objects": objects,
        "log_bytes": log_bytes,
    }


# -- output ------------------------------------------------------------------------------------------


def table(results: dict) -> str:
    lines = []
    core = results.get("core")
    if core:
        lines.append("each function alone, warm, one at a time (ms)")
        width = max(len(name) for name in core)
        lines.append(f"  {'function':<{width}} {'stage':<8} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8}")
        for name, r in core.items():
            for stage, st in r["warm_ms"].items():
                lines.append(
                    f"  {name:<{width}} {stage:<8} {st['n']:>4} {st['p50_ms']:>8.1f} {st['p95_ms']:>8.1f} "
                    f"{st['max_ms']:>8.1f}"
                )
        lines.append("")
        lines.append("CPU time per object, warm (ms; the function's process, plus ffmpeg's for the splitter: ")
        lines.append("  what its own work cost, which other load on a shared machine moves far less than wall time)")
        for name, r in core.items():
            cpu = r.get("warm_cpu_ms") or {}
            parts = ", ".join(f"{stage} {st['p50_ms']:.1f}/{st['p95_ms']:.1f}" for stage, st in cpu.items())
            lines.append(f"  {name:<{width}} p50/p95: {parts}")
        lines.append("")
        lines.append("cold start: new interpreter → first result (ms)")
        for name, r in core.items():
            parts = ", ".join(f"{k} {v:.0f}" for k, v in r["cold_start_ms"].items() if k != "total")
            lines.append(f"  {name:<{width}} {r['cold_start_ms']['total']:>7.0f}  = {parts}")
        lines.append("")
        lines.append("peak resident memory of the function's process (MB)")
        for name, r in core.items():
            threads = f", {r['threads'] or 'default'} thread(s)" if "threads" in r else ""
            child = f", ffmpeg's own peak {r['children_peak_rss_mb']:.0f}" if r.get("children_peak_rss_mb") else ""
            lines.append(
                f"  {name:<{width}} {r['peak_rss_mb']:>7.0f}  (after imports {r['rss_after_imports_mb']:.0f}"
                f"{threads}{child})"
            )
        lines.append("")
    precisions = results.get("precisions")
    if core and precisions:
        lines.extend(precision_table(core, precisions))
    largest = results.get("largest_frame")
    if largest:
        frame, split, rec = largest["frame"], largest["video-splitting"], largest["face-recognition"]
        lines.append(
            f"peak memory on the largest frame the pipeline accepts ({frame['width']}x{frame['height']}), "
            "each function alone, fresh interpreter (MB)"
        )
        lines.append(
            f"  video-splitting   {split['peak_rss_mb']:>5.0f} + ffmpeg {split['ffmpeg_peak_rss_mb']:.0f} "
            f"= {split['peak_rss_mb'] + split['ffmpeg_peak_rss_mb']:.0f} of {split['memory_mb']}  "
            f"(ffmpeg {split['stages_ms'].get('ffmpeg', 0):.0f} ms)"
        )
        lines.append(
            f"  face-recognition  {rec['peak_rss_mb']:>5.0f} of {rec['memory_mb']}  "
            f"(decode {rec['stages_ms'].get('decode', 0):.0f} ms, detect {rec['stages_ms'].get('detect', 0):.0f} ms)"
        )
        lines.append("")
    live = results.get("live_database")
    if live:
        lines.append("live face database: the recognizer's look for a new version (ms; S3 on moto, loopback)")
        for what, st in live.items():
            lines.append(f"  {what:<32} {st['n']:>4} {st['p50_ms']:>8.1f} {st['p95_ms']:>8.1f} {st['max_ms']:>8.1f}")
        lines.append("")
    timeline = results.get("timeline")
    if timeline:
        lines.append(
            f"analysis timeline, each function alone, warm (sampleFps {timeline['sample_fps']:g}, "
            f"maxFrames {timeline['max_frames']}; {timeline['videos']} videos; ms)"
        )
        lines.append(
            f"  {'function':<17} {'stage':<8} {'per video p50':>14} {'p95':>8} {'per frame p50':>14} {'p95':>8}"
        )
        for name in ("video-splitting", "face-recognition"):
            r = timeline[name]
            for stage, st in r["per_video_ms"].items():
                fr = r["per_frame_ms"][stage]
                lines.append(
                    f"  {name:<17} {stage:<8} {st['p50_ms']:>14.1f} {st['p95_ms']:>8.1f} {fr['p50_ms']:>14.1f} "
                    f"{fr['p95_ms']:>8.1f}"
                )
            n = r["frames_per_video"]
            lines.append(
                f"  {name:<17} frames per video {n['min']}-{n['max']}; peak memory {r['peak_rss_mb']:.0f} MB"
                + (f" + ffmpeg {r['children_peak_rss_mb']:.0f}" if r.get("children_peak_rss_mb") else "")
            )
        big = timeline["largest_frames"]
        sp, rc = big["video-splitting"], big["face-recognition"]
        lines.append(
            f"  largest frames ({big['width']}x{big['height']}): splitter {sp['peak_rss_mb']:.0f} + ffmpeg "
            f"{sp['ffmpeg_peak_rss_mb']:.0f} of {sp['memory_mb']} MB; recognizer, {big['frames']} such frames in "
            f"one object, {rc['peak_rss_mb']:.0f} of {rc['memory_mb']} MB"
        )
        lines.append("")
    for arch, r in results.get("stack", {}).items():
        lat = r["per_video_latency_s"] or {}
        lines.append(
            f"local stack, {arch}{' (provisioned)' if r['provisioned'] else ' (cold)'}: {r['videos']} videos "
            f"at once → {r['results']} results, {r['failed']} failed in {r['wall_s']} s "
            f"({r['videos_per_s']} videos/s); upload→result p50 {lat.get('p50')} s, max {lat.get('max')} s; "
            f"exact bucket contents: {'yes' if r['exact_bucket_contents'] else 'NO'}; "
            f"results as expected: {_yes(r['results_correct'])}"
        )
        for name, st in r["functions"].items():
            d = st.get("duration_ms") or {}
            lines.append(
                f"  {name:<17} {st['invocations']:>4} invocations, duration p50 {d.get('p50', 0):.0f} ms "
                f"max {d.get('max', 0):.0f} ms, {st['concurrency']} worker(s), "
                f"peak memory {st['max_memory_used_mb']:.0f} MB of {st['memory_mb']}"
            )
    return "\n".join(lines)


def precision_table(core: dict, precisions: dict) -> list[str]:
    def pp(r: dict, stage: str, key: str = "warm_ms") -> str:
        st = r[key].get(stage) or {}
        return f"{st.get('p50_ms', 0):.1f}/{st.get('p95_ms', 0):.1f}"

    lines = ["the recognizer at each precision, alone, same frames, one run (ms p50/p95; wall, then CPU)"]
    lines.append(
        f"  {'precision':<28} {'frame':>12} {'detect':>12} {'embed':>12} {'cpu frame':>12} {'cpu detect':>12} "
        f"{'cpu embed':>12} {'cold start':>10} {'peak MB':>8}  answers vs fp32 in this run"
    )
    for label, name in precisions["rows"].items():
        r, a = core[name], precisions["this_run"][label]
        lines.append(
            f"  {label:<28} {pp(r, 'total'):>12} {pp(r, 'detect'):>12} {pp(r, 'embed'):>12} "
            f"{pp(r, 'total', 'warm_cpu_ms'):>12} {pp(r, 'detect', 'warm_cpu_ms'):>12} "
            f"{pp(r, 'embed', 'warm_cpu_ms'):>12} {r['cold_start_ms']['total']:>10.0f} {r['peak_rss_mb']:>8.0f}  "
            f"names {a['same_name']}/{a['frames']}, face counts {a['same_face_count']}/{a['frames']}, "
            f"box IoU min {a['chosen_box_iou_min']} ({a['chosen_box_iou_under_0.98']} under 0.98), "
            f"embedding cosine min {a['embedding_cosine_min']}"
        )
    lines.append("  what each int8 graph's export recorded (tools/mtcnn_int8.json; the embedding's gate):")
    for label, agreement in precisions["exported"].items():
        for network, figures in (agreement or {}).items():
            if network == "embedder":
                said = (
                    f"gate passed: cosine min {figures['min_cosine']} over {figures['faces']} faces, nearest entry "
                    f"unchanged {figures['nearest_entry_unchanged']}/{figures['people_faces']}"
                    + (" (untrained weights: the mechanism only)" if figures.get("weights_untrained") else "")
                )
            else:
                iou = figures["chosen_box_iou"]
                said = (
                    f"{'kept' if figures['kept'] else 'REFUSED (measured only)'}: {figures['frames_failing']} of "
                    f"{figures['frames']} frames failing, chosen-box IoU min {iou['min']} median {iou['median']}, "
                    f"faces lost/gained on {figures['frames_losing_a_face']}/{figures['frames_gaining_a_face']}"
                )
            lines.append(f"    {label:<28} {network:<8} {said}")
    exact = {core[name].get("int8_sums_exact") for name in precisions["rows"].values()} - {None}
    if exact:
        lines.append(
            "  int8 kernels here: "
            + ("exact 32-bit sums (VNNI)" if exact == {True} else "16-bit pair sums that saturate (no VNNI)")
        )
    lines.append("")
    return lines


def _yes(value) -> str:
    return "n/a" if value is None else ("yes" if value else "NO")


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m bench", __doc__)
    parser.add_argument("--videos", type=Path, help="folder of videos (default: sample videos the bench makes)")
    parser.add_argument("--db", type=Path, help="face database for --videos (default: the stack's faceDatabase)")
    parser.add_argument("--expect", help="with --videos: 'course' (NN %% 8) or a JSON file {video: name}")
    parser.add_argument("--stack", type=Path, default=DEFAULT_STACK_FILE)
    parser.add_argument("--torch-home", type=Path, default=DEFAULT_TORCH_HOME)
    parser.add_argument("--repeat", type=int, default=3, help="warm passes over the inputs per function (default 3)")
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
        help="also time the recognizer with int8 MTCNN, and with int8 MTCNN and embedding, beside float32 on "
        "the same frames, and compare their answers (the int8 embedding's export passes its gate first)",
    )
    parser.add_argument("--concurrency", type=int, help="local stack workers per function (default: the stack's)")
    parser.add_argument("--architectures", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES))
    parser.add_argument("--cold", action="store_true", help="stack runs include the workers' cold starts")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--skip-core", action="store_true")
    parser.add_argument("--skip-stack", action="store_true")
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

    from bench.stats import machine
    from local.stack import load_settings
    from tools import weights

    args.work.mkdir(parents=True, exist_ok=True)
    files, db, expect = prepare_inputs(args)
    if not files:
        parser.error("no videos to run")
    settings = load_settings(args.stack, db=db)
    results: dict = {
        "machine": machine(),
        "inputs": {
            "videos": str(args.videos or args.work / "samples" / "videos"),
            "count": len(files),
            "face_database": str(settings.face_database),
            "untrained_weights": weights.is_untrained(args.torch_home),
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
        results["live_database"] = bench_live_database(settings, db)
        if not args.skip_timeline:
            results["timeline"] = bench_timeline(args, files, db)
    if not args.skip_stack:
        results["stack"] = {arch: bench_stack(args, files, db, expect, arch) for arch in args.architectures}
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
