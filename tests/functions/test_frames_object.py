"""The frames object's reader (pipeline_common.frames) against hostile tars: headers that declare
hundreds of MB, and objects longer than their index says. Refused before the header is read, at a
small peak (VmHWM of a fresh interpreter, as the other memory probes measure)."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from pipeline_common import frames
from tests.conftest import run_python

LONG_NAME_BYTES = 500_000_000


def _index(n: int, size: int) -> bytes:
    entries = [{"name": frames.frame_name(i), "t": float(i), "width": 8, "height": 8, "size": size} for i in range(n)]
    return json.dumps(
        {"format": 1, "video": "s3://v/x.mp4", "sample_fps": 1.0, "max_frames": n, "frames": entries}
    ).encode()


def long_name_tar(path: Path, size: int = LONG_NAME_BYTES) -> Path:
    """A GNU long-name header declaring `size` bytes of name, then (sparse on disk) those bytes."""
    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = tarfile.GNUTYPE_LONGNAME, size
    with open(path, "wb") as fh:
        fh.write(header.tobuf(format=tarfile.GNU_FORMAT))
        fh.truncate(tarfile.BLOCKSIZE + -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE + 10240)
    return path


def _read_all(blob: bytes, *, size: int | None = None) -> list:
    return list(frames.read(io.BytesIO(blob), "s3://st/x.tar", max_frames=60, size=size))


def test_a_long_name_header_is_refused_from_its_declared_size(tmp_path):
    blob = long_name_tar(tmp_path / "x.tar", size=frames.MAX_HEADER_BYTES + 1).read_bytes()
    with pytest.raises(
        frames.FramesError, match=r"s3://st/x.tar: refused before reading it: a GNU long name header of 4,097 bytes"
    ):
        _read_all(blob)


def test_a_pax_header_is_bounded_too(tmp_path):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("index.json")
        info.pax_headers = {"comment": "x" * 10_000}
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(frames.FramesError, match=r"a pax header of [\d,]+ bytes, over the 4,096"):
        _read_all(out.getvalue())


def test_an_object_longer_than_its_index_describes_is_refused(tmp_path):
    jpeg = tmp_path / "f.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff" + b"\0" * 4999)
    index = frames.Index("s3://v/x.mp4", 1.0, 60, (frames.Entry(frames.frame_name(0), 0.0, 8, 8, 5002),))
    written = frames.write(tmp_path / "x.tar", index, [jpeg])
    blob = (tmp_path / "x.tar").read_bytes()
    assert (
        len(blob) == written == frames.tar_size(len(json.dumps(index.as_dict(), separators=(",", ":"))), index.frames)
    )
    assert len(_read_all(blob, size=len(blob))) == 2  # the index and its one frame
    padded = blob + bytes(10240 * 100)
    with pytest.raises(
        frames.FramesError, match=r"1,0\d\d,\d\d\d bytes, more than the 10,240 of the tar its index describes"
    ):
        _read_all(padded, size=len(padded))


@pytest.mark.parametrize("fps", [1e-300, 0.0, float("nan"), float("inf")])
def test_no_sampling_rate_can_make_an_infinite_interval(fps):
    """A tiny sampleFps once wrote `Infinity` into the timeline (not JSON)."""
    from pipeline_common.env import ConfigError
    from video_splitting.config import SplitterConfig

    with pytest.raises(ConfigError, match="sample_fps=.* is outside 0.01..30"):
        SplitterConfig("b", "/bin/true", None, analysis="timeline", sample_fps=fps)
    if fps != fps or fps == float("inf"):  # what JSON cannot hold is refused before a byte is written
        with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
            frames.write(Path("/nonexistent/x.tar"), frames.Index("s3://v/x.mp4", fps, 60, ()), [])


PROBE = r"""
import json, sys
from pipeline_common import frames


def hwm_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))


path = sys.argv[1]
error = None
with open(path, "rb") as fh:
    try:
        for _ in frames.read(fh, "s3://stage-1/x.tar", max_frames=60):
            pass
    except frames.FramesError as exc:
        error = str(exc)
print(json.dumps({"error": error, "peak_mb": hwm_mb()}))
"""

SMALL_MB = 100  # an interpreter with NumPy and Pillow imported is ~30 MB; a frame is at most 32 MiB


def test_a_500_mb_long_name_is_refused_at_a_small_peak(tmp_path):
    path = long_name_tar(tmp_path / "long.tar")
    assert path.stat().st_size > LONG_NAME_BYTES and path.stat().st_size < frames.largest_object(60)
    probe = run_python(PROBE, str(path), cwd=Path.cwd(), env=dict(os.environ))
    print(json.dumps(probe))
    assert "a GNU long name header of 500,000,000 bytes" in probe["error"]
    assert probe["peak_mb"] < SMALL_MB, f"the reader peaked at {probe['peak_mb']:.0f} MB refusing it"
