"""The live face database (faceDatabase: live) as the recognizer holds it: read at init, a new version
picked up within the reload bound by one conditional GET, a broken upload refused with one error
while the last good version answers, a deleted database answering nothing. Real S3 API on a moto
server (a versioned bucket, as the stack makes it), real torch.save files, the real recognizer with
the ONNX graphs exported from the stand-in weights. Time is a clock the test moves, so nothing here
waits or depends on the machine's speed."""

from __future__ import annotations

import io
import logging
import pickle
import zipfile

import pytest
import torch

from face_recognizer import databases, service
from face_recognizer.config import ConfigError, RecognizerConfig
from face_recognizer.databases import LiveDatabase, NoDatabase
from face_recognizer.facedb import FaceDatabase
from face_recognizer.recognizer import NO_FACE, Recognizer, decode_frame
from face_recognizer.service import VERSION_METADATA, RecognitionError, RecognitionService
from tests.functions.test_recognizer import first_frame
from tests.s3_events import s3_event

FACES, KEY = "live-faces", "face_db.pt"
STAGE1, OUTPUT = "live-stage-1", "live-output"
RELOAD_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = RELOAD_S) -> None:
        self.now += seconds


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int | None = None) -> list[str]:
        return [r.getMessage() for r in self.records if level is None or r.levelno == level]

    def fields(self, message: str) -> list[dict]:
        return [getattr(r, "fields", {}) for r in self.records if r.getMessage() == message]


