"""The archives the Pulumi program uploads, and the one zip writer they share.

Every archive is byte-for-byte reproducible (sorted entries, fixed timestamps and modes), so an
unchanged tree gives an unchanged archive hash and `pulumi up` does not redeploy for nothing.
A zip function's archive holds exactly the packages components/topology.py says it ships, each at
the zip's root as Lambda imports them; the ffmpeg layer is components/ffmpeg_layer.py.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from components import topology
from components.project import BUILD_DIR, FUNCTIONS_DIR, PROJECT_DIR

BUILD_DIR_VARIABLE = "VFP_BUILD_DIR"
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024  # direct upload
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


class PackagingError(RuntimeError):
    """An artefact cannot be built; the message names the file or folder."""


@dataclass(frozen=True)
class Entry:
    """One archive member: its name, its content (a file to read, or bytes), its Unix mode."""

    name: str
    source: Path | bytes
    mode: int = 0o100644


def build_dir() -> Path:
    """Where `pulumi up` writes the archives: build/, or $VFP_BUILD_DIR (tests, CI caches)."""
    return Path(os.environ.get(BUILD_DIR_VARIABLE) or BUILD_DIR)


def function_zip(role: str, out_dir: Path | None = None) -> Path:
    """The zip of a zip-packaged function of topology.FUNCTIONS: <out_dir>/<role>.zip."""
    facts = topology.FUNCTIONS[role]
    if facts.package != topology.ZIP:
        raise PackagingError(f"{role} ships as {facts.package}, not as a zip")
    return build_function_zip(facts.zip_name, facts.packages, facts.handler, out_dir)


def build_function_zip(file_name: str, packages: Sequence[str], handler: str, out_dir: Path | None = None) -> Path:
    """Zip `packages` (folders of functions/) into <out_dir>/<file_name>, each at the zip's root.

    `handler` (module.attr) must come from one of them: a zip without its handler is refused here,
    at preview, rather than by Lambda at the first invocation.
    """
    out_dir = build_dir() if out_dir is None else out_dir
    module = FUNCTIONS_DIR / Path(*handler.split(".")[:-1]).with_suffix(".py")
    if handler.split(".")[0] not in packages or not module.is_file():
        raise PackagingError(
            f"{module} does not exist in {', '.join(packages)}: the handler {handler} has nowhere to come from"
        )
    files = sorted(f for package in packages for f in package_files(FUNCTIONS_DIR / package))
    return write_zip(Path(out_dir) / file_name, [Entry(f.relative_to(FUNCTIONS_DIR).as_posix(), f) for f in files])


def package_files(root: Path) -> Iterator[Path]:
    """Every file of a package that ships: no caches, no compiled files, nothing hidden."""
    if not root.is_dir():
        raise PackagingError(f"{root} is not a folder")
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in names:
            if name.startswith(".") or name.endswith(_SKIP_SUFFIXES):
                continue
            yield Path(folder) / name


def write_zip(
    target: Path,
    entries: Sequence[Entry],
    *,
    limit: int = LAMBDA_ZIP_LIMIT,
    compresslevel: int = 9,
    comment: bytes = b"",
) -> Path:
    """Write the entries in sorted order with fixed metadata, atomically; refuse one over `limit`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
            for entry in sorted(entries, key=lambda e: e.name):
                info = zipfile.ZipInfo(entry.name, date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so Lambda honours the mode bits
                info.external_attr = entry.mode << 16
                data = entry.source if isinstance(entry.source, bytes) else entry.source.read_bytes()
                zf.writestr(info, data, compresslevel=compresslevel)
            zf.comment = comment
        size = os.path.getsize(tmp)
        if size > limit:
            raise PackagingError(
                f"{target.name} is {size / 2**20:.1f} MiB, over Lambda's {limit / 2**20:.0f} MiB upload limit"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def archive_path(path: Path) -> str:
    """The path to give a Pulumi archive: relative to the project (Pulumi runs from there) when inside it.

    Stack state then holds the same path on every machine that deploys the stack.
    """
    path = Path(path).resolve()
    try:
        return path.relative_to(PROJECT_DIR).as_posix()
    except ValueError:
        return str(path)
