"""Where does a person appear? Every video and time range, newest first, from the stack's appearances table.

    python -m tools.search NAME [--outputs FILE | --stack Pulumi.dev.yaml | --name-prefix P] [--json]
    python -m tools.search --face PICTURE [...]   # the enrolled person nearest the face in a picture

`--json` prints `[{"video": KEY, "ranges": [[start_s, end_s], ...]}, ...]` on stdout and nothing else.
`--face` embeds the picture's face with the recognizer's own models (`--model-dir`, or the ONNX export
of the weights in `--torch-home`) and searches the live database for the nearest person: only as good as the weights
(with the untrained stand-in every face is near every other).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tools import cli, exported
from tools.target import TargetError, failure_status

if TYPE_CHECKING:
    from tools.library_target import LibraryTarget


def nearest_person(picture: Path, model_dir: Path, lt: LibraryTarget) -> tuple[str, float]:
    """The live database's nearest name to the face in `picture`, and its distance."""
    from PIL import Image

    from face_recognizer.databases import parse
    from tools.enroll import load_models
    from tools.face_store import LiveStore

    embedding = load_models(model_dir).embed(Image.open(picture).convert("RGB"))
    if embedding is None:
        raise TargetError(f"{picture}: no face found")
    faces = lt.target.buckets.faces
    if not faces:
        raise TargetError(f"{lt.target.source}: no live face database to search (--face needs faceDatabase: live)")
    store = LiveStore(lt.target.client("s3"), faces)
    snapshot = store.read()
    if not snapshot.names:
        raise TargetError(f"{store.uri}: nobody is enrolled")
    from tools.face_store import database_bytes

    database = parse(database_bytes(snapshot.embeddings, snapshot.names), store.uri)
    return database.nearest(embedding)


def main(argv: list[str] | None = None) -> int:
    from tools.library_target import resolve
    from tools.workload import add_target_arguments

    parser = cli.parser("python -m tools.search", __doc__)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("name", nargs="?", help="the person's name as enrolled")
    what.add_argument("--face", type=Path, metavar="PICTURE", help="a picture of the person's face")
    parser.add_argument("--json", action="store_true", help="print the JSON list only")
    exported.add_arguments(
        parser, torch_home_default=None, torch_home_help="weights for --face (default: $TORCH_HOME, else data/torch)"
    )
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    lt = None
    try:
        lt = resolve(args)
        name = args.name
        if args.face is not None:
            try:
                models = exported.resolve(args)
            except FileNotFoundError as exc:
                raise TargetError(f"{exc} (--torch-home or --model-dir)") from None
            name, distance = nearest_person(args.face, models, lt)
            print(f"nearest enrolled person: {name} (distance {distance:.4f})", file=sys.stderr)
        found = lt.library().index.search(name)
    except TargetError as exc:
        print(f"search: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        return failure_status("search", exc, lt.target if lt else None)
    if args.json:
        print(json.dumps([{"video": f["video"], "ranges": f["ranges"]} for f in found]))
        return 0
    if not found:
        print(f"{name}: no appearances")
    for f in found:
        spans = ", ".join(f"{a:g}-{b:g} s" for a, b in f["ranges"])
        print(f"{f['processed_at']}  {f['video']}  {spans}  (best distance {f['best_distance']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
