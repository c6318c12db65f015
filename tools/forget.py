"""Forget a person everywhere the stack holds them: the right to erasure.

    python -m tools.forget NAME [--outputs FILE | --stack ... | --name-prefix P]   # shows what, then asks
    python -m tools.forget NAME --yes ...                                          # no question; a receipt

What goes (face_recognizer.library and relabel say where each lives):
- every result that named NAME: those faces become `unknown`, their stored embeddings (and that
  video's HTML report faces, `report.json` and every `thumb-<n>.jpg`, all versions) are deleted,
  `<stem>.txt`/`.json` are rewritten, and each such video's stage-1 objects (its frames) are deleted;
- every older version of a library `faces.json` that names NAME (a relabelled result's history);
- NAME's items in the appearances table;
- NAME in the live face database: a new version without them, then every version that held them.
The results are changed first and the database last, so the relabel that the database change
starts can no longer give NAME's faces to anyone else; a second pass then catches a video answered
meanwhile. What it cannot erase is in tools/README.md.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tools import cli
from tools.target import TargetError, failure_status

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from face_recognizer.library import Filed
    from face_recognizer.relabel import Library, Stored
    from tools.library_target import LibraryTarget


@dataclass
class Receipt:
    results_rewritten: list[str] = field(default_factory=list)  # video keys
    library_versions_deleted: list[str] = field(default_factory=list)  # key@version
    thumbnails_deleted: list[str] = field(default_factory=list)
    stage1_deleted: list[str] = field(default_factory=list)
    index_items_deleted: int = 0
    database_versions_deleted: list[str] = field(default_factory=list)
    database_rewritten: str | None = None  # the new current version (or "deleted": nobody left)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Plan:
    current: dict[str, Any] = field(default_factory=dict)  # faces.json key → Stored naming NAME
    old_versions: list[tuple[str, str]] = field(default_factory=list)  # (key, version) naming NAME
    database_versions: list[str] = field(default_factory=list)
    index_items: list[dict] = field(default_factory=list)


def _names(blob: bytes) -> set[str]:
    doc = json.loads(blob)
    return {face["name"] for frame in doc.get("frames") or () for face in frame["faces"]}


def survey(lt: LibraryTarget, library: Library, name: str) -> Plan:
    """Everything that names `name`: library versions, database versions, index items."""
    from face_recognizer.library import Filed
    from face_recognizer.relabel import Stored
    from pipeline_common.keys import LIBRARY_FACES

    s3, plan = library.s3, Plan()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=lt.bucket, Prefix="videos/"):
        for v in page.get("Versions", []):
            if not v["Key"].endswith("/" + LIBRARY_FACES):
                continue
            got = s3.get_object(Bucket=lt.bucket, Key=v["Key"], VersionId=v["VersionId"])
            blob = got["Body"].read()
            if name not in _names(blob):
                continue
            if v["IsLatest"]:
                plan.current[v["Key"]] = Stored(Filed.from_json(blob), got["ETag"])
            else:
                plan.old_versions.append((v["Key"], v["VersionId"]))
    if lt.target.buckets.faces:
        from tools.face_store import LiveStore

        store = LiveStore(lt.target.client("s3"), lt.target.buckets.faces)
        for version in store.versions():
            if not version["deleted"] and name in store.read(version["version"]).names:
                plan.database_versions.append(version["version"])
    plan.index_items = library.index.search(name)
    return plan


def describe(plan: Plan, name: str) -> str:
    lines = [f"forget {name}:"]
    lines.append(f"  results naming them, rewritten (their faces -> unknown): {len(plan.current)}")
    lines += [f"    {stored.filed.video}" for stored in plan.current.values()]
    lines.append(f"  their videos' stage-1 objects, deleted: {len(plan.current)}")
    lines.append(f"  older library versions naming them, deleted: {len(plan.old_versions)}")
    lines.append(f"  appearance index items, deleted: {len(plan.index_items)}")
    lines.append(f"  face database versions holding them, deleted: {len(plan.database_versions)}")
    return "\n".join(lines)


def forget_results(library: Library, plan: Plan, name: str, receipt: Receipt) -> None:
    from face_recognizer.library import UNKNOWN_NAME
    from face_recognizer.relabel import Stored

    s3 = library.s3
    for key, stored in plan.current.items():
        for _ in range(5):
            new, thumbs = _without(stored, name, UNKNOWN_NAME)
            if library.rewrite(stored, new, "forget"):
                break
            fresh = library.read(key)  # a relabel changed it meanwhile: do it again on what it wrote
            if fresh is None:
                break
            stored = Stored(fresh.filed, fresh.etag)
        else:
            raise RuntimeError(f"{key}: changed five times while it was being rewritten; run forget again")
        receipt.results_rewritten.append(new.video)
        if thumbs:  # the HTML report's faces of this video (face_recognizer.thumbnails) name them too
            _forget_report(s3, library.config.bucket, new.prefix, receipt)
        bucket, _, stage1_key = new.stage1[len("s3://") :].partition("/")
        receipt.stage1_deleted += _delete_stage1(s3, bucket, stage1_key)
        # The versions before the rewrite named them.
        for version in _versions(s3, library.config.bucket, key):
            if not version["IsLatest"]:
                s3.delete_object(Bucket=library.config.bucket, Key=key, VersionId=version["VersionId"])
                receipt.library_versions_deleted.append(f"{key}@{version['VersionId']}")
    forget_reports(s3, library.config.bucket, name, receipt)
    for key, version_id in plan.old_versions:
        if key in plan.current:
            continue  # its old versions went with its rewrite above
        s3.delete_object(Bucket=library.config.bucket, Key=key, VersionId=version_id)
        receipt.library_versions_deleted.append(f"{key}@{version_id}")


def _without(stored: Stored, name: str, unknown: str) -> tuple[Filed, list[str]]:
    """The result with `name`'s faces made unknown and their embeddings dropped; their thumbnails."""
    frames, thumbs, n = [], [], 0
    for frame in stored.filed.frames:
        faces = []
        for face in frame["faces"]:
            if face["name"] == name:
                thumbs.append(face.get("thumb") or f"thumb-{n}.jpg")
                face = {**face, "name": unknown, "embedding": None}
            faces.append(face)
            n += 1
        frames.append({**frame, "faces": faces})
    return stored.filed.with_frames(frames, stored.filed.database_version), thumbs


