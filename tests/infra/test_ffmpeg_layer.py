"""The ffmpeg layer build (components/ffmpeg_layer.py): layout, mode, Lambda's size limits,
reproducibility, a binary that runs once unpacked, and pinned checksums that refuse anything else."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from components import ffmpeg_layer as layer

# Whole stacks, subprocesses, model loads or an 80 MB layer: `make test-fast` leaves these out.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return layer.build_layer(tmp_path_factory.mktemp("layer-a"), source="installed")


def unpack_as_lambda_does(zip_path: Path, into: Path) -> None:
    """Extract with the mode bits the zip records (zipfile alone drops them; Lambda keeps them)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, into))
            target.chmod(stat.S_IMODE(info.external_attr >> 16))


def test_the_zip_holds_bin_ffmpeg_only_executable_and_pinned(built):
    assert built.name == "ffmpeg-layer.zip"
    with zipfile.ZipFile(built) as zf:
        [info] = zf.infolist()
        data = zf.read(info)
    assert info.filename == "bin/ffmpeg"
    assert stat.S_IMODE(info.external_attr >> 16) == 0o755 and stat.S_ISREG(info.external_attr >> 16)
    assert info.create_system == 3 and info.date_time == (1980, 1, 1, 0, 0, 0)
    assert info.compress_type == zipfile.ZIP_DEFLATED
    assert hashlib.sha256(data).hexdigest() == layer.BINARY_SHA256


def test_the_zip_is_inside_lambdas_limits(built):
    with zipfile.ZipFile(built) as zf:
        unzipped = sum(i.file_size for i in zf.infolist())
    assert built.stat().st_size <= 50 * 2**20  # direct upload
    assert unzipped <= 250 * 2**20  # function plus layers, unzipped
    assert 60 * 2**20 < unzipped < 100 * 2**20  # it is the 80 MB 7.0.2 build, not 0.8's 172 MB one


def test_two_builds_are_byte_identical(built, tmp_path):
    time.sleep(1.1)  # a leaked timestamp would show now
    again = layer.build_layer(tmp_path, source="installed")
    assert again != built and again.read_bytes() == built.read_bytes()


def test_the_binary_runs_once_unpacked(built, tmp_path):
    unpack_as_lambda_does(built, tmp_path)
    ffmpeg = tmp_path / "bin" / "ffmpeg"
    assert os.access(ffmpeg, os.X_OK)
    done = subprocess.run([str(ffmpeg), "-hide_banner", "-version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("ffmpeg version 7.0.2")


def test_an_up_to_date_zip_is_kept_and_a_stale_one_rebuilt(built, tmp_path):
    target = tmp_path / layer.LAYER_ZIP
    target.write_bytes(built.read_bytes())
    before = target.stat().st_mtime_ns
    started = time.perf_counter()
    assert layer.build_layer(tmp_path, source="installed") == target
    assert target.stat().st_mtime_ns == before and time.perf_counter() - started < 3
    target.write_bytes(b"not a zip")
    layer.build_layer(tmp_path, source="installed")
    assert target.read_bytes() == built.read_bytes()


def test_the_installed_binary_is_refused_when_its_checksum_differs(tmp_path, monkeypatch):
    monkeypatch.setattr(layer, "BINARY_SHA256", "0" * 64)
    with pytest.raises(
        layer.LayerBuildError, match=r"installed imageio-ffmpeg binary .*does not match the pinned 0{64}"
    ):
        layer.build_layer(tmp_path, source="installed")
    assert list(tmp_path.iterdir()) == []


def _wheel(path: Path, binary: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("imageio_ffmpeg/__init__.py", "")
        zf.writestr(layer.BINARY_IN_WHEEL, binary)
    return path


def test_a_cached_wheel_with_another_checksum_is_refused_before_it_is_opened(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    _wheel(cache / layer.WHEEL_FILE, b"not the pinned ffmpeg")
    with pytest.raises(
        layer.LayerBuildError,
        match=r"the wheel .*imageio_ffmpeg-0\.6\.0-py3-none-manylinux2014_x86_64\.whl: "
        r"sha256 [0-9a-f]{64} does not match the pinned",
    ):
        layer.build_layer(tmp_path / "out", source="wheel", cache_dir=cache)
    assert not (tmp_path / "out" / layer.LAYER_ZIP).exists()


def test_the_binary_inside_a_wheel_is_verified(tmp_path):
    wrong = _wheel(tmp_path / "wrong.whl", b"not the pinned ffmpeg")
    with pytest.raises(
        layer.LayerBuildError, match=r"ffmpeg-linux-x86_64-v7\.0\.2 in .*wrong\.whl: sha256 .* does not match"
    ):
        layer.binary_from_wheel(wrong)
    real = layer.installed_binary_path()
    assert real is not None
    right = _wheel(tmp_path / "right.whl", real.read_bytes())
    assert hashlib.sha256(layer.binary_from_wheel(right)).hexdigest() == layer.BINARY_SHA256
    with pytest.raises(layer.LayerBuildError, match="cannot read"):
        layer.binary_from_wheel(tmp_path / "missing.whl")


def test_an_oversized_layer_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(layer, "ZIP_LIMIT", 1024)
    with pytest.raises(layer.LayerBuildError, match=r"ffmpeg-layer\.zip is .* MiB, over Lambda's"):
        layer.write_layer_zip(tmp_path / layer.LAYER_ZIP, os.urandom(64 * 1024))
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(layer, "UNZIPPED_LIMIT", 1024)
    with pytest.raises(layer.LayerBuildError, match=r"bin/ffmpeg is .* MiB unzipped, over Lambda's"):
        layer.write_layer_zip(tmp_path / layer.LAYER_ZIP, b"x" * 2048)
    assert list(tmp_path.iterdir()) == []


def test_command_line(built, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "components.ffmpeg_layer", "--out", str(tmp_path / "cli")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli" / layer.LAYER_ZIP).read_bytes() == built.read_bytes()
    cache = tmp_path / "cache"
    cache.mkdir()
    _wheel(cache / layer.WHEEL_FILE, b"tampered")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.ffmpeg_layer",
            "--out",
            str(tmp_path / "bad"),
            "--source",
            "wheel",
            "--cache",
            str(cache),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 1 and done.stderr.startswith("error: the wheel") and "refusing" in done.stderr
    assert not (tmp_path / "bad" / layer.LAYER_ZIP).exists()
