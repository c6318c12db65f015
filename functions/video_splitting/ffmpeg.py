"""The first frame of a local video file as JPEG bytes, through the ffmpeg binary.

ffmpeg runs from an argument list on one private file, through whitelisted demuxers only; a fast
keyframe-only run is tried first and the ordinary decode follows when it cannot prove the frame is
the first: docs/decisions/0005-first-frame-fast-path.md.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline_common import limits

# Demuxers for the uploads pipeline_common.keys.VIDEO_SUFFIXES names (.mp4 .mov .m4v .mkv .webm
# .avi .mpg .mpeg). MPEG-TS is deliberately absent: the pinned static ffmpeg 7.0.2 crashes
# (SIGSEGV) opening a transport stream, and a clear refusal beats a crash.
ALLOWED_DEMUXERS = ("mov", "mp4", "matroska", "webm", "avi", "mpeg")
JPEG_QSCALE = 2  # mjpeg -q:v 2: the best quality; the recognizer sees what the video shows
DEFAULT_TIMEOUT_S = 20.0  # under the function's default 30 s timeout, leaving time to report
_MIN_ATTEMPT_S = 1.0
_SUMMARY_CHARS = 400
# ffmpeg lines that only repeat the line before them in other words
_WRAPPERS = ("Error opening input file", "Error opening output", "Conversion failed")

FAST = "keyframe"  # the frame came from the keyframe-only decode
FULL = "full"  # ... from the ordinary decode


class FfmpegError(RuntimeError):
    """ffmpeg could not produce a frame; the message names the video and says why."""


class FrameTooLarge(FfmpegError):
    """The video's frames are over the pipeline's limit; the message names the video and the limit."""


@dataclass(frozen=True)
class Frame:
    jpeg: bytes
    method: str  # FAST or FULL
    attempts_ms: tuple  # wall time of each ffmpeg run, in order


def input_options(protocols: str = "file") -> list[str]:
    """How every ffmpeg run here reads a video: only `protocols`, only the allowed demuxers, the picture
    alone, one thread, at most the largest frame the pipeline accepts."""
    return [
        "-protocol_whitelist",
        protocols,
        "-format_whitelist",
        ",".join(ALLOWED_DEMUXERS),
        "-an",
        "-sn",
        "-dn",
        "-threads",
        "1",
        "-max_pixels",
        str(limits.decoder_max_pixels()),
    ]


def _jpeg_encoder() -> list[str]:
    """How both analyses encode a frame."""
    # Standard Huffman tables instead of per-image optimised ones: one pass instead of two, the
    # same pixels, a 5 % larger file, about 1 ms less per 1080p frame.
    # One thread for the encoder and one for the filters: by default each starts a pool of slice
    # threads per core to work on this one picture. On the course clips that took ffmpeg from 11
    # threads to 5 (its pipeline's own) and saved 1.6 ms of CPU and ~3 ms of wall time at the
    # median, with the same bytes (bench/README.md).
    return ["-c:v", "mjpeg", "-q:v", str(JPEG_QSCALE), "-huffman", "default", "-threads", "1", "-filter_threads", "1"]


def _output_options() -> list[str]:
    return ["-frames:v", "1", *_jpeg_encoder(), "-f", "image2pipe", "pipe:1"]


# The first decoded frame, and only if it is shown at the start; trim's end stops the decoding.
_FIRST_IF_AT_START = r"trim=end_frame=1,select=eq(pts\,0)"


def _command(ffmpeg: str, video: Path, *, decoding: Sequence[str] = (), filters: Sequence[str] = ()) -> list[str]:
    """ffmpeg reading `video` under the input restrictions (`decoding`: more input options), through
    `filters`, writing one JPEG to stdout."""
    quiet = ["-nostdin", "-hide_banner", "-loglevel", "level+error"]
    return [ffmpeg, *quiet, *input_options(), *decoding, "-i", f"file:{video}", *filters, *_output_options()]


def fast_args(ffmpeg: str, video: Path) -> list[str]:
    """Keyframes only, no probing, and no frame at all unless the first keyframe is the first frame."""
    return _command(
        ffmpeg, video, decoding=("-nofind_stream_info", "-discard", "nokey"), filters=("-vf", _FIRST_IF_AT_START)
    )


def full_args(ffmpeg: str, video: Path) -> list[str]:
    """The ordinary decode: what `ffmpeg -i video -frames:v 1 frame.jpg` shows as the first frame."""
    return _command(ffmpeg, video)


def first_frame(ffmpeg: str, video: Path, *, label: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Frame:
    """The first frame of `video` as JPEG bytes; FfmpegError naming `label` when there is none."""
    deadline = time.monotonic() + timeout_s
    attempts = []

    fast = _run(fast_args(ffmpeg, video), timeout_s, label)
    attempts.append(fast.ms)
    if fast.ok and fast.jpeg_ok:
        return Frame(_within_limits(fast.stdout, label), FAST, tuple(attempts))
    if fast.timed_out:
        raise FfmpegError(f"{label}: ffmpeg found no frame within {timeout_s:g} s")
    _refuse_if_too_large(fast, label)  # the ordinary decode would refuse it just the same

    remaining = deadline - time.monotonic()
    full = _run(full_args(ffmpeg, video), max(remaining, _MIN_ATTEMPT_S), label)
    attempts.append(full.ms)
    if full.ok and full.jpeg_ok:
        return Frame(_within_limits(full.stdout, label), FULL, tuple(attempts))
    _refuse_if_too_large(full, label)
    raise FfmpegError(f"{label}: {full.reason(str(video))}")


# What ffmpeg's decoder says when -max_pixels refuses a picture (libavutil's av_image_check_size2).
_OVER_MAX_PIXELS = re.compile(rb"Picture size (\d+)x(\d+) exceeds specified max pixel count")


def _refuse_if_too_large(run: _Run, label: str) -> None:
    found = _OVER_MAX_PIXELS.search(run.stderr)
    if found:
        width, height = (int(v) for v in found.groups())
        raise FrameTooLarge(
            f"{label}: the video's frames are over the pipeline's limit: {limits.describe()} "
            f"(ffmpeg's decoder refused a {width}x{height} picture before allocating it)"
        )


def _within_limits(jpeg: bytes, label: str) -> bytes:
    """The JPEG, if its frame is within the pipeline's limits (the ones the recognizer applies)."""
    size = jpeg_size(jpeg)
    if size is None:
        raise FfmpegError(f"{label}: ffmpeg's JPEG has no readable frame header")
    refusal = limits.frame_refusal(*size) or limits.bytes_refusal(len(jpeg))
    if refusal:
        raise FrameTooLarge(f"{label}: {refusal}")
    return jpeg


# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, without decoding; None when there is none."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            return None
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _SOF:
            if length < 7 or i + 9 > len(data):
                return None
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return (width, height) if width and height else None
        i += 2 + length
    return None


@dataclass
class _Run:
    returncode: int | None
    stdout: bytes
    stderr: bytes
    ms: float
    timed_out: bool = False
    timeout_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def jpeg_ok(self) -> bool:
        return self.stdout[:3] == b"\xff\xd8\xff" and self.stdout[-2:] == b"\xff\xd9"

    def reason(self, temp_path: str) -> str:
        if self.timed_out:
            return f"ffmpeg found no frame within {self.timeout_s:g} s"
        if self.returncode is not None and self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"ffmpeg crashed ({name}) reading the video"
        text = self.stderr.decode("utf-8", "replace").replace(f"file:{temp_path}", "the video")
        text = text.replace(temp_path, "the video")
        if "does not contain any stream" in text or "matches no streams" in text:
            return "not a video: it has no video stream"
        lines = []
        for line in text.splitlines():
            line = re.sub(r"^(\[[^\]]* @ 0x[0-9a-f]+\] )?\[(error|fatal|panic)\] ", "", line).strip()
            if line and line not in lines and not line.startswith(_WRAPPERS):
                lines.append(line)
        if self.returncode == 0:
            lines.append("ffmpeg decoded no frame")
        summary = "; ".join(lines[-4:]) or f"ffmpeg exited with status {self.returncode}"
        if len(summary) > _SUMMARY_CHARS:
            summary = summary[:_SUMMARY_CHARS] + "..."
        return f"not a readable video ({summary})"


def _run(args: list[str], timeout_s: float, label: str) -> _Run:
    started = time.perf_counter()
    try:
        done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed and reaped ffmpeg
        return _Run(
            None,
            exc.stdout or b"",
            exc.stderr or b"",
            (time.perf_counter() - started) * 1000,
            timed_out=True,
            timeout_s=timeout_s,
        )
    except OSError as exc:
        raise FfmpegError(f"{label}: cannot run ffmpeg at {args[0]} ({exc.strerror or exc})") from None
    return _Run(done.returncode, done.stdout, done.stderr, (time.perf_counter() - started) * 1000)


