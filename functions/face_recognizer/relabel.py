"""Writing to the library, and matching stored results again when the live database changes.

`Library.record` files a new result (faces.json, the appearances table, one event). `relabel_all`
reads every stored `faces.json`, names each stored embedding again against the database given
(the same rule as a fresh result: face_recognizer.recognizer.identify, with the distance threshold
the result was made with), and where any name or distance changed rewrites `<stem>.txt`, `<stem>.json`,
`faces.json` and the table, then publishes one `relabel` event. No video or frame is read again.

A result is claimed by a conditional write of its `faces.json` (If-Match: the ETag read), so two
relabels running at once (two enrolments in quick succession) change and announce it once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from face_recognizer.appearances import Appearances
from face_recognizer.facedb import FaceDatabase
from face_recognizer.library import (
    FACES_CONTENT_TYPE,
    Filed,
    LibraryConfig,
    answer_of,
    decode_embedding,
    event,
    timeline_of,
)
from face_recognizer.recognizer import identify
from face_recognizer.results_topic import publish
from pipeline_common.aws import error_code
from pipeline_common.keys import LIBRARY_FACES
from pipeline_common.log import fields

VERSION_METADATA = "face-db-version"  # as face_recognizer.service writes it
TEXT_TYPE, JSON_TYPE = "text/plain; charset=utf-8", "application/json"
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


class LibraryError(RuntimeError):
    """A library object could not be read or written; the message names it."""


@dataclass
class Stored:
    filed: Filed
    etag: str


class Library:
    def __init__(self, config: LibraryConfig, *, s3: Any, dynamodb: Any, sns: Any, log: logging.Logger):
        self.config, self.s3, self.sns, self.log = config, s3, sns, log
        self.index = Appearances(dynamodb, config.table)

    # -- a new result ------------------------------------------------------------------------------

    def record(self, filed: Filed) -> None:
        """File a result just written: its faces, its appearances, one `result` event."""
        self._put_faces(filed)
        self.index.put(filed)
        self.announce("result", filed)

    def announce(self, kind: str, filed: Filed) -> None:
        publish(self.sns, self.config.topic_arn, event(kind, filed))

    # -- reading -----------------------------------------------------------------------------------

    def videos(self) -> list[str]:
        """The keys of every stored faces.json."""
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.config.bucket, Prefix="videos/"):
            keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith("/" + LIBRARY_FACES))
        return keys

    def read(self, faces_key: str) -> Stored | None:
        from botocore.exceptions import ClientError

        try:
            response = self.s3.get_object(Bucket=self.config.bucket, Key=faces_key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None  # removed since it was listed (forget)
            raise
        return Stored(Filed.from_json(response["Body"].read()), response["ETag"])

    # -- relabelling -------------------------------------------------------------------------------

    def relabel_all(self, database: FaceDatabase, version: str, *, say: Callable[[str], None] | None = None) -> dict:
        """Match every stored result again against `database` (its `version`); what changed."""
        changed, unchanged, failed = [], 0, []
        for key in self.videos():
            try:
                stored = self.read(key)
                if stored is None:
                    continue
                new = rematch(stored.filed, database, version)
                if _same(stored.filed, new):
                    unchanged += 1
                    continue
                if self.rewrite(stored, new, "relabel"):
                    changed.append(new.video)
                    if say:
                        say(f"relabelled {new.video}: {answer_of(stored.filed)[0]} -> {answer_of(new)[0]}")
            except Exception as exc:  # one result's trouble must not stop the others
                failed.append(f"{key}: {exc}")
        summary = {"database_version": version, "changed": changed, "unchanged": unchanged, "failed": failed}
        # Counts and video keys only: names stay out of the logs (README: what forget cannot erase).
        self.log.info(
            "relabelled",
            extra=fields(face_db_version=version, changed=len(changed), unchanged=unchanged, failed=failed),
        )
        return summary

    def rewrite(self, stored: Stored, new: Filed, kind: str) -> bool:
        """Claim the result (faces.json If-Match), then write its results, its appearances and one
        event. False when another writer changed it first (it announces its own change)."""
        if not self._put_faces(new, if_match=stored.etag):
            return False
        self.write_results(new)
        self.index.put(new)
        self.announce(kind, new)
        return True

    def write_results(self, filed: Filed) -> None:
        """`<stem>.json` (timeline; its faces and people from the stored frames) then `<stem>.txt`."""
        answer, _ = answer_of(filed)
        meta = {VERSION_METADATA: filed.database_version}
        if filed.timeline_key:
            body = self.s3.get_object(Bucket=filed.output_bucket, Key=filed.timeline_key)["Body"].read()
            document = json.loads(body)
            document.update(timeline_of(filed))
            document["database"] = {"version": filed.database_version}
            self.s3.put_object(
                Bucket=filed.output_bucket,
                Key=filed.timeline_key,
                Body=json.dumps(document, indent=1).encode("utf-8"),
                ContentType=JSON_TYPE,
                Metadata=meta,
            )
        self.s3.put_object(
            Bucket=filed.output_bucket,
            Key=filed.result_key,
            Body=answer.encode("utf-8"),
            ContentType=TEXT_TYPE,
            Metadata=meta,
        )

    def _put_faces(self, filed: Filed, *, if_match: str | None = None) -> bool:
        from botocore.exceptions import ClientError

        condition = {"IfMatch": if_match} if if_match else {}
        try:
            self.s3.put_object(
                Bucket=self.config.bucket,
                Key=filed.faces_key,
                Body=filed.to_json(),
                ContentType=FACES_CONTENT_TYPE,
                **condition,
            )
        except ClientError as exc:
            if error_code(exc) in _CONFLICT:
                return False
            raise LibraryError(f"s3://{self.config.bucket}/{filed.faces_key}: cannot write it ({exc})") from None
        return True


def rematch(filed: Filed, database: FaceDatabase, version: str) -> Filed:
    """The stored faces named again by `database`; a face without an embedding (forgotten) keeps its name."""
    frames = []
    for frame in filed.frames:
        faces = []
        for face in frame["faces"]:
            if face.get("embedding"):
                name, distance = identify(database, decode_embedding(face["embedding"]), filed.distance_threshold)
                face = {**face, "name": name, "distance": round(distance, 4)}
            faces.append(face)
        frames.append({**frame, "faces": faces})
    return filed.with_frames(frames, version)


def _same(old: Filed, new: Filed) -> bool:
    """No name and no distance changed (then the result stays, naming the version that gave it)."""
    pairs = [(f["name"], f["distance"]) for frame in old.frames for f in frame["faces"]]
    return pairs == [(f["name"], f["distance"]) for frame in new.frames for f in frame["faces"]]
