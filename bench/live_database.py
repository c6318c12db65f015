"""What a live face database (faceDatabase: live) costs the recognizer, measured with its own code
(face_recognizer.databases.LiveDatabase) against S3 on a moto server in this process:

- the look a frame pays at most once per faceDatabaseReloadSeconds when nothing changed: one
  conditional GET (If-None-Match) that S3 answers 304 without a body;
- the look that finds a new version: the download, the allow-list reader, the checks, the swap;
  for the bench's database and for a synthetic one of `LARGE_FACES` faces.

Frames between two looks pay nothing (no request). On AWS the request itself takes what an S3 GET
takes from Lambda in the same region (tens of milliseconds at the tail), not moto's loopback time.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from components import topology

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from components.settings import StackSettings

LARGE_FACES = 10_000


def synthetic_database(faces: int) -> bytes:
    """`faces` random embeddings of faces/10 people, in the course's format."""
    import torch

    rng = np.random.default_rng(0)
    embeddings = [torch.from_numpy(rng.standard_normal((1, 512)).astype(np.float32)) for _ in range(faces)]
    buffer = io.BytesIO()
    torch.save([embeddings, [f"person-{i // 10}" for i in range(faces)]], buffer)
    return buffer.getvalue()


def measure(s3: BaseClient, database: Path, *, looks: int = 50, reloads: int = 3) -> dict:
    from bench.stats import summary
    from face_recognizer.databases import LiveDatabase

    bucket, key = "bench-faces", topology.FACES_OBJECT
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key=key, Body=database.read_bytes())
    quiet = logging.getLogger("bench-live-database")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    now = [0.0]
    live = LiveDatabase(s3, bucket, key, reload_s=1, log=quiet, clock=lambda: now[0]).load()

    def look() -> float:
        now[0] += 1  # a look is due
        started = time.perf_counter()
        live.current()
        return time.perf_counter() - started

    unchanged = [look() for _ in range(looks)]
    results = {"unchanged_look": summary(unchanged)}
    other = synthetic_database(1)
    for label, blob in (("bench", database.read_bytes()), (f"{LARGE_FACES:,} faces", synthetic_database(LARGE_FACES))):
        times = []
        for _ in range(reloads):
            s3.put_object(Bucket=bucket, Key=key, Body=other)  # another version in between, not timed
            look()
            s3.put_object(Bucket=bucket, Key=key, Body=blob)
            times.append(look())
        results[f"reload ({label}, {len(blob) / 1e6:.2f} MB)"] = summary(times)
    return results


def bench_live_database(settings: StackSettings, *, reloads: int = 3) -> dict:
    """4. live database: the look for a new version and a reload, against S3 on a moto server."""
    from bench.alone import alone_against_s3, database_file

    print("[bench] live database: looks for a new version, and reloads", file=sys.stderr)
    with alone_against_s3(settings) as (_, s3):
        return measure(s3, database_file(settings), reloads=reloads)
