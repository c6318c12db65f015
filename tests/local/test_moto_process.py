"""The local stack's S3 keeps S3's promise about conditional writes: of several writers that read the
same version, exactly one wins (local/moto_process.py). tools.enroll relies on it never to lose a
concurrent enrolment. The tests' moto server carries the same fix (tests/conftest.py)."""

from __future__ import annotations

import inspect
import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError

BUCKET, KEY = "atomic-writes", "face_db.pt"
WRITERS = 4


@pytest.fixture
def slow_store(monkeypatch):
    """moto stores each object 0.2 s after checking its condition: writers that arrive together are
    certainly all between their check and their store at once."""
    from moto.s3.models import S3Backend

    store = S3Backend.put_object

    def slowly(self, *args, **kwargs):
        time.sleep(0.2)
        return store(self, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", slowly)


def race(endpoint: str, condition: dict) -> list[str]:
    """WRITERS conditional PUTs at the same moment; the bodies of those S3 accepted."""
    barrier, won = threading.Barrier(WRITERS), []

    def write(i: int) -> None:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        body = f"writer {i}"
        barrier.wait(timeout=30)
        try:
            client.put_object(Bucket=BUCKET, Key=KEY, Body=body.encode(), **condition)
            won.append(body)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "PreconditionFailed"

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return won


@pytest.mark.parametrize("first", [True, False], ids=["if-none-match", "if-match"])
def test_exactly_one_of_several_conditional_writers_wins(aws, s3, slow_store, first):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    condition = {"IfNoneMatch": "*"}
    if not first:
        condition = {"IfMatch": s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"before")["ETag"]}
    won = race(aws, condition)
    assert len(won) == 1
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read().decode() == won[0]  # and it is what is stored


def test_without_the_fix_moto_lets_every_writer_win(aws, s3, slow_store, monkeypatch):
    """What the fix is for (and proof the test above could fail): moto 5.2's own PutObject checks
    If-Match and then stores, so writers that read the same version all "win"."""
    from moto.s3.responses import S3Response

    monkeypatch.setattr(S3Response, "put_object", inspect.unwrap(S3Response.put_object))
    s3.create_bucket(Bucket=BUCKET)
    etag = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"before")["ETag"]
    assert len(race(aws, {"IfMatch": etag})) > 1
