"""5. analysis timeline: each function alone with the stack's sampleFps and maxFrames, per video and
per frame; then peak memory on the largest frames the pipeline accepts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.alone import alone_against_s3, environments, largest_video, probe
from components import topology

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


def bench_timeline(args: argparse.Namespace, files: list[Path], db: Path | None) -> dict:
    """analysis: timeline, each function alone in a fresh interpreter against S3 on moto: the splitter
    sampling each video into one frames object, the recognizer matching every face of every frame;
    per video and per frame. Then the recognizer's peak memory on a frames object of 8K frames, the
    largest the pipeline accepts, against its memory setting."""
    from local.stack import load_settings
    from pipeline_common import frames, keys
    from tools.demo import samples

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
    from bench import timeline_cpu

    # CPU-seconds per video-hour: the clip sampled and recognised one frame at a time in this process
    cpu = timeline_cpu.measure(
        clip, Path(str(settings.face_database)), args.model_dir, settings.sample_fps, settings.tracking_s
    )
    return {
        "sample_fps": settings.sample_fps,
        "max_frames": settings.max_frames,
        "videos": len(videos),
        "cpu_per_video_hour": cpu,
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
