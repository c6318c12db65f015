"""Build the ffmpeg Lambda layer: `ffmpeg-layer.zip` holding `bin/ffmpeg` (Lambda mounts it at /opt/bin/ffmpeg).

    python -m components.ffmpeg_layer [--out build] [--source auto|installed|wheel] [--cache DIR]

A pinned, checksummed static ffmpeg in a reproducible zip, so `pulumi up` never redeploys the layer
for nothing; sources and sizes: components/README.md (The ffmpeg layer).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

from components import packaging

IMAGEIO_FFMPEG_VERSION = "0.6.0"
WHEEL_PLATFORM = "manylinux2014_x86_64"
WHEEL_FILE = f"imageio_ffmpeg-{IMAGEIO_FFMPEG_VERSION}-py3-none-{WHEEL_PLATFORM}.whl"
WHEEL_SHA256 = "c7e46fcec401dd990405049d2e2f475e2b397779df2519b544b8aab515195282"
BINARY_IN_WHEEL = "imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v7.0.2"
BINARY_SHA256 = "e7e7fb30477f717e6f55f9180a70386c62677ef8a4d4d1a5d948f4098aa3eb99"

LAYER_ZIP = "ffmpeg-layer.zip"
LAYER_ENTRY = "bin/ffmpeg"
ZIP_LIMIT = 50 * 2**20  # Lambda: a layer uploaded directly (not from S3)
UNZIPPED_LIMIT = 250 * 2**20  # Lambda: function plus all its layers, unzipped

_MODE = 0o100755  # a regular, executable file
_COMMENT_PREFIX = b"ffmpeg sha256="
_COMPRESS_LEVEL = 6  # 9 takes twice as long for 0.4 % less


class LayerBuildError(packaging.PackagingError):
    """The layer cannot be built; the message names the file and what is wrong with it."""


_built: dict[Path, Path] = {}


def build(out_dir: Path | None = None) -> Path:
    """The layer zip in `out_dir` (default: packaging.build_dir()), built once per process and folder.

    The build checksums and recompresses an 80 MB binary; a process that composes the program more
    than once (the tests) needs it only once.
    """
    key = Path(packaging.build_dir() if out_dir is None else out_dir).resolve()
    cached = _built.get(key)
    if cached is None or not cached.is_file():
        cached = _built[key] = build_layer(key)
    return cached


def build_layer(out_dir: Path, *, source: str = "auto", cache_dir: Path | None = None) -> Path:
    """Write `<out_dir>/ffmpeg-layer.zip` and return its path."""
    out_dir = Path(out_dir)
    binary = _binary(source, Path(cache_dir) if cache_dir else _default_cache())
    target = out_dir / LAYER_ZIP
    if _up_to_date(target, binary):
        return target
    return write_layer_zip(target, binary)


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "video-face-pipeline" / "wheels"


def _binary(source: str, cache_dir: Path) -> bytes:
    if source not in ("auto", "installed", "wheel"):
        raise LayerBuildError(f"source must be auto, installed or wheel, not {source!r}")
    if source in ("auto", "installed"):
        installed = installed_binary_path()
        if installed is not None:
            return read_verified(installed, BINARY_SHA256, what="the installed imageio-ffmpeg binary")
        if source == "installed":
            raise LayerBuildError(
                f"imageio-ffmpeg=={IMAGEIO_FFMPEG_VERSION} with its Linux x86_64 binary is "
                "not installed in this interpreter; use --source wheel"
            )
    return binary_from_wheel(fetch_wheel(cache_dir))


def installed_binary_path() -> Path | None:
    """The pinned binary inside this interpreter's imageio_ffmpeg, if that is the pinned version."""
    try:
        from importlib import metadata

        if metadata.version("imageio-ffmpeg") != IMAGEIO_FFMPEG_VERSION:
            return None
        import imageio_ffmpeg
    except Exception:  # not installed, or broken: the wheel route still works
        return None
    path = Path(imageio_ffmpeg.__file__).parent / "binaries" / Path(BINARY_IN_WHEEL).name
    return path if path.is_file() else None  # another platform's wheel holds another binary


