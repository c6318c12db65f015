"""tools.enroll against a stack's live face database (faceDatabase: live): add, remove, list, restore,
purge, and two enrolments at the same time that both land. The real S3 API on a moto server whose
conditional writes are atomic as S3's are (local/moto_process.py), a versioned bucket as the stack
makes it, the command line as a person runs it, faces embedded by the recognizer's own models."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
import torch

from components.topology import FACES_OBJECT
from face_recognizer.facedb import FaceDatabase
from tools import enroll, face_store
from tools.demo import samples
from tools.face_store import LiveStore, StoreError

PREFIX = "vfp-enrol"
BUCKET = f"{PREFIX}-faces"


@pytest.fixture(scope="module")
def people(tmp_path_factory, videos):
    """Collins from a still and the cameraman from a video, each in a folder of their own."""
    root = tmp_path_factory.mktemp("people")
    samples.write_image("astronaut", root / "collins" / "Collins" / "still.png")
    (root / "cameraman" / "Cameraman").mkdir(parents=True)
    (root / "cameraman" / "Cameraman" / "clip.mp4").symlink_to(videos["camera"])
    return root


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def cli(aws, *args: str) -> int:
    return enroll.main([*args, "--endpoint-url", aws, "--name-prefix", PREFIX, "--quiet"])


def stored(s3) -> tuple[list[torch.Tensor], list[str]]:
    """The database object as the course's code reads data.pt."""
    body = s3.get_object(Bucket=BUCKET, Key=FACES_OBJECT)["Body"].read()
    return torch.load(io.BytesIO(body), weights_only=True)


def versions(s3) -> tuple[list[dict], list[dict]]:
    listing = s3.list_object_versions(Bucket=BUCKET, Prefix=FACES_OBJECT)
    return listing.get("Versions", []), listing.get("DeleteMarkers", [])


def test_add_list_remove_and_purge_on_a_live_database(aws, bucket, people, model_dir, capsys):
    th = ["--model-dir", str(model_dir)]
    assert cli(aws, str(people / "collins"), *th) == 0
    assert "added 1 embedding of Collins; now version" in capsys.readouterr().out
    assert cli(aws, str(people / "cameraman"), *th) == 0
    embeddings, names = stored(bucket)
    assert names == ["Collins", "Cameraman"]  # the course's format: (1, 512) tensors and names
    assert all(isinstance(e, torch.Tensor) and e.shape == (1, 512) and e.dtype == torch.float32 for e in embeddings)
    current = bucket.head_object(Bucket=BUCKET, Key=FACES_OBJECT)["VersionId"]

    assert cli(aws, "--list") == 0
    out = capsys.readouterr().out
    assert f"s3://{BUCKET}/{FACES_OBJECT} version {current}: 2 embeddings of 2 people" in out
    assert "  Cameraman  1\n  Collins  1" in out
    assert f"  {current}  " in out and "(current)" in out and "versions (2, newest first" in out

    assert cli(aws, str(people / "collins"), *th) == 0  # enrolled again: nothing new, no new version
    assert "(1 already there); nothing new to write" in capsys.readouterr().out
    assert len(versions(bucket)[0]) == 2

    assert cli(aws, "--remove", "Cameraman") == 0
    out = capsys.readouterr().out
    assert "removed 'Cameraman' (1 embedding)" in out and "older versions still hold 'Cameraman'" in out
    assert stored(bucket)[1] == ["Collins"]
    assert cli(aws, "--remove", "Cameraman") == 2
    assert "'Cameraman' is not in the face database (it holds Collins)" in capsys.readouterr().err

    # The last person: the database is deleted, and --purge deletes every older version now.
    assert cli(aws, "--remove", "Collins", "--purge") == 0
    out = capsys.readouterr().out
    assert "nobody is left, so the database is deleted; purged 3 old version(s)" in out
    kept, markers = versions(bucket)
    assert kept == [] and [m["IsLatest"] for m in markers] == [True]  # nothing holds a face any more
    assert cli(aws, "--list") == 0
    assert "no database (nobody enrolled)" in capsys.readouterr().out


def test_a_broken_version_is_named_and_a_good_one_restored(aws, bucket, people, model_dir, capsys):
    assert cli(aws, str(people / "collins"), "--model-dir", str(model_dir)) == 0
    good = bucket.head_object(Bucket=BUCKET, Key=FACES_OBJECT)
    broken = bucket.put_object(Bucket=BUCKET, Key=FACES_OBJECT, Body=b"PK\x03\x04 cut short", IfMatch=good["ETag"])
    capsys.readouterr()
    assert cli(aws, "--list") == 0
    assert f"version {broken['VersionId']} is not a database the recognizer accepts" in capsys.readouterr().out
    assert cli(aws, "--remove", "Collins") == 2  # nothing is changed on top of a broken version
    assert "restore a good version first (--restore VERSION" in capsys.readouterr().err
    assert cli(aws, "--restore", good["VersionId"]) == 0
    assert f"restored version {good['VersionId']} (1 embedding)" in capsys.readouterr().out
    assert stored(bucket)[1] == ["Collins"]


