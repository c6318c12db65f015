"""Which pictures show whom, and the pictures of a file: the leaf that enrolment (tools.enroll) and
the export's gate (calibration.people_faces) share. Images are read with Pillow, videos cut with
ffmpeg; it imports nothing of the project but the pipeline's own video-suffix rule.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline_common import keys

from .ffmpeg import ffmpeg_exe

# (ffmpeg, video) -> the JPEG of its first frame; MediaError when there is none.
FirstFrame = Callable[[str, Path], bytes]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class MediaError(ValueError):
    """Bad input: the message names the file, folder or person at fault."""


@dataclass(frozen=True)
class Sample:
    path: Path
    name: str


def is_video(path: Path) -> bool:
    """A video by the pipeline's own rule (its suffix, in any letter case)."""
    return keys.is_video(path.name)


def is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or is_video(path)


# -- which pictures show whom --------------------------------------------------------------------


def from_folders(root: Path) -> list[Sample]:
    """`root/<Name>/<picture or video>`: every image or video under a person's folder."""
    root = Path(root)
    if not root.is_dir():
        raise MediaError(f"{root}: not a folder (expected one sub-folder per person)")
    samples: list[Sample] = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(f for f in person.rglob("*") if f.is_file() and is_media(f))
        if not files:
            raise MediaError(f"{person}: no images ({', '.join(IMAGE_SUFFIXES)}) or videos for {person.name!r}")
        samples.extend(Sample(f, person.name) for f in files)
    if not samples:
        raise MediaError(f"{root}: no person folders in it")
    return samples


def from_mapping(mapping: Path) -> list[Sample]:
    """A JSON object {"file": "Name"} or CSV lines `file,Name`; files relative to the mapping's folder."""
    mapping = Path(mapping)
    try:
        text = mapping.read_text(encoding="utf-8")
    except OSError as exc:
        raise MediaError(f"{mapping}: cannot read it ({exc.strerror or exc})") from None
    if mapping.suffix.lower() == ".json":
        try:
            pairs = json.loads(text)
        except ValueError as exc:
            raise MediaError(f"{mapping}: not JSON ({exc})") from None
        if not isinstance(pairs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs.items()):
            raise MediaError(f'{mapping}: expected a JSON object {{"file": "Name", ...}}')
        rows = list(pairs.items())
    else:
        rows = []
        for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) != 2:
                raise MediaError(f"{mapping} line {number}: expected `file,Name`, got {len(row)} fields")
            rows.append((row[0].strip(), row[1].strip()))
    if not rows:
        raise MediaError(f"{mapping}: names no files")
    samples = []
    for file, name in rows:
        path = Path(file) if Path(file).is_absolute() else mapping.parent / file
        if not path.is_file():
            raise MediaError(f"{mapping}: {file}: no such file")
        if not is_media(path):
            raise MediaError(f"{mapping}: {file}: not an image or video by its suffix")
        samples.append(Sample(path, name))
    return samples


# -- pictures --------------------------------------------------------------------------------------


def pictures(
    path: Path,
    *,
    frames: int = 1,
    interval_s: float = 0.5,
    ffmpeg: str | None = None,
    first_frame: FirstFrame | None = None,
) -> list:
    """The PIL images to enrol from one file: the image itself, or frames of a video (the first by
    `first_frame` when given: tools.enroll passes the splitter's own code)."""
    from PIL import Image, UnidentifiedImageError

    if not is_video(path):
        try:
            with Image.open(path) as img:
                img.load()
                return [img.convert("RGB")]
        except (UnidentifiedImageError, OSError) as exc:
            raise MediaError(f"{path}: not a readable image ({exc})") from None
    ffmpeg = ffmpeg or ffmpeg_exe()
    jpegs = video_frames(path, frames=frames, interval_s=interval_s, ffmpeg=ffmpeg, first_frame=first_frame)
    return [Image.open(io.BytesIO(j)).convert("RGB") for j in jpegs]


def video_frames(
    video: Path, *, frames: int, interval_s: float, ffmpeg: str, first_frame: FirstFrame | None = None
) -> list[bytes]:
    """JPEG frames of a video: `frames` frames `interval_s` apart (the first by `first_frame` when
    it is given and one frame is asked for)."""
    if frames == 1 and first_frame is not None:
        return [first_frame(ffmpeg, video)]
    with tempfile.TemporaryDirectory(prefix="vfp-enroll-") as folder:
        pattern = os.path.join(folder, "frame-%04d.jpg")
        run = subprocess.run(
            [
                ffmpeg,
                "-nostdin",
                "-loglevel",
                "error",
                "-i",
                str(video),
                "-vf",
                f"fps=1/{interval_s:g}",
                "-frames:v",
                str(frames),
                "-q:v",
                "2",
                pattern,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        files = sorted(Path(folder).glob("frame-*.jpg"))
        if run.returncode != 0 or not files:
            detail = " ".join(run.stderr.split())[-300:] or f"exit code {run.returncode}"
            raise MediaError(f"{video}: ffmpeg gave no frames ({detail})")
        return [f.read_bytes() for f in files]
