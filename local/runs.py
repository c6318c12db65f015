"""One run's files are its own: each `python -m local run|demo|serve` gets a fresh folder
`out/local/<run-id>/` (its logs, a serve's outputs file and what it left unfinished), and
`out/local/latest` points at the newest. So `make demo` during a `serve` never deletes the serve's
logs, and a second `serve` never overwrites or removes the first's outputs.

`out/local/outputs.json`, the path the tools' examples use, is a link to the outputs of the `serve`
that claimed it first and still runs; a second serve leaves it alone and says where its own are.
A folder or file given explicitly (`--logs`, `--outputs`) that a live stack holds is refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from local.procs import alive, start_time

OWNER = ".owner"  # in a run folder or a --logs folder: the pid and start time of the stack using it
LATEST = "latest"
KEEP = 20  # finished run folders kept; older ones go when a new run starts
RUN_NAME = re.compile(r"\d{8}-\d{6}-[a-z]+-\d+(-\d+)?")  # what new_run() names a folder


class Held(ValueError):
    """Another live stack holds the folder or file; the message says which."""


def _stamp(pid: int) -> str:
    return f"{pid} {start_time(pid)}\n"


def holder(folder: Path) -> int | None:
    """The pid of the live process that holds `folder`, if any (a dead one's pid may be reused:
    its start time tells them apart)."""
    try:
        pid_text, started = (folder / OWNER).read_text(encoding="ascii").split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and str(start_time(pid)) == started else None


def claim(folder: Path) -> None:
    """Make `folder` this process's, refusing one a live stack holds."""
    folder.mkdir(parents=True, exist_ok=True)
    other = holder(folder)
    if other is not None and other != os.getpid():
        raise Held(f"{folder} is in use by the local stack of process {other}; choose another folder")
    (folder / OWNER).write_text(_stamp(os.getpid()), encoding="ascii")


def release(folder: Path) -> None:
    if holder(folder) == os.getpid():
        (folder / OWNER).unlink(missing_ok=True)


def new_run(root: Path, command: str) -> Path:
    """A fresh folder for this run, claimed, and `latest` pointed at it; old finished ones pruned."""
    root.mkdir(parents=True, exist_ok=True)
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{command}-{os.getpid()}"
    for n in range(100):
        folder = root / (base if n == 0 else f"{base}-{n}")
        try:
            folder.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise Held(f"no free run folder under {root}")
    claim(folder)
    _point(root / LATEST, folder.name)
    prune(root, keep=KEEP)
    return folder


def _point(link: Path, target: str) -> None:
    temporary = link.with_name(f".{link.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    os.replace(temporary, link)  # atomic: a reader sees the old or the new pointer, never none


def prune(root: Path, *, keep: int) -> None:
    """Remove all but the newest `keep` run folders that no live stack holds."""
    runs = sorted((p for p in root.iterdir() if RUN_NAME.fullmatch(p.name) and not p.is_symlink()), key=_started)
    finished = [p for p in runs if holder(p) is None]
    for folder in finished[: max(0, len(finished) - keep)]:
        shutil.rmtree(folder, ignore_errors=True)


def _started(path: Path) -> tuple[str, int]:
    """A run folder's start (its name's timestamp) and, within one second and process, its number."""
    match = RUN_NAME.fullmatch(path.name)
    return path.name[:15], int(match.group(1)[1:]) if match and match.group(1) else 0


def endpoint_answers(outputs: Path) -> str | None:
    """The endpoint an outputs file names, when something listens there (a live stack)."""
    try:
        url = json.loads(outputs.read_text(encoding="utf-8")).get("endpointUrl")
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1):
            return str(url)
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def write_private(path: Path, text: str) -> None:
    """Write `path` readable by its owner only (it holds the stack's credentials), refusing to
    replace the outputs of a stack that still answers."""
    live = endpoint_answers(path) if path.exists() else None
    if live is not None:
        raise Held(f"{path} holds the outputs of a running stack ({live}); choose another --outputs")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def publish(link: Path, outputs: Path) -> bool:
    """Point the well-known `link` at `outputs`, unless a running stack's outputs are there."""
    if link.exists() and endpoint_answers(link) is not None:
        return False
    if link.exists() and not link.is_symlink():
        link.unlink()  # a plain file from an older version, whose stack is gone
    _point(link, os.path.relpath(outputs, link.parent))
    return True


def unpublish(link: Path, outputs: Path) -> None:
    """Remove `link` if it still points at `outputs` (not at a newer stack's)."""
    try:
        if link.is_symlink() and (link.parent / os.readlink(link)).resolve() == outputs.resolve():
            link.unlink()
    except OSError:
        pass
