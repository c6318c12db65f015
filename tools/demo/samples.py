"""Sample faces and videos made from images that ship with scikit-image.

`astronaut` (Eileen Collins) and `camera` (the cameraman) each hold one real face; `chelsea`
(a cat) and `coffee` hold none; `pair` puts both faces side by side. Used by the tests, the demo
and the benchmark, so none of them needs data from outside.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tools.modelbuild import ffmpeg
from tools.modelbuild.pictures import PEOPLE, image

if TYPE_CHECKING:
    from tools.grading.expectations import MappingExpectation

__all__ = ["PEOPLE", "image"]


def write_image(name: str, path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image(name)).save(path)
    return path


def still_to_video(
    still: Path, video: Path, *, seconds: float = 1.0, fps: int = 10, size: tuple[int, int] | None = None
) -> Path:
    """An H.264 MP4 showing `still` for `seconds`; `size` (w, h) rescales it first."""
    video.parent.mkdir(parents=True, exist_ok=True)
    scale = f"scale={size[0]}:{size[1]}," if size else ""
    even = "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p"  # H.264's 4:2:0 wants even sides
    ffmpeg.run_ffmpeg(
        "-loop",
        "1",
        "-i",
        str(still),
        "-t",
        str(seconds),
        "-r",
        str(fps),
        "-vf",
        scale + even,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        str(video),
    )
    return video


def noise_video(video: Path, *, seconds: float = 4.0, size: tuple[int, int] = (640, 360), fps: int = 10) -> Path:
    """A losslessly coded video of random pixels: about 3.6 MB a second at the defaults, for
    anything that needs a large upload quickly (no face in it)."""
    video.parent.mkdir(parents=True, exist_ok=True)
    noise = f"nullsrc=s={size[0]}x{size[1]}:r={fps},geq=random(1)*255:128:128"
    ffmpeg.run_ffmpeg(
        "-f",
        "lavfi",
        "-i",
        noise,
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-qp",
        "0",
        "-pix_fmt",
        "yuv420p",
        str(video),
    )
    return video


def sequence_video(
    segments: list[tuple[str, float]], video: Path, *, fps: int = 10, size: tuple[int, int] = (512, 512)
) -> Path:
    """An H.264 MP4 showing sample image after sample image, each for its seconds (`[("astronaut", 2),
    ("chelsea", 1), ("camera", 2)]`: Collins from 0 to 2 s, a cat and no face until 3 s, the
    cameraman until 5 s), every picture scaled to `size`. The timeline's tests and the demo use it."""
    video.parent.mkdir(parents=True, exist_ok=True)
    stills = [video.with_name(f"{video.stem}.{i}.still.png") for i in range(len(segments))]
    try:
        inputs: list[str] = []
        chains = []
        for i, ((name, seconds), still) in enumerate(zip(segments, stills, strict=True)):
            write_image(name, still)
            inputs += ["-loop", "1", "-framerate", str(fps), "-t", f"{seconds:g}", "-i", str(still)]
            chains.append(f"[{i}:v]scale={size[0]}:{size[1]},setsar=1,format=yuv420p[v{i}]")
        joined = "".join(f"[v{i}]" for i in range(len(segments)))
        graph = ";".join(chains) + f";{joined}concat=n={len(segments)}:v=1:a=0[out]"
        ffmpeg.run_ffmpeg(
            *inputs,
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-r",
            str(fps),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            str(video),
        )
    finally:
        for still in stills:
            still.unlink(missing_ok=True)
    return video


def make_video(
    name: str, video: Path, *, seconds: float = 1.0, fps: int = 10, size: tuple[int, int] | None = None
) -> Path:
    """A short video of sample image `name`."""
    still = video.with_suffix(".still.png")
    try:
        write_image(name, still)
        return still_to_video(still, video, seconds=seconds, fps=fps, size=size)
    finally:
        still.unlink(missing_ok=True)


def sample_workload(
    folder: Path, model_dir: Path, *, copies: int = 2, tag: str = "local"
) -> tuple[Path, Path, MappingExpectation]:
    """Sample videos of scikit-image's faces (`copies` per person, plus one without a face) in
    FOLDER/videos, those people enrolled into FOLDER/face_db.pt with the recognizer's models in
    `model_dir` (tools/exported.py), and what each video should give:
    (videos folder, database, expectation). The demo and the benchmark run this."""
    import shutil
    import sys

    from face_recognizer.recognizer import NO_FACE
    from tools.grading.expectations import mapping_expectation

    videos, faces = folder / "videos", folder / "faces"
    for old in (videos, faces):
        shutil.rmtree(old, ignore_errors=True)
    print(f"[{tag}] making sample videos in {videos} and face pictures in {faces}", file=sys.stderr)
    expected = make_sample_set(videos, copies=copies)
    for name, person in PEOPLE.items():
        write_image(name, faces / person / f"{name}.png")
    db = folder / "face_db.pt"
    print(f"[{tag}] enrolling {', '.join(PEOPLE.values())} → {db}", file=sys.stderr)
    # In a process of its own: the enrolment's ONNX sessions stay out of the caller's memory.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.enroll",
            str(faces),
            "--out",
            str(db),
            "--model-dir",
            str(model_dir),
            "--quiet",
        ],
        check=True,
    )
    return videos, db, mapping_expectation({k: NO_FACE if v is None else v for k, v in expected.items()})


# The demo's clip of two people one after the other: Collins for 3 s, a cat (no face) for 1 s, the
# cameraman for 2 s. Its first frame (first-frame mode) and the person seen most (timeline) are both
# Collins; its timeline label says who appears when (tools/timelines.py).
SEQUENCE = [("astronaut", 3.0), ("chelsea", 1.0), ("camera", 2.0)]
SEQUENCE_LABEL = {"answer": "Collins", "people": {"Collins": [[0, 3]], "Cameraman": [[4, 6]]}}


def make_sample_set(folder: Path, *, copies: int = 2) -> dict[str, str | dict | None]:
    """Videos of each sample person (`copies` of each), one with no face, and one with two people
    one after the other (SEQUENCE).

    Returns {file name: label}: the expected name, or for the sequence its whole label; the faceless
    video's is None (the no-face sentinel, which the caller knows better than this module).
    """
    expected: dict[str, str | dict | None] = {}
    for i in range(copies):
        for name, person in PEOPLE.items():
            file = f"{name}_{i}.mp4"
            make_video(name, folder / file)
            expected[file] = person
    make_video("chelsea", folder / "chelsea_0.mp4")
    expected["chelsea_0.mp4"] = None
    sequence_video(SEQUENCE, folder / "sequence_0.mp4")
    expected["sequence_0.mp4"] = SEQUENCE_LABEL
    return expected