def check_binary(ffmpeg: str, timeout_s: float = 10.0) -> str:
    """Run `ffmpeg -version` once; its first line, or FfmpegError when the binary cannot run here.

    Done at start-up so a wrong or broken binary fails the init phase, not the first request; it
    also pulls the 80 MB binary into the page cache before the first video.
    """
    try:
        done = subprocess.run(
            [ffmpeg, "-hide_banner", "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise FfmpegError(f"{ffmpeg} -version did not finish within {timeout_s:g} s") from None
    except OSError as exc:
        raise FfmpegError(f"{ffmpeg} cannot run here ({exc.strerror or exc})") from None
    first = done.stdout.decode("utf-8", "replace").splitlines()[:1]
    if done.returncode != 0 or not first or not first[0].startswith("ffmpeg version"):
        raise FfmpegError(f"{ffmpeg} is not a working ffmpeg (exit status {done.returncode})")
    return first[0]


# -- analysis: timeline: frames sampled over the whole video -------------------------------------
#
# Kept apart from the first-frame path above, which stays as it is. One ffmpeg run decodes the
# whole video (under the same input restrictions) and keeps the first frame, then the first frame
# at or after each 1 / fps seconds: `select` picks the first frame of every sampling interval
# [k/fps, (k+1)/fps), so samples never drift however the video's own frame rate divides, and each
# keeps its own timestamp (-fps_mode passthrough), which ffmpeg writes beside the JPEGs
# (-stats_enc_pre: each frame's number and time as it enters the encoder). The first sample is the
# first frame of the ordinary decode, encoded as first_frame() encodes it: the same bytes.
# ffmpeg is asked for one frame more than `max_frames`; getting it means the video is longer than
# timeline mode takes, which is refused (TooLong) rather than silently cut short.

SAMPLE_TIMEOUT_S = 900.0  # Lambda's longest invocation: the handler gives ffmpeg what the invocation has left
SAMPLE_TIMES = "times.txt"  # in the caller's folder: "<frame number> <seconds>" per written frame
_SAMPLE_PATTERN = "%06d.jpg"  # ffmpeg numbers from 1: pipeline_common.frames.frame_name
_NO_SPACE = "No space left on device"


class Damaged(FfmpegError):
    """ffmpeg decoded the video only in part (cut short, or corrupt inside): a timeline of it would
    pass for the whole video's. The message names the video and what ffmpeg said."""


# What ffmpeg says (and still exits 0) when the file ends before its container says it does, or a
# packet cannot be decoded: the demuxer's "partial file", the decoders' errors. Each means frames
# the container lists were never decoded.
_DAMAGE = re.compile(
    rb"partial file|Decoding error|error while decoding|corrupt (input )?packet|Invalid NAL unit|"
    rb"Error splitting the input|concealing \d+ (DC, AC, MV )?errors|Packet corrupt|missing picture"
)


class TooLong(FfmpegError):
    """The video needs more than `max_frames` samples at the sampling rate; the message names it."""


class NoSpace(FfmpegError):
    """The sampled frames do not fit in the function's temporary storage; the message names the video."""


@dataclass(frozen=True)
class Sample:
    path: Path  # the JPEG ffmpeg wrote, in the caller's folder
    t: float  # seconds from the start of the video
    width: int
    height: int
    size: int


@dataclass(frozen=True)
class Samples:
    frames: tuple[Sample, ...]
    ms: float  # ffmpeg's wall time


def sample_filter(fps: float) -> str:
    """The first frame, then the first frame of each 1/fps-second interval."""
    rate = repr(float(fps))
    return rf"select=isnan(prev_selected_t)+gt(floor(t*{rate})\,floor(prev_selected_t*{rate}))"


def sample_args(ffmpeg: str, video: Path, folder: Path, *, fps: float, max_frames: int) -> list[str]:
    """ffmpeg reading `video` under the input restrictions, writing up to max_frames + 1 sampled
    JPEGs into `folder` (000001.jpg, ...) and their times into folder/SAMPLE_TIMES."""
    quiet = ["-nostdin", "-hide_banner", "-loglevel", "level+error"]
    return [
        ffmpeg,
        *quiet,
        *input_options(),
        "-i",
        f"file:{video}",
        "-vf",
        sample_filter(fps),
        "-fps_mode",
        "passthrough",
        "-frames:v",
        str(max_frames + 1),
        *_jpeg_encoder(),
        "-stats_enc_pre",
        str(folder / SAMPLE_TIMES),
        "-stats_enc_pre_fmt",
        "{n} {t}",
        "-f",
        "image2",
        str(folder / _SAMPLE_PATTERN),
    ]


def sample_frames(
    ffmpeg: str,
    video: Path,
    folder: Path,
    *,
    label: str,
    fps: float,
    max_frames: int,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Samples:
    """Frames sampled over the whole of `video` into `folder` (an empty private folder), each within
    the pipeline's frame limits. FfmpegError naming `label` when there is none; TooLong when more
    than `max_frames` are needed; NoSpace when they do not fit in the folder's file system."""
    run = _run(sample_args(ffmpeg, video, folder, fps=fps, max_frames=max_frames), timeout_s, label)
    if run.timed_out:
        raise FfmpegError(
            f"{label}: ffmpeg did not finish sampling the video within {timeout_s:g} s "
            "(raise splitterTimeout, or lower sampleFps or maxFrames)"
        )
    _refuse_if_too_large(run, label)
    if _NO_SPACE.encode() in run.stderr:
        raise NoSpace(
            f"{label}: the sampled frames do not fit in the function's temporary storage "
            "(raise splitterEphemeralStorage, or lower sampleFps or maxFrames)"
        )
    written = sorted(folder.glob("[0-9]" * 6 + ".jpg"))
    if not run.ok or not written:
        raise FfmpegError(f"{label}: {run.reason(str(video))}")
    if len(written) > max_frames:
        longest = max_frames / fps
        raise TooLong(
            f"{label}: longer than timeline analysis takes: it needs more than maxFrames={max_frames} frames "
            f"at sampleFps={fps:g} (videos up to {longest:g} s); raise maxFrames (with the functions' "
            "timeouts) or lower sampleFps"
        )
    times = _sample_times(folder / SAMPLE_TIMES, len(written), label)
    _refuse_if_damaged(run, label, times[-1], str(video))
    frames = []
    for path, t in zip(written, times, strict=True):
        size = path.stat().st_size
        refusal = limits.bytes_refusal(size)
        if refusal:
            raise FrameTooLarge(f"{label}: frame at {t:g} s: {refusal}")
        with open(path, "rb") as fh:
            header = fh.read(min(size, 1 << 16))
        dims = jpeg_size(header)
        if dims is None:
            raise FfmpegError(f"{label}: ffmpeg's JPEG of the frame at {t:g} s has no readable frame header")
        refusal = limits.frame_refusal(*dims)
        if refusal:
            raise FrameTooLarge(f"{label}: {refusal}")
        frames.append(Sample(path, t, dims[0], dims[1], size))
    return Samples(tuple(frames), run.ms)


def _refuse_if_damaged(run: _Run, label: str, last_t: float, temp_path: str) -> None:
    """Damaged when ffmpeg reported frames it could not decode, though it exited 0."""
    if _DAMAGE.search(run.stderr) is None:
        return
    said = _Run(1, b"", run.stderr, 0).reason(temp_path).removeprefix("not a readable video (").removesuffix(")")
    said = re.sub(r"\[[^\]]* @ 0x[0-9a-f]+\] |\[(error|fatal|panic)\] ", "", said)
    raise Damaged(
        f"{label}: truncated or damaged: ffmpeg could not decode all of it ({said}); "
        f"its frames were sampled only up to {last_t:g} s, so it is refused rather than given a timeline "
        "of part of it as if whole"
    )


def _sample_times(path: Path, count: int, label: str) -> list[float]:
    """Each written frame's time, from ffmpeg's -stats_enc_pre file, checked to increase."""
    try:
        lines = path.read_text(encoding="ascii").split("\n")
        times = [float(line.split()[1]) for line in lines if line.strip()]
    except (OSError, ValueError, IndexError) as exc:
        raise FfmpegError(f"{label}: ffmpeg gave no readable frame times ({exc})") from None
    if len(times) != count or any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise FfmpegError(f"{label}: ffmpeg's frame times ({len(times)}) do not match its {count} frames")
    # Relative to the first sample (the first frame), so a video whose timestamps start after 0 still starts at 0.
    return [round(t - times[0], 6) for t in times]
