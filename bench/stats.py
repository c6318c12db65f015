"""Small helpers the benchmark shares: percentiles, timers, the machine it ran on."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from importlib import metadata


def summary(samples_s: list[float]) -> dict:
    """p50 / p95 / max / mean of durations in seconds, reported in milliseconds."""
    if not samples_s:
        return {"n": 0}
    ms = sorted(s * 1000 for s in samples_s)

    def pct(p: float) -> float:
        # nearest-rank: the value below which p% of the samples fall
        rank = max(1, min(len(ms), round(p / 100 * len(ms) + 0.5)))
        return ms[rank - 1]

    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(pct(95), 1),
        "max_ms": round(ms[-1], 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def machine() -> dict:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        # Other work on the machine slows every figure: 1-, 5- and 15-minute load averages at the start.
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "versions": {
            d: version(d)
            for d in (
                "onnxruntime",
                "numpy",
                "pillow",
                "torch",
                "torchvision",
                "facenet-pytorch",
                "boto3",
                "moto",
                "imageio-ffmpeg",
            )
        },
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident set (VmHWM) of a live process, in MB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
