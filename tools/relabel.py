"""Match every stored result of a stack again against its live face database, now.

    python -m tools.relabel [--outputs FILE | --stack Pulumi.dev.yaml | --name-prefix P]

The stack does this by itself after each change of the live database (the faces bucket notifies the
recognizer); this is the same code (face_recognizer.relabel) run from here: after a failed automatic
relabel, or for a library too large for one invocation. Results whose names and distances do not
change are left alone; each one that changes gets its `.txt`, `.json`, index items and one event.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from tools import cli
from tools.target import TargetError, failure_status

if TYPE_CHECKING:
    from tools.library_target import LibraryTarget


def current_database(lt: LibraryTarget) -> tuple[Any, str]:
    """The live database and its version, as the recognizer would load it."""
    from face_recognizer.databases import parse
    from tools.face_store import LiveStore, database_bytes

    faces = lt.target.buckets.faces
    if not faces:
        raise TargetError(f"{lt.target.source}: no live face database (relabelling needs faceDatabase: live)")
    store = LiveStore(lt.target.client("s3"), faces)
    snapshot = store.read()
    if not snapshot.exists or snapshot.refused:
        raise TargetError(f"{store.uri}: {snapshot.refused or 'nobody is enrolled'}; nothing to relabel with")
    return parse(database_bytes(snapshot.embeddings, snapshot.names), store.uri), str(snapshot.version)


def main(argv: list[str] | None = None) -> int:
    from tools.library_target import resolve
    from tools.workload import add_target_arguments

    parser = cli.parser("python -m tools.relabel", __doc__)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    lt = None
    try:
        lt = resolve(args)
        database, version = current_database(lt)
        summary = lt.library().relabel_all(database, version, say=None if args.json else print)
    except TargetError as exc:
        print(f"relabel: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        return failure_status("relabel", exc, lt.target if lt else None)
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"database version {version}: {len(summary['changed'])} result(s) changed, "
            f"{summary['unchanged']} unchanged, {len(summary['failed'])} failed"
        )
        for failure in summary["failed"]:
            print(f"  failed: {failure}", file=sys.stderr)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