def forget_reports(s3: BaseClient, bucket: str, name: str, receipt: Receipt) -> None:
    """Every video whose HTML report (any report.json version) names `name` loses its report and
    thumbnails: a relabel renames faces.json's faces, not the report's, so its names may be older."""
    from pipeline_common.keys import LIBRARY_REPORT

    prefixes = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="videos/"):
        for v in page.get("Versions", []):
            if not v["Key"].endswith("/" + LIBRARY_REPORT):
                continue
            body = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
            try:
                faces = json.loads(body).get("faces") or []
            except (ValueError, AttributeError):
                faces = []
            if any(isinstance(f, dict) and f.get("name") == name for f in faces):
                prefixes.add(v["Key"][: -len(LIBRARY_REPORT)])
    for prefix in sorted(prefixes):
        _forget_report(s3, bucket, prefix, receipt)


def _forget_report(s3: BaseClient, bucket: str, prefix: str, receipt: Receipt) -> None:
    for key in _report_objects(s3, bucket, prefix):
        deleted = _delete_all_versions(s3, bucket, key)
        receipt.thumbnails_deleted += [k for k in deleted if k not in receipt.thumbnails_deleted]


def _report_objects(s3: BaseClient, bucket: str, prefix: str) -> list[str]:
    """A video's report.json and thumbnails (any version, deleted ones too)."""
    from pipeline_common.keys import LIBRARY_REPORT

    keys = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for kind in ("Versions", "DeleteMarkers"):
            for v in page.get(kind, []):
                rest = v["Key"][len(prefix) :]
                if rest == LIBRARY_REPORT or (rest.startswith("thumb-") and rest.endswith(".jpg")):
                    keys.add(v["Key"])
    return sorted(keys)