def fetch_wheel(cache_dir: Path) -> Path:
    """The pinned wheel in `cache_dir`, downloaded with pip if it is not there yet; checksum verified."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = cache_dir / WHEEL_FILE
    if not wheel.is_file():
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            WHEEL_PLATFORM,
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            str(cache_dir),
            f"imageio-ffmpeg=={IMAGEIO_FFMPEG_VERSION}",
        ]
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0 or not wheel.is_file():
            tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise LayerBuildError(
                f"pip download of imageio-ffmpeg=={IMAGEIO_FFMPEG_VERSION} ({WHEEL_PLATFORM}) "
                f"failed: {tail or f'exit status {done.returncode}'}"
            )
    verify_file(wheel, WHEEL_SHA256, what=f"the wheel {wheel}")
    return wheel


def binary_from_wheel(wheel: Path, *, expected_sha256: str = BINARY_SHA256) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(BINARY_IN_WHEEL)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise LayerBuildError(f"{wheel}: cannot read {BINARY_IN_WHEEL} ({exc})") from None
    _check(hashlib.sha256(data).hexdigest(), expected_sha256, f"{BINARY_IN_WHEEL} in {wheel}")
    return data


def read_verified(path: Path, expected_sha256: str, *, what: str) -> bytes:
    data = Path(path).read_bytes()
    _check(hashlib.sha256(data).hexdigest(), expected_sha256, f"{what} ({path})")
    return data


def verify_file(path: Path, expected_sha256: str, *, what: str) -> None:
    with open(path, "rb") as fh:
        _check(hashlib.file_digest(fh, "sha256").hexdigest(), expected_sha256, what)


def _check(actual: str, expected: str, what: str) -> None:
    if actual != expected:
        raise LayerBuildError(
            f"{what}: sha256 {actual} does not match the pinned {expected}; refusing to "
            "use it (delete a corrupt download and build again, or update the pin "
            "deliberately)"
        )


def write_layer_zip(target: Path, binary: bytes) -> Path:
    """The reproducible zip: one entry, bin/ffmpeg, 0755, fixed timestamp; size limits checked."""
    if len(binary) > UNZIPPED_LIMIT:
        raise LayerBuildError(
            f"{LAYER_ENTRY} is {len(binary) / 2**20:.1f} MiB unzipped, over Lambda's "
            f"{UNZIPPED_LIMIT / 2**20:.0f} MiB limit"
        )
    try:
        return packaging.write_zip(
            Path(target),
            [packaging.Entry(LAYER_ENTRY, binary, mode=_MODE)],
            limit=ZIP_LIMIT,
            compresslevel=_COMPRESS_LEVEL,
            comment=_COMMENT_PREFIX + hashlib.sha256(binary).hexdigest().encode(),
        )
    except packaging.PackagingError as error:
        raise LayerBuildError(str(error)) from None


def _up_to_date(target: Path, binary: bytes) -> bool:
    """True when `target` is exactly the zip write_layer_zip would write for `binary`."""
    if not target.is_file():
        return False
    try:
        with zipfile.ZipFile(target) as zf:
            infos = zf.infolist()
            comment = zf.comment
    except (zipfile.BadZipFile, OSError):
        return False
    if len(infos) != 1 or comment != _COMMENT_PREFIX + hashlib.sha256(binary).hexdigest().encode():
        return False
    info = infos[0]
    return (
        info.filename == LAYER_ENTRY
        and info.date_time == packaging.FIXED_TIME
        and info.external_attr >> 16 == _MODE
        and info.create_system == 3
        and info.file_size == len(binary)
        and zlib.crc32(binary) == info.CRC
        and target.stat().st_size <= ZIP_LIMIT
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the ffmpeg Lambda layer zip (bin/ffmpeg).")
    parser.add_argument("--out", type=Path, default=packaging.build_dir(), help="output folder (default: build)")
    parser.add_argument(
        "--source",
        choices=("auto", "installed", "wheel"),
        default="auto",
        help="take the binary from the installed imageio-ffmpeg or from the pinned wheel",
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help=f"where the wheel is downloaded (default: {_default_cache()})"
    )
    args = parser.parse_args(argv)
    try:
        path = build_layer(args.out, source=args.source, cache_dir=args.cache)
    except LayerBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{path} ({path.stat().st_size / 2**20:.1f} MiB, {LAYER_ENTRY} sha256 {BINARY_SHA256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
