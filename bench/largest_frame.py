"""3. largest frame: an 8K UHD video, the largest frame the pipeline accepts (pipeline_common.limits),
split and recognised by each function alone: each one's peak memory against its memory setting."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bench.alone import alone_against_s3, environments, largest_video, probe
from components import topology

if TYPE_CHECKING:
    from components.settings import StackSettings


def bench_largest_frame(args: argparse.Namespace, settings: StackSettings) -> dict:
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
