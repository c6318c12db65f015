"""analysis: timeline: the one stage-1 object that carries a video's sampled frames to the recognizer.

One deterministic tar per video keeps a video one PUT, one notification and one invocation, and a
retry the same bytes; the reader streams it one frame at a time and trusts nothing it has not
checked. Format and checks: docs/decisions/0003-frames-object.md.
"""

from __future__ import annotations

import io
import json
import math
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline_common import limits
from pipeline_common.env import SAMPLE_FPS_RANGE

FORMAT = 1
INDEX = "index.json"
CONTENT_TYPE = "application/x-tar"
MAX_INDEX_BYTES = 1 << 20  # ~10,000 frames' entries; maxFrames allows at most 900
_NAME = re.compile(r"^\d{6}\.jpg$")
_TAR_OVERHEAD = 1024  # a member's header and padding, at most
MAX_HEADER_BYTES = 4096  # an extended header's body (GNU long name, pax): the splitter writes none
_EXTENDED = {tarfile.GNUTYPE_LONGNAME: "GNU long name", tarfile.GNUTYPE_LONGLINK: "GNU long link"} | dict.fromkeys(
    (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE), "pax"
)
S3_PUT_LIMIT = 5 * 2**30  # the largest object one PutObject may write


class FramesError(ValueError):
    """The frames object is not what the splitter writes; the message names it and what is wrong."""


@dataclass(frozen=True)
class Entry:
    """One sampled frame as the index lists it."""

    name: str  # 000001.jpg, ... in order
    t: float  # seconds from the start of the video
    width: int
    height: int
    size: int  # bytes of its JPEG


@dataclass(frozen=True)
class Index:
    video: str  # s3://bucket/key of the video the frames come from
    sample_fps: float
    max_frames: int
    frames: tuple[Entry, ...]

    @property
    def interval_s(self) -> float:
        return 1.0 / self.sample_fps

    def as_dict(self) -> dict:
        return {
            "format": FORMAT,
            "video": self.video,
            "sample_fps": self.sample_fps,
            "max_frames": self.max_frames,
            "frames": [e.__dict__ for e in self.frames],
        }


class _HeaderRefused(tarfile.TarError):
    """An extended or sparse header refused from its declared size, before it is read."""