@pytest.fixture(scope="module")
def frames(videos, tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("live-frames")
    return {name: first_frame(videos[name], folder / f"{name}.jpg") for name in ("astronaut", "camera", "chelsea")}


@pytest.fixture(scope="module")
def embeddings(models, frames) -> dict[str, torch.Tensor]:
    return {
        person: torch.from_numpy(models.embed(decode_frame(frames[sample], sample)))
        for sample, person in (("astronaut", "Collins"), ("camera", "Cameraman"))
    }


def database(embeddings: dict[str, torch.Tensor], *people: str) -> bytes:
    buffer = io.BytesIO()
    torch.save([[embeddings[p] for p in people], list(people)], buffer)
    return buffer.getvalue()


@pytest.fixture
def faces(s3):
    s3.create_bucket(Bucket=FACES)
    s3.put_bucket_versioning(Bucket=FACES, VersioningConfiguration={"Status": "Enabled"})
    return s3


@pytest.fixture
def log():
    handler = Records()
    logger = logging.getLogger("test-live-database")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield handler, logger


class Traffic:
    """What the S3 client really sent and got for the database object: each GET's HTTP status."""

    def __init__(self, s3) -> None:
        self.statuses: list[int] = []
        s3.meta.events.register("after-call.s3.GetObject", self._seen)
        s3.meta.events.register("after-call-error.s3.GetObject", self._seen)

    def _seen(self, http_response=None, **kwargs) -> None:
        if http_response is not None:
            self.statuses.append(http_response.status_code)


def put(s3, body: bytes) -> str:
    return s3.put_object(Bucket=FACES, Key=KEY, Body=body)["VersionId"]


def live(s3, logger, clock, reload_s: float = RELOAD_S) -> LiveDatabase:
    return LiveDatabase(s3, FACES, KEY, reload_s=reload_s, log=logger, clock=clock).load()


# -- following new versions ------------------------------------------------------------------------


def test_a_new_version_answers_within_the_bound_after_one_conditional_get_per_interval(faces, embeddings, log):
    records, logger = log
    clock, traffic = Clock(), Traffic(faces)
    v1 = put(faces, database(embeddings, "Collins"))
    db = live(faces, logger, clock)
    assert db.current().version == v1 and db.current().database.names == ("Collins",)
    assert traffic.statuses == [200]  # the read at init

    for _ in range(50):  # frame after frame within the interval: no request at all
        assert db.current().version == v1
        clock.advance(RELOAD_S / 100)
    assert traffic.statuses == [200]
    clock.advance(RELOAD_S)
    assert db.current().version == v1
    assert traffic.statuses == [200, 304]  # one conditional GET: unchanged, nothing downloaded

    v2 = put(faces, database(embeddings, "Collins", "Cameraman"))
    clock.advance(RELOAD_S - 0.001)
    assert db.current().version == v1  # not yet looked: at most the bound behind
    clock.advance(0.001)
    held = db.current()
    assert held.version == v2 and held.database.names == ("Collins", "Cameraman")
    assert traffic.statuses == [200, 304, 200]
    [loaded] = [f for f in records.fields("face database loaded") if f["face_db_version"] == v2]
    assert loaded["replaces"] == v1 and loaded["faces_in_database"] == 2
    assert records.messages(logging.ERROR) == []


def test_a_reload_bound_of_zero_looks_before_every_frame(faces, embeddings, log):
    _, logger = log
    traffic = Traffic(faces)
    put(faces, database(embeddings, "Collins"))
    db = live(faces, logger, Clock(), reload_s=0)
    v2 = put(faces, database(embeddings, "Cameraman"))
    assert db.current().version == v2
    db.current()
    assert traffic.statuses == [200, 200, 304]


# -- what never replaces a good database -----------------------------------------------------------


def truncated(embeddings) -> bytes:
    good = database(embeddings, "Collins")
    return good[: len(good) // 2]


def a_pickle(embeddings) -> bytes:
    return pickle.dumps([[1.0], ["Collins"]])


def unsafe(embeddings) -> bytes:
    """A torch.save archive whose pickle names a class the allow-list refuses (unpickling would run it)."""
    good = io.BytesIO(database(embeddings, "Collins"))
    out = io.BytesIO()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("data.pkl"):
                data = pickle.dumps(__import__("fractions").Fraction(1, 2), protocol=2)
            dst.writestr(item, data)
    return out.getvalue()


def reserved_name(embeddings) -> bytes:
    buffer = io.BytesIO()
    torch.save([[embeddings["Collins"]], [NO_FACE]], buffer)
    return buffer.getvalue()


def mismatched(embeddings) -> bytes:
    buffer = io.BytesIO()
    torch.save([[embeddings["Collins"]], ["Collins", "Cameraman"]], buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "broken, says",
    [
        (truncated, "truncated or corrupt"),
        (a_pickle, "a pickle or torch's legacy format"),
        (unsafe, "refers to fractions.Fraction"),
        (reserved_name, "no-face is reserved"),
        (mismatched, "1 embeddings but 2 names"),
    ],
)
def test_a_broken_upload_changes_nothing_but_one_error_line(faces, embeddings, log, broken, says):
    records, logger = log
    clock, traffic = Clock(), Traffic(faces)
    good = put(faces, database(embeddings, "Collins", "Cameraman"))
    db = live(faces, logger, clock)
    bad = put(faces, broken(embeddings))
    for _ in range(5):  # look five times: the refused version is neither used nor downloaded again
        clock.advance()
        assert db.current().version == good
    assert traffic.statuses == [200, 200, 304, 304, 304, 304]
    [refusal] = records.fields("face database version refused")
    assert refusal["refused_version"] == bad and refusal["answering_with"] == good
    assert says in refusal["error"] and f"s3://{FACES}/{KEY} version {bad}" in refusal["error"]
    assert len(records.messages(logging.ERROR)) == 1

    fixed = put(faces, database(embeddings, "Collins"))  # the next good upload is taken
    clock.advance()
    assert db.current().version == fixed


def test_an_oversized_upload_is_refused_before_it_is_read(faces, embeddings, log, monkeypatch):
    records, logger = log
    clock = Clock()
    good = put(faces, database(embeddings, "Collins"))
    db = live(faces, logger, clock)
    big = database(embeddings, "Collins", "Cameraman")
    monkeypatch.setattr(databases, "MAX_DATABASE_BYTES", len(big) - 1)
    bad = put(faces, big)
    clock.advance()
    assert db.current().version == good
    [refusal] = records.fields("face database version refused")
    assert refusal["refused_version"] == bad and f"{len(big):,} bytes, over the {len(big) - 1:,}" in refusal["error"]


def test_s3_out_of_reach_keeps_the_held_version(faces, embeddings, log):
    import boto3
    from botocore.config import Config

    records, logger = log
    clock = Clock()
    good = put(faces, database(embeddings, "Collins"))
    db = live(faces, logger, clock)
    db.s3 = boto3.client(  # a port nothing listens on
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    clock.advance()
    assert db.current().version == good
    [warning] = records.fields("could not look for a new face database version; the held one answers")
    assert warning["answering_with"] == good
    db.s3 = faces
    newer = put(faces, database(embeddings, "Cameraman"))
    clock.advance()
    assert db.current().version == newer


# -- no database -----------------------------------------------------------------------------------


def test_nobody_enrolled_yet_then_the_first_enrolment(faces, embeddings, log):
    records, logger = log
    clock = Clock()
    db = live(faces, logger, clock)
    assert records.messages(logging.WARNING) == ["no face database yet: frames fail until one is enrolled"]
    with pytest.raises(NoDatabase, match=rf"no face database at s3://{FACES}/{KEY} \(NoSuchKey: no such object"):
        db.current()
    first = put(faces, database(embeddings, "Collins"))
    clock.advance()
    assert db.current().version == first


def test_a_deleted_database_answers_nothing(faces, embeddings, log):
    """Removing everyone deletes the object; what was held must not go on naming them."""
    records, logger = log
    clock = Clock()
    held = put(faces, database(embeddings, "Collins"))
    db = live(faces, logger, clock)
    faces.delete_object(Bucket=FACES, Key=KEY)  # a delete marker: the old version is still in the bucket
    clock.advance()
    with pytest.raises(NoDatabase, match="NoSuchKey"):
        db.current()
    [gone] = records.fields("face database gone: frames fail until one is enrolled")
    assert gone["dropped_version"] == held


def test_a_first_upload_that_is_broken_leaves_no_database_and_says_why(faces, embeddings, log):
    records, logger = log
    bad = put(faces, b"not a database")
    db = live(faces, logger, Clock())
    with pytest.raises(NoDatabase, match=f"version {bad} was refused: .*not a torch.save file"):
        db.current()
    assert [f["refused_version"] for f in records.fields("face database version refused")] == [bad]


# -- the service with a live database ---------------------------------------------------------------


@pytest.fixture
def pipeline(faces):
    faces.create_bucket(Bucket=STAGE1)
    faces.create_bucket(Bucket=OUTPUT)
    return faces


def result(s3, key: str) -> tuple[str, str]:
    response = s3.get_object(Bucket=OUTPUT, Key=key)
    return response["Body"].read().decode(), response["Metadata"][VERSION_METADATA]


def test_each_result_names_the_database_version_that_gave_it(pipeline, models, embeddings, frames, log):
    records, logger = log
    clock = Clock()
    for name in ("astronaut", "camera"):
        pipeline.put_object(Bucket=STAGE1, Key=f"{name}.jpg", Body=frames[name])
    svc = RecognitionService(
        Recognizer(models),
        OUTPUT,
        s3=pipeline,
        logger=logger,
        faces=LiveDatabase(pipeline, FACES, KEY, reload_s=RELOAD_S, log=logger, clock=clock).load(),
    )
    with pytest.raises(
        RecognitionError, match=rf"s3://{STAGE1}/astronaut\.jpg: no face database at s3://{FACES}/{KEY}"
    ):
        svc.handle_event(s3_event(STAGE1, "astronaut.jpg"))
    assert "Contents" not in pipeline.list_objects_v2(Bucket=OUTPUT)  # nothing written without a database

    only_collins = put(pipeline, database(embeddings, "Collins"))
    clock.advance()
    [first] = svc.handle_event(s3_event(STAGE1, "camera.jpg"))
    assert first["name"] == "Collins" and first["face_db_version"] == only_collins
    assert result(pipeline, "camera.txt") == ("Collins", only_collins)

    both = put(pipeline, database(embeddings, "Collins", "Cameraman"))
    clock.advance()
    [second] = svc.handle_event(s3_event(STAGE1, "camera.jpg"))
    assert second["name"] == "Cameraman" and result(pipeline, "camera.txt") == ("Cameraman", both)
    lines = records.fields("frame recognised")
    assert [(f["name"], f["face_db_version"]) for f in lines] == [("Collins", only_collins), ("Cameraman", both)]
    assert all("database" in f["ms"] for f in lines)  # the look for a new version, timed


def test_a_baked_database_is_named_by_its_fingerprint(pipeline, models, embeddings, frames, tmp_path):
    path = tmp_path / "face_db.pt"
    path.write_bytes(database(embeddings, "Collins", "Cameraman"))
    fingerprint = FaceDatabase.load(path).fingerprint()
    assert fingerprint.startswith("sha256-") and len(fingerprint) == len("sha256-") + 12
    # The same people and embeddings in another file (or object) give the same version.
    again = tmp_path / "copy.pt"
    torch.save([[embeddings["Collins"].clone(), embeddings["Cameraman"].clone()], ["Collins", "Cameraman"]], again)
    assert FaceDatabase.load(again).fingerprint() == fingerprint
    pipeline.put_object(Bucket=STAGE1, Key="astronaut.jpg", Body=frames["astronaut"])
    svc = RecognitionService(Recognizer(models, FaceDatabase.load(path)), OUTPUT, s3=pipeline)
    [answer] = svc.handle_event({"bucket": STAGE1, "key": "astronaut.jpg"})
    assert answer["face_db_version"] == fingerprint
    assert result(pipeline, "astronaut.txt") == ("Collins", fingerprint)


def test_the_function_starts_in_live_mode_from_its_environment(pipeline, model_dir, embeddings, frames):
    """start() as the handler runs it, from the variables settings.function_environment sets in live mode."""
    env = {
        "OUTPUT_BUCKET": OUTPUT,
        "MODEL_DIR": str(model_dir),
        "FACE_DB_BUCKET": FACES,
        "FACE_DB_KEY": KEY,
        "FACE_DB_RELOAD_SECONDS": "0",
    }
    svc = service.start(env, s3=pipeline, warm_up=False)  # nobody enrolled yet: it starts all the same
    version = put(pipeline, database(embeddings, "Collins", "Cameraman"))
    pipeline.put_object(Bucket=STAGE1, Key="clips/camera.jpg", Body=frames["camera"])
    pipeline.put_object(Bucket=STAGE1, Key="clips/chelsea.jpg", Body=frames["chelsea"])
    event = s3_event(STAGE1, "clips/camera.jpg")
    event["Records"] += s3_event(STAGE1, "clips/chelsea.jpg")["Records"]
    answers = svc.handle_event(event)
    assert [(a["name"], a["face_db_version"]) for a in answers] == [("Cameraman", version), (NO_FACE, version)]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"FACE_DB_PATH": "/somewhere/db.pt"}, "FACE_DB_PATH and FACE_DB_BUCKET are both set"),
        ({"FACE_DB_KEY": ""}, "FACE_DB_KEY is not set"),
        ({"FACE_DB_RELOAD_SECONDS": ""}, "FACE_DB_RELOAD_SECONDS is not set"),
        ({"FACE_DB_RELOAD_SECONDS": "soon"}, "FACE_DB_RELOAD_SECONDS='soon' is not a number of seconds"),
        ({"FACE_DB_RELOAD_SECONDS": "-1"}, "FACE_DB_RELOAD_SECONDS=-1 is outside 0..3600"),
        ({"FACE_DB_BUCKET": "Not_A_Bucket"}, "FACE_DB_BUCKET='Not_A_Bucket' is not a valid S3 bucket name"),
        ({"FACE_DB_BUCKET": ""}, "FACE_DB_KEY is set but FACE_DB_BUCKET is not"),
    ],
)
def test_a_live_setting_that_is_wrong_is_named_at_start_up(model_dir, change, message):
    env = {
        "OUTPUT_BUCKET": OUTPUT,
        "MODEL_DIR": str(model_dir),
        "FACE_DB_BUCKET": FACES,
        "FACE_DB_KEY": KEY,
        "FACE_DB_RELOAD_SECONDS": "10",
        **change,
    }
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RecognizerConfig.from_env(env)
