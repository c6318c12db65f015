"""Which ffmpeg binary to use off Lambda: $FFMPEG_PATH, else the one in the imageio-ffmpeg wheel.

The wheel's binary is the same build the Lambda layer ships (components/ffmpeg_layer.py), so
local runs and tests decode with what production decodes with.
"""

from __future__ import annotations

import os
import subprocess


def ffmpeg_exe() -> str:
    path = os.environ.get("FFMPEG_PATH")
    if path and os.path.isfile(path):
        return path
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(*args: str) -> None:
    """Run ffmpeg (quiet, overwriting, never reading stdin) with `args` to make a test or sample
    video or frame; CalledProcessError when it fails."""
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", *args], check=True)
