"""Build a face database in the course's format from labelled images or videos, as a file or in a
stack's live database (faceDatabase: live), and remove and list people there.

    python -m tools.enroll FACES_DIR --out data/face_db.pt            # one sub-folder per person
    python -m tools.enroll --mapping people.json --out data/face_db.pt  # {"file": "Name", ...}
    python -m tools.enroll --mapping people.csv --out ...               # lines: file,Name
    python -m tools.enroll FACES_DIR --stack Pulumi.dev.yaml          # add them to the live database
    python -m tools.enroll --remove NAME [--purge] --stack ...        # every embedding of NAME gone
    python -m tools.enroll --list --stack ...                         # names, counts, version, history
    python -m tools.enroll --list --out data/face_db.pt               # the same for a file
    python -m tools.enroll FACES_DIR --endpoint-url http://127.0.0.1:PORT --name-prefix P   # local serve

Embeddings come from the recognizer's own models, so a database only fits the weights it was made
with; pictures without a face are skipped, a person left with none is an error (tools/README.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tools import cli, exported
from tools.face_store import LiveStore, Snapshot, StoreError, add, database_bytes, remove, restore
from tools.modelbuild import weights
from tools.modelbuild.media import IMAGE_SUFFIXES, MediaError, Sample, from_folders, from_mapping, is_media, is_video
from tools.modelbuild.media import pictures as _pictures
from tools.text import plural

if TYPE_CHECKING:
    from face_recognizer.faces import Analyses
    from face_recognizer.onnx_models import OnnxFaceModels

__all__ = ["IMAGE_SUFFIXES", "EnrollError", "Sample", "from_folders", "from_mapping", "is_media", "is_video"]

EnrollError = MediaError  # bad input: the message names the file, folder or person at fault


def splitter_first_frame(ffmpeg: str, video: Path) -> bytes:
    """A video's first frame cut by the splitter's own ffmpeg code: exactly the frame the pipeline recognises."""
    from video_splitting.ffmpeg import FfmpegError, first_frame

    try:
        return first_frame(ffmpeg, video, label=str(video)).jpeg
    except FfmpegError as exc:
        raise EnrollError(str(exc)) from None


def pictures(path: Path, *, frames: int = 1, interval_s: float = 0.5, ffmpeg: str | None = None) -> list:
    """The PIL images to enrol from one file (videos: the splitter's first frame, or `frames` frames)."""
    return _pictures(path, frames=frames, interval_s=interval_s, ffmpeg=ffmpeg, first_frame=splitter_first_frame)


# -- the database ----------------------------------------------------------------------------------


def load_models(model_dir: Path, *, threads: int | None = None) -> OnnxFaceModels:
    """The function's own models: the graphs exported into `model_dir` (tools/exported.py)."""
    from face_recognizer.onnx_models import OnnxFaceModels

    return OnnxFaceModels.load(model_dir, threads)


def enroll(
    samples: list[Sample],
    models: Analyses,
    *,
    frames: int = 1,
    interval_s: float = 0.5,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[list, list[str], list[str]]:
    """(embeddings, names, skipped): one (1, 512) embedding per picture with a face."""
    embeddings, names, skipped = [], [], []
    for sample in samples:
        for index, image in enumerate(pictures(sample.path, frames=frames, interval_s=interval_s)):
            embedding = models.embed(image)
            label = f"{sample.path}" + (f" frame {index + 1}" if frames > 1 else "")
            if embedding is None:
                skipped.append(f"{label}: no face found")
                progress(f"skip {label}: no face found")
                continue
            embeddings.append(embedding)
            names.append(sample.name)
            progress(f"{sample.name:<16} {label}")
    missing = sorted({s.name for s in samples} - set(names))
    if missing:
        raise EnrollError(
            "no face found in any picture of " + ", ".join(repr(m) for m in missing) + ": " + "; ".join(skipped)
        )
    return embeddings, names, skipped


def save_database(path: Path, embeddings: list, names: list[str]) -> Path:
    """Write `[embeddings, names]` (tensors, as the course's file) atomically, then check it loads as
    the recognizer loads it."""
    from face_recognizer.facedb import FaceDatabase

    FaceDatabase.from_entries(embeddings, names, source=str(path))  # refuses what the recognizer would
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(database_bytes(embeddings, names))
    os.replace(tmp, path)
    FaceDatabase.load(path)
    return path


# -- what the command does, to a file or to a stack's live database -------------------------------


def read_file(path: Path) -> Snapshot:
    """A database file as the recognizer reads it; its version is its fingerprint."""
    from face_recognizer.facedb import FaceDatabase, FaceDatabaseError

    try:
        database = FaceDatabase.load(path)
    except FaceDatabaseError as exc:
        raise EnrollError(str(exc)) from None
    return Snapshot(
        tuple(r.reshape(1, -1) for r in database.embeddings), database.names, version=database.fingerprint()
    )


def remove_from_file(path: Path, name: str) -> str:
    result = remove(name)(read_file(path))
    if result.embeddings is None:
        raise EnrollError(
            f"{path}: {name!r} is its only person; a database holds at least one, delete the file instead"
        )
    save_database(path, list(result.embeddings), list(result.names))
    return f"{path}: {result.summary}; version {read_file(path).version}"


def listing(where: str, snapshot: Snapshot, history: list[dict] | None = None) -> str:
    """Names and counts, the version, and (live) the versions kept."""
    if snapshot.refused:
        lines = [f"{where}: version {snapshot.version} is not a database the recognizer accepts: {snapshot.refused}"]
    elif not snapshot.exists and not snapshot.names:
        lines = [f"{where}: no database (nobody enrolled)"]
    else:
        people = snapshot.people()
        lines = [
            f"{where} version {snapshot.version}: {plural(len(snapshot.names), 'embedding')} of "
            f"{plural(len(people), 'person', 'people')}"
        ]
        lines += [f"  {name}  {count}" for name, count in people.items()]
    if history:
        lines.append(f"versions ({len(history)}, newest first; old ones expire after faceDatabaseHistoryDays):")
        for v in history:
            state = "delete marker" if v["deleted"] else f"{v['size']:,} bytes"
            lines.append(
                f"  {v['version']}  {v['last_modified']:%Y-%m-%d %H:%M:%S}  {state}"
                + ("  (current)" if v["current"] else "")
            )
    return "\n".join(lines)


def live_store(args: argparse.Namespace) -> LiveStore:
    """The live database of the stack the target arguments name (as tools.workload and grade address one)."""
    from tools.target import resolve_target

    target = resolve_target(args)
    if not target.buckets.faces:
        raise EnrollError(
            f"{target.source} has no live face database: give --outputs, --stack, --name-prefix or --faces-bucket "
            "of a stack whose faceDatabase is live (or --out FILE for a file)"
        )
    return LiveStore(target.client("s3"), target.buckets.faces)


def embed_people(args: argparse.Namespace, say: Callable[[str], None]) -> tuple[list, list[str], list[str]]:
    """The embeddings of the pictures the arguments name, with the recognizer's own models."""
    model_dir = models_of(args)
    if exported.untrained(model_dir):
        print(exported.banner(model_dir), file=sys.stderr)
    samples = from_mapping(args.mapping) if args.mapping else from_folders(args.folder)
    models = load_models(model_dir)
    return enroll(samples, models, frames=args.frames, interval_s=args.interval, progress=say)


def models_of(args: argparse.Namespace) -> Path:
    """The models folder the arguments name (--model-dir, or the export of --torch-home's weights)."""
    if args.model_dir is None:
        torch_home = exported.torch_home(args)
        if not weights.have_weights(torch_home):
            if not args.allow_untrained:
                raise EnrollError(
                    f"no vggface2 weights at {weights.checkpoint_path(torch_home)}; put the real file "
                    "there (production databases need it), or pass --allow-untrained for a demo"
                )
            weights.write_untrained_checkpoint(torch_home)
    try:
        return exported.resolve(args)
    except FileNotFoundError as exc:
        raise EnrollError(str(exc)) from None


def run(args: argparse.Namespace) -> str:
    """Do what the arguments ask; the line that says what was done."""
    say = (lambda _: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    adding = args.folder is not None or args.mapping is not None
    if args.out is not None:  # a database file
        if adding:
            embeddings, names, skipped = embed_people(args, say)
            save_database(args.out, embeddings, names)
            people = sorted(set(names))
            return (
                f"wrote {args.out}: {plural(len(names), 'embedding')} of "
                f"{plural(len(people), 'person', 'people')} ({', '.join(people)})"
                + (f"; skipped {len(skipped)} without a face" if skipped else "")
            )
        if args.remove is not None:
            return remove_from_file(args.out, args.remove)
        return listing(str(args.out), read_file(args.out))
    store = live_store(args)  # the live database of a stack
    if args.list:
        return listing(store.uri, store.read(), store.versions())
    if adding:
        embeddings, names, skipped = embed_people(args, say)
        written = store.update(add(embeddings, names))
    elif args.restore is not None:
        written = store.update(restore(store.read(args.restore)))
    else:
        written = store.update(remove(args.remove))
    line = f"{store.uri}: {written.summary}" + ("" if written.deleted else f"; now version {written.snapshot.version}")
    if written.conflicts:
        line += f" (another writer came first {written.conflicts} time(s); their changes are kept)"
    if args.purge:
        line += f"; purged {store.purge_old_versions()} old version(s)"
    elif args.remove is not None:
        line += (
            f"; older versions still hold {args.remove!r} until they expire (faceDatabaseHistoryDays), "
            "or now with --purge"
        )
    return line


def main(argv: list[str] | None = None) -> int:
    from tools.target import add_target_arguments

    parser = cli.parser("python -m tools.enroll", __doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("folder", nargs="?", type=Path, help="folder with one sub-folder of pictures/videos per person")
    source.add_argument("--mapping", type=Path, help="JSON {file: name} or CSV `file,name` lines")
    source.add_argument("--remove", metavar="NAME", help="remove every embedding of NAME")
    source.add_argument("--list", action="store_true", help="the names, their embeddings and the database version")
    source.add_argument("--restore", metavar="VERSION", help="live: make an older version current again")
    parser.add_argument(
        "--out",
        type=Path,
        help="a database file: written afresh from the pictures, or edited by --remove, or read by --list. "
        "Without it, the live database of the stack given below (faceDatabase: live)",
    )
    parser.add_argument(
        "--purge",
        action="store_true",
        help="live, with --remove: delete every older version now, rather than after faceDatabaseHistoryDays",
    )
    exported.add_arguments(
        parser,
        torch_home_default=None,
        torch_home_help="folder with checkpoints/20180402-114759-vggface2.pt, exported to the recognizer's "
        "models once per checkpoint (default: $TORCH_HOME, else data/torch)",
    )
    parser.add_argument(
        "--allow-untrained",
        action="store_true",
        help="when no weights are there, write the untrained stand-in and use it (offline demos)",
    )
    parser.add_argument("--frames", type=int, default=1, help="frames per video (default 1: the first)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between video frames when --frames > 1")
    parser.add_argument("--quiet", action="store_true")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    if args.frames < 1 or args.interval <= 0:
        parser.error("--frames must be at least 1 and --interval positive")
    if args.purge and (args.remove is None or args.out is not None):
        parser.error("--purge goes with --remove NAME on a stack's live database")
    if args.restore is not None and args.out is not None:
        parser.error("--restore VERSION is for a stack's live database (a file has no versions)")
    try:
        print(run(args))
    except (EnrollError, StoreError) as exc:
        print(f"enroll: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