class _BoundedInfo(tarfile.TarInfo):
    """A tar header whose extended records are checked against MAX_HEADER_BYTES before tarfile reads
    them (it reads a GNU long name or a pax record whole, whatever size the header declares)."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        kind = _EXTENDED.get(self.type)
        if kind is not None and self.size > MAX_HEADER_BYTES:
            raise _HeaderRefused(
                f"a {kind} header of {self.size:,} bytes, over the {MAX_HEADER_BYTES:,} "
                "a frames object's headers may take"
            )
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _HeaderRefused("a sparse member, which a frames object never holds")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


def _block(n: int) -> int:
    return -(-n // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def tar_size(index_bytes: int, frames: tuple[Entry, ...]) -> int:
    """The bytes of the tar `write` makes of an index of `index_bytes` and these frames: a header
    and the padded body per member, two zero blocks, padding to tarfile's record size."""
    body = sum(tarfile.BLOCKSIZE + _block(n) for n in (index_bytes, *(e.size for e in frames))) + 2 * tarfile.BLOCKSIZE
    return -(-body // tarfile.RECORDSIZE) * tarfile.RECORDSIZE


def frame_name(i: int) -> str:
    """The member name of the i-th frame (0-based)."""
    return f"{i + 1:06d}.jpg"


def largest_object(max_frames: int) -> int:
    """The most bytes a frames object of `max_frames` frames can hold (every frame at the byte limit)."""
    return MAX_INDEX_BYTES + max_frames * (limits.MAX_FRAME_BYTES + _TAR_OVERHEAD) + 2 * _TAR_OVERHEAD + 10240


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o644, 0, 0, "", ""
    return info


def write(target: Path, index: Index, frames: list[Path], *, remove: bool = True) -> int:
    """Write the frames object to `target`: the index, then each frame file in order (each removed
    once it is in, when `remove`, so the folder holds the frames about once, not twice). Its size."""
    if len(frames) != len(index.frames):
        raise ValueError(f"{len(frames)} frame files for {len(index.frames)} index entries")
    blob = json.dumps(index.as_dict(), separators=(",", ":"), allow_nan=False).encode("utf-8")
    with tarfile.open(target, "w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(_info(INDEX, len(blob)), io.BytesIO(blob))
        for entry, path in zip(index.frames, frames, strict=True):
            with open(path, "rb") as fh:
                tar.addfile(_info(entry.name, entry.size), fh)
            if remove:
                path.unlink()
    return target.stat().st_size


def read(
    fileobj: IO[bytes], source: str, *, max_frames: int, size: int | None = None
) -> Iterator[Index | tuple[Entry, bytes]]:
    """The index, then (entry, JPEG bytes) for each frame in order, read as a stream; FramesError
    naming `source` for anything the splitter would not have written. `size`, when known (the
    object's length), may not exceed the tar the index describes."""
    try:
        tar = tarfile.open(fileobj=fileobj, mode="r|", tarinfo=_BoundedInfo)
    except _HeaderRefused as exc:
        raise FramesError(f"{source}: refused before reading it: {exc}") from None
    except tarfile.TarError as exc:
        raise FramesError(f"{source}: not a frames object (a tar of sampled frames): {exc}") from None
    with tar:
        members = iter(tar)
        first = _next(members, source)
        if first is None or first.name != INDEX or not first.isfile():
            raise FramesError(f"{source}: a frames object starts with {INDEX}")
        if first.size > MAX_INDEX_BYTES:
            raise FramesError(f"{source}: its {INDEX} is {first.size:,} bytes, over {MAX_INDEX_BYTES:,}")
        index = parse_index(_body(tar, first, source), source, max_frames=max_frames)
        described = tar_size(first.size, index.frames)
        if size is not None and size > described:
            raise FramesError(
                f"{source}: {size:,} bytes, more than the {described:,} of the tar its index describes "
                f"({len(index.frames)} frame{'' if len(index.frames) == 1 else 's'})"
            )
        yield index
        for entry in index.frames:
            member = _next(members, source)
            if member is None:
                raise FramesError(f"{source}: ends after {entry.name} is listed but before it is there (truncated?)")
            if member.name != entry.name or not member.isfile() or member.size != entry.size:
                raise FramesError(
                    f"{source}: found {member.name!r} ({member.size:,} bytes) where the index lists "
                    f"{entry.name} ({entry.size:,} bytes)"
                )
            jpeg = _body(tar, member, source)
            refusal = limits.jpeg_refusal(jpeg)
            if refusal:
                raise FramesError(f"{source}: {entry.name}: {refusal}")
            yield entry, jpeg
        extra = _next(members, source)
        if extra is not None:
            raise FramesError(f"{source}: holds {extra.name!r} beyond the {len(index.frames)} frames its index lists")


def _next(members: Iterator[tarfile.TarInfo], source: str) -> tarfile.TarInfo | None:
    try:
        return next(members, None)
    except _HeaderRefused as exc:
        raise FramesError(f"{source}: refused before reading it: {exc}") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FramesError(f"{source}: unreadable as a tar ({exc})") from None


def _body(tar: tarfile.TarFile, member: tarfile.TarInfo, source: str) -> bytes:
    try:
        fh = tar.extractfile(member)  # a view of the stream: nothing touches the file system
        data = fh.read() if fh is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FramesError(f"{source}: {member.name} is unreadable ({exc})") from None
    if len(data) != member.size:
        raise FramesError(f"{source}: {member.name} ends after {len(data):,} of {member.size:,} bytes (truncated?)")
    return data


def parse_index(blob: bytes, source: str, *, max_frames: int) -> Index:
    """The index, checked: its format, its frames in order with increasing times, each within the
    pipeline's frame limits, and no more of them than `max_frames`."""
    try:
        raw = json.loads(blob)
        if raw.get("format") != FORMAT:
            raise FramesError(f"{source}: frames format {raw.get('format')!r}, this code reads {FORMAT}")
        fps = float(raw["sample_fps"])
        entries = raw["frames"]
        video, declared = str(raw["video"]), int(raw["max_frames"])
        if not isinstance(entries, list):
            raise ValueError("frames is not a list")
        if not SAMPLE_FPS_RANGE[0] <= fps <= SAMPLE_FPS_RANGE[1]:  # nan too: no interval may be infinite
            raise ValueError(f"sample_fps {fps!r} is outside {SAMPLE_FPS_RANGE[0]:g}..{SAMPLE_FPS_RANGE[1]:g}")
        frames = tuple(
            Entry(str(e["name"]), float(e["t"]), int(e["width"]), int(e["height"]), int(e["size"])) for e in entries
        )
    except FramesError:
        raise
    except RecursionError:
        raise FramesError(f"{source}: its {INDEX} is nested too deeply to be a frames index") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise FramesError(f"{source}: its {INDEX} is not a frames index ({type(exc).__name__}: {exc})") from None
    if not frames:
        raise FramesError(f"{source}: its index lists no frames")
    if len(frames) > max_frames:
        raise FramesError(f"{source}: {len(frames)} frames, over MAX_FRAMES={max_frames}")
    previous = -math.inf
    for i, e in enumerate(frames):
        if e.name != frame_name(i) or not _NAME.match(e.name):
            raise FramesError(f"{source}: frame {i + 1} is named {e.name!r}, expected {frame_name(i)}")
        if not (math.isfinite(e.t) and e.t >= 0 and e.t > previous):
            raise FramesError(f"{source}: {e.name} at {e.t} s is not after the frame before it")
        previous = e.t
        refusal = limits.frame_refusal(e.width, e.height) or limits.bytes_refusal(e.size)
        if refusal or e.size <= 0:
            raise FramesError(f"{source}: {e.name}: {refusal or 'empty'}")
    return Index(video, fps, declared, frames)
