"""The artefacts the Pulumi program uploads: the splitter's zip and the ffmpeg layer.

Both are byte-for-byte reproducible (sorted entries, fixed timestamps and modes), so an unchanged
tree gives an unchanged archive hash and `pulumi up` does not redeploy for nothing.
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Iterator, Optional

from components.settings import PROJECT_DIR

FUNCTIONS_DIR = PROJECT_DIR / "functions"
LAYER_BUILDER = PROJECT_DIR / "docker" / "build_ffmpeg_layer.py"
BUILD_DIR_VARIABLE = "VFP_BUILD_DIR"

SPLITTER_PACKAGES = ("video_splitting", "pipeline_common")  # each at the zip's root, as Lambda imports them
SPLITTER_HANDLER = "video_splitting.handler.handler"
SPLITTER_ZIP_NAME = "video-splitting.zip"

LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024  # direct upload
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


class PackagingError(RuntimeError):
    """An artefact cannot be built; the message names the file or folder."""


def build_dir() -> Path:
    """Where `pulumi up` writes the archives: build/, or $VFP_BUILD_DIR (tests, CI caches)."""
    return Path(os.environ.get(BUILD_DIR_VARIABLE) or PROJECT_DIR / "build")


def build_splitter_zip(out_dir: Optional[Path] = None) -> Path:
    """Zip functions/video_splitting and functions/pipeline_common into <out_dir>/video-splitting.zip."""
    out_dir = build_dir() if out_dir is None else out_dir
    handler = FUNCTIONS_DIR / Path(*SPLITTER_HANDLER.split(".")[:-1]).with_suffix(".py")
    if not handler.is_file():
        raise PackagingError(f"{handler} does not exist: the splitter's handler "
                             f"({SPLITTER_HANDLER}) has nowhere to come from")
    files = sorted(f for package in SPLITTER_PACKAGES for f in _package_files(FUNCTIONS_DIR / package))
    return write_zip(Path(out_dir) / SPLITTER_ZIP_NAME,
                     [(f.relative_to(FUNCTIONS_DIR).as_posix(), f) for f in files])


def _package_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        raise PackagingError(f"{root} is not a folder")
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in names:
            if name.startswith(".") or name.endswith(_SKIP_SUFFIXES):
                continue
            yield Path(folder) / name


def write_zip(target: Path, entries: list[tuple[str, Path]], *, limit: int = LAMBDA_ZIP_LIMIT) -> Path:
    """Write (archive name, source file) entries in sorted order with fixed metadata, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for name, source in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so Lambda honours the mode bits
                info.external_attr = (0o100644 << 16)
                zf.writestr(info, source.read_bytes())
        size = os.path.getsize(tmp)
        if size > limit:
            raise PackagingError(f"{target.name} is {size / 2**20:.1f} MiB, over Lambda's "
                                 f"{limit / 2**20:.0f} MiB upload limit")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# ---------------------------------------------------------------------------------------------
# The ffmpeg layer: docker/build_ffmpeg_layer.py is a script, not a package (a `docker` package
# would shadow the Docker SDK), so it is loaded from its path.

_layers: dict[Path, Path] = {}


def layer_builder() -> Callable[[Path], Path]:
    """`build_layer(out_dir) -> Path` from docker/build_ffmpeg_layer.py, its errors as PackagingError."""
    if not LAYER_BUILDER.is_file():
        raise PackagingError(f"{LAYER_BUILDER} does not exist: nothing can build the ffmpeg layer")
    spec = importlib.util.spec_from_file_location("_vfp_build_ffmpeg_layer", LAYER_BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    build = getattr(module, "build_layer", None)
    if not callable(build):
        raise PackagingError(f"{LAYER_BUILDER} has no build_layer(out_dir) function")
    failure = getattr(module, "LayerBuildError", ())  # its "refused: checksum, size, download" error

    def build_layer(out_dir: Path) -> Path:
        try:
            return Path(build(out_dir))
        except failure as error:
            raise PackagingError(f"ffmpeg layer: {error}") from error

    return build_layer


def build_ffmpeg_layer(out_dir: Optional[Path] = None) -> Path:
    """The layer zip (bin/ffmpeg), built once per process and out_dir.

    The build checksums and recompresses an 80 MB binary; a process that composes the program more
    than once (the tests) needs it only once.
    """
    key = Path(build_dir() if out_dir is None else out_dir).resolve()
    cached = _layers.get(key)
    if cached is None or not cached.is_file():
        cached = _layers[key] = layer_builder()(key)
    return cached


def archive_path(path: Path) -> str:
    """The path to give a Pulumi archive: relative to the project (Pulumi runs from there) when inside it.

    Stack state then holds the same path on every machine that deploys the stack.
    """
    path = Path(path).resolve()
    try:
        return path.relative_to(PROJECT_DIR).as_posix()
    except ValueError:
        return str(path)
