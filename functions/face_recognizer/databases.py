"""Which face database answers a frame, and which version of it: a file baked into the image, or the
live database in the stack's faces bucket, reloaded while the function runs.

Both give `current()`, asked before each frame. The live one looks with a conditional GET at most
every `reload_s`, so a warm function never downloads per frame: functions/README.md (The face database).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from face_recognizer.facedb import MAX_DATABASE_BYTES, FaceDatabase, FaceDatabaseError
from face_recognizer.recognizer import check_names
from pipeline_common.aws import error_code
from pipeline_common.log import fields

if TYPE_CHECKING:
    from botocore.client import BaseClient

# What S3 answers for an object that is not there (or a bucket): NoSuchKey, or AccessDenied when the reader may not
# list the bucket (the recognizer may not: it may read one object and nothing else).
_GONE = {"NoSuchKey", "404", "AccessDenied", "403", "NoSuchBucket"}


class NoDatabase(RuntimeError):
    """There is no face database to answer with; the message names where it was looked for and why."""


@dataclass(frozen=True)
class Held:
    database: FaceDatabase
    version: str  # a live object's S3 VersionId, or a file's fingerprint


def parse(blob: bytes, source: str) -> FaceDatabase:
    """The database in a torch.save file's bytes, checked as the recognizer checks a database file."""
    return check_names(FaceDatabase.from_bytes(blob, source=source), f"face database {source}")


class FixedDatabase:
    """A database that never changes while the function runs: the file baked into the image."""

    def __init__(self, database: FaceDatabase):
        self.held = Held(database, database.fingerprint())

    def current(self) -> Held:
        return self.held

    def describe(self) -> dict:
        return {"face_db_version": self.held.version, "faces_in_database": len(self.held.database)}


class LiveDatabase:
    """The database object in the faces bucket, checked for a new version at most every `reload_s`."""

    def __init__(
        self,
        s3: BaseClient,
        bucket: str,
        key: str,
        *,
        reload_s: float,
        log: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.reload_s = reload_s
        self.log = log
        self.clock = clock
        self.held: Held | None = None
        self.missing = "not read yet"  # why there is no database, while held is None
        self.checks = 0  # conditional GETs sent (the benchmark and the tests count them)
        self._seen_etag: str | None = None  # the last version looked at, good or refused
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def load(self) -> LiveDatabase:
        """The first read, at init. No object yet is not an error here: the function starts and
        picks up the first enrolment when it is written."""
        with self._lock:
            self._check()
        if self.held is None:
            self.log.warning(
                "no face database yet: frames fail until one is enrolled",
                extra=fields(face_db=self.uri, reason=self.missing),
            )
        return self

    def current(self) -> Held:
        """The database to answer with, after a look for a new version when one is due; NoDatabase
        when there is none."""
        with self._lock:
            if self.clock() - self._checked_at >= self.reload_s:
                self._check()
            if self.held is None:
                raise NoDatabase(
                    f"no face database at {self.uri} ({self.missing}); enrol people with "
                    "`python -m tools.enroll FOLDER --stack ...` (tools/README.md)"
                )
            return self.held

    def refresh(self) -> Held:
        """Look for a new version now, whatever the interval (a notification said it changed)."""
        with self._lock:
            self._check()
        return self.current()

    def describe(self) -> dict:
        held = self.held
        return {
            "face_db": self.uri,
            "face_db_version": held.version if held else None,
            "faces_in_database": len(held.database) if held else 0,
            "face_db_reload_s": self.reload_s,
        }

    # -- one look ---------------------------------------------------------------------------------

    def _check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self._checked_at = self.clock()
        self.checks += 1
        conditional = {"IfNoneMatch": self._seen_etag} if self._seen_etag else {}
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.key, **conditional)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("304", "NotModified"):
                return  # the version already held (or already refused): nothing to do
            if code in _GONE:
                self._gone(code)
                return
            self._unreachable(code)
            return
        except BotoCoreError as exc:
            self._unreachable(str(exc))
            return
        etag = response.get("ETag") or ""
        version = _version(response)
        body, size = response["Body"], response.get("ContentLength") or 0
        if size > MAX_DATABASE_BYTES:
            body.close()
            self._refuse(
                etag, version, FaceDatabaseError(f"{size:,} bytes, over the {MAX_DATABASE_BYTES:,} it may hold")
            )
            return
        try:
            blob = body.read(MAX_DATABASE_BYTES + 1)
        except (BotoCoreError, OSError) as exc:  # cut off mid-body: look again next time
            self._unreachable(f"reading version {version}: {exc}")
            return
        try:
            if len(blob) > MAX_DATABASE_BYTES:
                raise FaceDatabaseError(f"over the {MAX_DATABASE_BYTES:,} bytes it may hold")
            database = parse(blob, f"{self.uri} version {version}")
        except FaceDatabaseError as exc:
            self._refuse(etag, version, exc)
            return
        previous = self.held
        self.held, self._seen_etag, self.missing = Held(database, version), etag, ""
        self.log.info(
            "face database loaded",
            extra=fields(
                face_db=self.uri,
                face_db_version=version,
                faces_in_database=len(database),
                people=len(set(database.names)),
                replaces=previous.version if previous else None,
            ),
        )

    def _refuse(self, etag: str, version: str, error: FaceDatabaseError) -> None:
        """Keep what answers now; say once which version was refused and why."""
        self._seen_etag = etag
        if self.held is None:
            self.missing = f"version {version} was refused: {error}"
        self.log.error(
            "face database version refused",
            extra=fields(
                face_db=self.uri,
                refused_version=version,
                error=str(error),
                answering_with=self.held.version if self.held else None,
            ),
        )

    def _gone(self, code: str) -> None:
        """The object is not there (or not readable): nothing may answer, least of all a database
        from which someone was removed."""
        dropped = self.held
        self.held, self._seen_etag = None, None
        self.missing = f"{code}: no such object, or this role may not read it"
        if dropped is not None:
            self.log.error(
                "face database gone: frames fail until one is enrolled",
                extra=fields(face_db=self.uri, reason=code, dropped_version=dropped.version),
            )

    def _unreachable(self, reason: str) -> None:
        self.log.warning(
            "could not look for a new face database version; the held one answers",
            extra=fields(face_db=self.uri, reason=reason, answering_with=self.held.version if self.held else None),
        )
        if self.held is None:
            self.missing = f"S3 did not answer: {reason}"


def _version(response: dict) -> str:
    """S3's VersionId; the ETag in a bucket without versioning (the stack's faces bucket has it on)."""
    version = response.get("VersionId")
    if version and version != "null":
        return str(version)
    return "etag-" + str(response.get("ETag") or "").strip('"')
