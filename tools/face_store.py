"""A stack's live face database (faceDatabase: live): read it, change it and write it back without
ever losing someone else's change. `python -m tools.enroll` uses it against AWS or the local stack.

The database is one object, `<namePrefix>-faces/face_db.pt`, in the course's `[embeddings, names]`
format, in a versioned bucket. Every change is a read-modify-write of the whole object:

    read it (its ETag), apply the change, PUT the whole new database with If-Match: that ETag
    (If-None-Match: * when there was none), or DELETE it with If-Match when nobody is left

S3 lets exactly one of two writers that read the same version win; the other gets 412 Precondition
Failed (or 409 when they overlap in flight, or 404 when the object was deleted meanwhile), reads the
new version and applies its change again, so two enrolments at the same time both land. The bucket
refuses unconditional writes (components/policies.py), so no other client can skip this either.
What is written is checked first by the recognizer's own reader (face_recognizer.databases.parse):
an upload this tool makes is never one the recognizer refuses.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from components.topology import FACES_OBJECT
from face_recognizer.databases import MAX_DATABASE_BYTES, parse
from face_recognizer.facedb import EMBEDDING_SIZE, FaceDatabaseError
from pipeline_common.aws import error_code
from tools.text import plural

if TYPE_CHECKING:
    from botocore.client import BaseClient

# How S3 says "someone else wrote first": a failed precondition, a conflicting request in flight,
# or (If-Match on an object deleted since it was read) no such key.
CONFLICTS = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"}
MAX_ATTEMPTS = 10


class StoreError(RuntimeError):
    """The live database cannot be read or written; the message names the object and why."""


@dataclass(frozen=True)
class Snapshot:
    """The database as read: its entries, and the ETag and version a write must be conditional on."""

    embeddings: tuple[np.ndarray, ...]  # (1, 512) float32 each
    names: tuple[str, ...]
    etag: str | None = None  # None: there was no database
    version: str | None = None
    refused: str | None = None  # why the current version is no database (then it holds no entries)

    @property
    def exists(self) -> bool:
        return self.etag is not None

    def people(self) -> dict[str, int]:
        """Each name and how many embeddings it has, by name."""
        counts: dict[str, int] = {}
        for name in self.names:
            counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))


@dataclass(frozen=True)
class Change:
    """What a change leaves: the new entries (None: delete the database, nobody is left) and a
    sentence for the person who asked."""

    embeddings: tuple[np.ndarray, ...] | None
    names: tuple[str, ...]
    summary: str


@dataclass
class Written:
    """What landed: the new version (None when the database was deleted), and how many times another
    writer came first."""

    snapshot: Snapshot
    summary: str
    conflicts: int = 0
    deleted: bool = False


def add(embeddings: Sequence, names: Sequence[str]) -> Callable[[Snapshot], Change]:
    """The change that enrols these entries: appended to whatever the database holds then; an entry
    it already holds (same name, same embedding) is not added twice."""
    new = [(_row(e), n) for e, n in zip(embeddings, names, strict=True)]

    def change(current: Snapshot) -> Change:
        _refuse_broken(current)
        held = {(n, e.tobytes()) for e, n in zip(current.embeddings, current.names, strict=True)}
        fresh = [(e, n) for e, n in new if (n, e.tobytes()) not in held]
        people = sorted({n for _, n in new})
        return Change(
            current.embeddings + tuple(e for e, _ in fresh),
            current.names + tuple(n for _, n in fresh),
            f"added {plural(len(fresh), 'embedding')} of {', '.join(people)}"
            + (f" ({len(new) - len(fresh)} already there)" if len(fresh) < len(new) else ""),
        )

    return change


def remove(name: str) -> Callable[[Snapshot], Change]:
    """The change that removes every embedding of `name`; StoreError when the database has none."""

    def change(current: Snapshot) -> Change:
        _refuse_broken(current)
        if name not in current.names:
            held = ", ".join(current.people()) or "nobody"
            raise StoreError(f"{name!r} is not in the face database (it holds {held})")
        kept = [(e, n) for e, n in zip(current.embeddings, current.names, strict=True) if n != name]
        removed = len(current.names) - len(kept)
        summary = f"removed {name!r} ({plural(removed, 'embedding')})"
        if not kept:  # an empty file is not a database the recognizer accepts: delete it instead
            return Change(None, (), summary + "; nobody is left, so the database is deleted")
        return Change(tuple(e for e, _ in kept), tuple(n for _, n in kept), summary)

    return change


def restore(old: Snapshot) -> Callable[[Snapshot], Change]:
    """The change that makes an older version (read with LiveStore.read(version)) current again,
    whatever the current one holds: the way out of a version the recognizer refused."""

    def change(current: Snapshot) -> Change:
        return Change(
            old.embeddings, old.names, f"restored version {old.version} ({plural(len(old.names), 'embedding')})"
        )

    return change


def _refuse_broken(current: Snapshot) -> None:
    if current.refused:
        raise StoreError(f"{current.refused}; restore a good version first (--restore VERSION; --list shows them)")


class LiveStore:
    def __init__(self, s3: BaseClient, bucket: str, key: str = FACES_OBJECT) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read(self, version: str | None = None) -> Snapshot:
        """The current database (or an older `version`); an empty Snapshot when there is none."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.s3.get_object(
                Bucket=self.bucket, Key=self.key, **({"VersionId": version} if version else {})
            )
            blob = response["Body"].read(MAX_DATABASE_BYTES + 1)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("NoSuchKey", "404") and version is None:
                return Snapshot((), ())
            if code == "NoSuchBucket":
                raise StoreError(
                    f"{self.uri}: no bucket {self.bucket}; is the stack deployed (or served) with faceDatabase: live?"
                ) from None
            raise StoreError(f"{self.uri}: cannot read it ({code})") from None
        except BotoCoreError as exc:
            raise StoreError(f"{self.uri}: cannot read it ({exc})") from None
        found = response.get("VersionId") or "null"
        try:
            if len(blob) > MAX_DATABASE_BYTES:
                raise FaceDatabaseError(f"face database {self.uri} version {found}: over {MAX_DATABASE_BYTES:,} bytes")
            database = parse(blob, f"{self.uri} version {found}")
        except FaceDatabaseError as exc:
            if version is not None:
                raise StoreError(str(exc)) from None
            return Snapshot((), (), etag=response["ETag"], version=found, refused=str(exc))
        return Snapshot(
            tuple(row.reshape(1, EMBEDDING_SIZE) for row in database.embeddings),
            database.names,
            etag=response["ETag"],
            version=found,
        )

    def versions(self) -> list[dict]:
        """Every version of the database, newest first: version id, when, size, current or not,
        delete marker or not (what --list prints, and what --restore takes)."""
        from botocore.exceptions import BotoCoreError, ClientError

        found = []
        try:
            for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=self.key):
                for kind in ("Versions", "DeleteMarkers"):
                    for entry in page.get(kind, []):
                        if entry["Key"] == self.key:
                            found.append(
                                {
                                    "version": entry["VersionId"],
                                    "last_modified": entry["LastModified"],
                                    "size": entry.get("Size"),
                                    "current": entry["IsLatest"],
                                    "deleted": kind == "DeleteMarkers",
                                }
                            )
        except (ClientError, BotoCoreError) as exc:
            reason = error_code(exc) if isinstance(exc, ClientError) else exc
            raise StoreError(f"{self.uri}: cannot list its versions ({reason})") from None
        return sorted(found, key=lambda v: v["last_modified"], reverse=True)

    def update(
        self,
        change: Callable[[Snapshot], Change],
        *,
        attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Written:
        """Read, change, write conditionally; on a conflict, read again and apply the change again."""
        conflicts = 0
        for attempt in range(attempts):
            current = self.read()
            result = change(current)
            if result.embeddings is not None and _same(current, result):
                return Written(current, result.summary + "; nothing new to write", conflicts)
            try:
                if result.embeddings is None:
                    self._delete(current)
                    return Written(Snapshot((), ()), result.summary, conflicts, deleted=True)
                written = self._put(current, result.embeddings, result.names)
                return Written(written, result.summary, conflicts)
            except _Conflict:
                conflicts += 1
                sleep(random.uniform(0.05, 0.2) * 2 ** min(attempt, 4))  # spread the writers out
        raise StoreError(f"{self.uri}: {attempts} attempts, and another writer came first every time; try again")

    def _put(self, current: Snapshot, embeddings: Sequence[np.ndarray], names: Sequence[str]) -> Snapshot:
        blob = database_bytes(embeddings, names)
        try:  # what the recognizer would refuse is never written
            parse(blob, f"{self.uri} (the new version)")
        except FaceDatabaseError as exc:
            raise StoreError(str(exc)) from None
        if len(blob) > MAX_DATABASE_BYTES:
            raise StoreError(f"{self.uri}: the new database is {len(blob):,} bytes, over {MAX_DATABASE_BYTES:,}")
        condition = {"IfMatch": current.etag} if current.exists else {"IfNoneMatch": "*"}
        response = self._write(
            "put_object",
            Body=blob,
            ContentType="application/octet-stream",
            **condition,
        )
        return Snapshot(
            tuple(_row(e) for e in embeddings), tuple(names), etag=response["ETag"], version=response.get("VersionId")
        )

    def _delete(self, current: Snapshot) -> None:
        if current.exists:
            self._write("delete_object", IfMatch=current.etag)

    def _write(self, operation: str, **kwargs: object) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.s3, operation)(Bucket=self.bucket, Key=self.key, **kwargs)
        except ClientError as exc:
            if error_code(exc) in CONFLICTS:
                raise _Conflict from None
            raise StoreError(f"{self.uri}: cannot write it ({error_code(exc)})") from None
        except BotoCoreError as exc:
            raise StoreError(f"{self.uri}: cannot write it ({exc})") from None

    def purge_old_versions(self) -> int:
        """Delete every version of the database but the current one (and every delete marker that is
        not current): what the lifecycle rule does faceDatabaseHistoryDays later, now."""
        from botocore.exceptions import BotoCoreError, ClientError

        doomed = [v["version"] for v in self.versions() if not v["current"]]
        try:
            for version in doomed:
                self.s3.delete_object(Bucket=self.bucket, Key=self.key, VersionId=version)
        except (ClientError, BotoCoreError) as exc:
            reason = error_code(exc) if isinstance(exc, ClientError) else exc
            raise StoreError(f"{self.uri}: cannot delete its old versions ({reason})") from None
        return len(doomed)


def _same(current: Snapshot, result: Change) -> bool:
    assert result.embeddings is not None
    return (
        current.exists
        and not current.refused
        and result.names == current.names
        and all(np.array_equal(a, b) for a, b in zip(result.embeddings, current.embeddings, strict=True))
    )


class _Conflict(Exception):
    """Another writer changed the database since it was read."""


def _row(embedding: Any) -> np.ndarray:
    """One embedding as a (1, 512) float32 array, from an array or a (CPU) torch tensor."""
    if hasattr(embedding, "detach"):
        embedding = embedding.detach().cpu().numpy()
    return np.asarray(embedding, dtype=np.float32).reshape(1, EMBEDDING_SIZE)


def database_bytes(embeddings: Sequence, names: Sequence[str]) -> bytes:
    """`[embeddings, names]` as torch.save writes it: a list of (1, 512) float32 tensors and a list of
    strings, the course's format (what `torch.load` of its data.pt gives)."""
    import torch

    tensors = [torch.from_numpy(_row(e).copy()) for e in embeddings]
    buffer = io.BytesIO()
    torch.save([tensors, list(names)], buffer)
    return buffer.getvalue()