def test_a_stack_without_a_faces_bucket_is_named(aws, s3, capsys):
    assert enroll.main(["--list", "--endpoint-url", aws, "--name-prefix", "vfp-file-mode"]) == 2
    assert "no bucket vfp-file-mode-faces; is the stack deployed (or served) with faceDatabase: live?" in (
        capsys.readouterr().err
    )


def test_remove_and_list_on_a_file(people, model_dir, tmp_path, capsys):
    db = tmp_path / "face_db.pt"
    assert enroll.main([str(people / "collins"), "--out", str(db), "--model-dir", str(model_dir), "--quiet"]) == 0
    collins = torch.load(db, weights_only=True)
    torch.save([collins[0] + [collins[0][0] + 1], ["Collins", "Other"]], db)
    capsys.readouterr()
    assert enroll.main(["--list", "--out", str(db)]) == 0
    assert f"version {FaceDatabase.load(db).fingerprint()}: 2 embeddings of 2 people" in capsys.readouterr().out
    assert enroll.main(["--remove", "Other", "--out", str(db)]) == 0
    assert torch.load(db, weights_only=True)[1] == ["Collins"]
    assert enroll.main(["--remove", "Collins", "--out", str(db)]) == 2  # a file cannot be left empty
    assert "its only person" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        enroll.main(["--restore", "v1", "--out", str(db)])


# -- two writers at once ---------------------------------------------------------------------------


class Rendezvous:
    """An S3 client whose first write waits until every writer has read: the enrolments then read
    the same version and write at the same moment."""

    def __init__(self, s3, barrier: threading.Barrier):
        self._s3, self._barrier, self._waited = s3, barrier, False

    def __getattr__(self, name):
        return getattr(self._s3, name)

    def put_object(self, **kwargs):
        if not self._waited:
            self._waited = True
            self._barrier.wait(timeout=60)
        return self._s3.put_object(**kwargs)


def vector(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, 512)).astype(np.float32)


@pytest.fixture
def slow_writes(monkeypatch):
    """moto stores each object 0.3 s after checking its condition: two writes that arrive together
    are certainly both in flight between the check and the store."""
    from moto.s3.models import S3Backend

    store = S3Backend.put_object

    def slowly(self, *args, **kwargs):
        time.sleep(0.3)
        return store(self, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", slowly)


@pytest.mark.parametrize("existing", [False, True], ids=["first-enrolment", "onto-a-database"])
def test_two_enrolments_at_the_same_time_both_land(aws, bucket, slow_writes, existing):
    import boto3

    if existing:
        LiveStore(bucket, BUCKET).update(face_store.add([vector(0)], ["Before"]))
    barrier = threading.Barrier(2)
    outcomes: dict[str, face_store.Written] = {}

    def enrol(name: str, seed: int) -> None:
        client = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
        store = LiveStore(Rendezvous(client, barrier), BUCKET)
        outcomes[name] = store.update(face_store.add([vector(seed)], [name]), sleep=lambda _: None)

    writers = [threading.Thread(target=enrol, args=(n, s)) for n, s in (("Ada", 1), ("Grace", 2))]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=120)
    assert set(outcomes) == {"Ada", "Grace"}
    assert sorted(w.conflicts for w in outcomes.values()) == [0, 1]  # one came second, read again, wrote
    embeddings, names = stored(bucket)
    assert sorted(names) == sorted(["Ada", "Grace"] + (["Before"] if existing else []))
    for e, n in zip(embeddings, names, strict=True):
        assert np.array_equal(e.numpy(), vector({"Before": 0, "Ada": 1, "Grace": 2}[n]))
    assert len(versions(bucket)[0]) == 2 + existing  # each write one version, none lost


def test_a_change_that_always_loses_gives_up_naming_the_object(bucket):
    store = LiveStore(bucket, BUCKET)
    store.update(face_store.add([vector(0)], ["A"]))

    def interfering(current):  # another writer lands between every read and write
        bucket.put_object(
            Bucket=BUCKET, Key=FACES_OBJECT, Body=face_store.database_bytes([vector(9)], [f"X{time.time()}"])
        )
        return face_store.add([vector(1)], ["B"])(current)

    with pytest.raises(StoreError, match=f"s3://{BUCKET}/{FACES_OBJECT}: 3 attempts, and another writer"):
        store.update(interfering, attempts=3, sleep=lambda _: None)


def test_what_the_recognizer_would_refuse_is_never_written(bucket):
    store = LiveStore(bucket, BUCKET)
    with pytest.raises(StoreError, match="no-face is reserved"):
        store.update(face_store.add([vector(0)], ["no-face"]))
    with pytest.raises(StoreError, match="must be a non-empty single-line string"):
        store.update(face_store.add([vector(0)], ["Two\nLines"]))
    assert versions(bucket) == ([], [])