def _versions(s3: BaseClient, bucket: str, key: str) -> list[dict]:
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for kind in ("Versions", "DeleteMarkers"):
            found += [v for v in page.get(kind, []) if v["Key"] == key]
    return found


def _delete_all_versions(s3: BaseClient, bucket: str, key: str) -> list[str]:
    versions = _versions(s3, bucket, key)
    for v in versions:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
    return [f"s3://{bucket}/{key}"] if versions else []


def _delete_stage1(s3: BaseClient, bucket: str, key: str) -> list[str]:
    """A result's stage-1 objects: its frame or frames object, or (a timeline's segments, filed as
    their folder `segments/<quoted key>/`) every object in that folder."""
    if not key.endswith("/"):
        return _delete_all_versions(s3, bucket, key)
    keys: set[str] = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for kind in ("Versions", "DeleteMarkers"):
            keys.update(v["Key"] for v in page.get(kind, []))
    return [deleted for k in sorted(keys) for deleted in _delete_all_versions(s3, bucket, k)]


def forget_database(lt: LibraryTarget, name: str, plan: Plan, receipt: Receipt) -> None:
    from tools.face_store import LiveStore, remove

    if not lt.target.buckets.faces:
        return
    store = LiveStore(lt.target.client("s3"), lt.target.buckets.faces)
    if name in store.read().names:
        written = store.update(remove(name))
        receipt.database_rewritten = "deleted" if written.deleted else str(written.snapshot.version)
    for version in store.versions():  # again: a version may have been written since the survey
        if version["current"] or version["deleted"]:
            continue
        if version["version"] in plan.database_versions or name in store.read(version["version"]).names:
            store.s3.delete_object(Bucket=store.bucket, Key=store.key, VersionId=version["version"])
            receipt.database_versions_deleted.append(version["version"])


def forget(lt: LibraryTarget, name: str, plan: Plan) -> Receipt:
    library, receipt = lt.library(), Receipt()
    forget_results(library, plan, name, receipt)
    forget_database(lt, name, plan, receipt)
    again = survey(lt, library, name)  # a video answered while the database still held them
    forget_results(library, again, name, receipt)
    receipt.index_items_deleted = (
        len(library.index.delete_person(name)) + len(plan.index_items) - len(library.index.search(name))
    )
    return receipt


def main(argv: list[str] | None = None) -> int:
    from tools.library_target import resolve
    from tools.workload import add_target_arguments

    parser = cli.parser("python -m tools.forget", __doc__)
    parser.add_argument("name", help="the person's name as enrolled")
    parser.add_argument("--yes", action="store_true", help="do it without asking")
    parser.add_argument("--json", action="store_true", help="print the receipt as JSON")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    lt = None
    try:
        lt = resolve(args)
        plan = survey(lt, lt.library(), args.name)
        print(describe(plan, args.name), file=sys.stderr if args.json else sys.stdout)
        if not args.yes:
            answer = input(f"Forget {args.name} everywhere above? This cannot be undone. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing changed")
                return 1
        receipt = forget(lt, args.name, plan)
    except TargetError as exc:
        print(f"forget: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        return failure_status("forget", exc, lt.target if lt else None)
    if args.json:
        print(json.dumps(receipt.as_dict()))
        return 0
    r = receipt
    print(
        f"receipt: {len(r.results_rewritten)} result(s) rewritten, {len(r.stage1_deleted)} stage-1 object(s), "
        f"{len(r.library_versions_deleted)} library version(s), {len(r.thumbnails_deleted)} thumbnail(s), "
        f"{r.index_items_deleted} index item(s) and {len(r.database_versions_deleted)} database version(s) deleted; "
        f"database now: {r.database_rewritten or 'unchanged'}"
    )
    for key in r.results_rewritten:
        print(f"  rewritten: {key}")
    for key in r.stage1_deleted + r.thumbnails_deleted + r.library_versions_deleted:
        print(f"  deleted:   {key}")
    for version in r.database_versions_deleted:
        print(f"  deleted:   face database version {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
