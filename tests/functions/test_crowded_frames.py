"""analysis: timeline with crowded frames: at most MAX_FACES_PER_FRAME faces a frame are embedded (the
largest boxes), the work is sized by frames × faces against the invocation's time, and a timeline that
cannot fit fails as Permanent, which the handler dead-letters at once instead of letting Lambda retry
a timeout that would recur. Real MTCNN and embedding graphs (stand-in weights), S3 and SQS on moto."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import boto3
import pytest
import torch
from PIL import Image

from components import topology
from components.settings import function_environment
from face_recognizer.facedb import FaceDatabase
from face_recognizer.recognizer import Recognizer, decode_frame
from face_recognizer.service import RecognitionError, RecognitionService, TimelineTooLong
from face_recognizer.timeline import match_faces
from face_recognizer.workload import TimelineWork
from pipeline_common import dead_letter, frames, limits
from pipeline_common.log import Laps
from tests.s3_events import s3_event
from tools import dead_letters
from tools.demo import samples

STAGE1, OUTPUT = "cr-stage-1", "cr-output"  # the buckets a stack named `cr` has
CROWD = 16  # the issue's: 16 faces in every frame


@pytest.fixture(scope="module")
def crowd() -> bytes:
    """A 1024x1024 JPEG of the astronaut 16 times over, a face in each 256-pixel tile."""
    tile = Image.fromarray(samples.image("astronaut")).resize((256, 256))
    grid = Image.new("RGB", (1024, 1024))
    for i in range(CROWD):
        grid.paste(tile, ((i % 4) * 256, (i // 4) * 256))
    out = io.BytesIO()
    grid.save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def database(models) -> FaceDatabase:
    embedding = models.embed(decode_frame(_png("astronaut"), "astronaut"))
    return FaceDatabase.from_entries([torch.from_numpy(embedding)], ["Collins"])


def _png(name: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(samples.image(name)).save(out, format="PNG")
    return out.getvalue()


def test_only_the_largest_faces_up_to_the_cap_are_embedded(models, crowd, database):
    laps = Laps()
    faces, found = match_faces(models, decode_frame(crowd, "crowd"), database, None, laps)
    assert found == CROWD and len(faces) == limits.MAX_FACES_PER_FRAME < CROWD
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)  # the largest boxes first


def _frames_object(tmp_path: Path, jpeg: bytes, count: int) -> bytes:
    paths = []
    for i in range(count):
        paths.append(tmp_path / f"{i}.jpg")
        paths[-1].write_bytes(jpeg)
    width, height = Image.open(io.BytesIO(jpeg)).size
    entries = tuple(frames.Entry(frames.frame_name(i), float(i), width, height, len(jpeg)) for i in range(count))
    frames.write(tmp_path / "crowd.tar", frames.Index("s3://in/crowd.mp4", 1.0, 60, entries), paths)
    return (tmp_path / "crowd.tar").read_bytes()


@pytest.fixture
def buckets(s3):
    for bucket in (STAGE1, OUTPUT):
        s3.create_bucket(Bucket=bucket)
    return s3


def _service(models, database, s3) -> RecognitionService:
    return RecognitionService(Recognizer(models, database, None), OUTPUT, s3=s3, analysis=topology.TIMELINE)


def test_a_crowded_timeline_says_how_many_frames_went_over_the_cap(models, database, crowd, buckets, tmp_path):
    buckets.put_object(Bucket=STAGE1, Key="crowd.tar", Body=_frames_object(tmp_path, crowd, 2))
    _service(models, database, buckets).handle_event(s3_event(STAGE1, "crowd.tar"))
    document = json.loads(buckets.get_object(Bucket=OUTPUT, Key="crowd.json")["Body"].read())
    assert document["max_faces_per_frame"] == limits.MAX_FACES_PER_FRAME
    assert document["frames_over_face_cap"] == 2
    assert all(len(f["faces"]) == limits.MAX_FACES_PER_FRAME for f in document["frames"])


def test_a_timeline_that_cannot_fit_fails_as_permanent(models, database, crowd, buckets, tmp_path):
    """Thirty crowded frames with a few seconds left: known not to fit after two frames (the
    projection, sized by frames × faces), well before the time is gone, and as a failure every retry
    would meet again."""
    buckets.put_object(Bucket=STAGE1, Key="crowd.tar", Body=_frames_object(tmp_path, crowd, 30))
    started = time.monotonic()
    with pytest.raises(
        RecognitionError, match=r"crowd.tar: stopped after \d+ of its 30 frames: .*a retry would stop"
    ) as e:
        _service(models, database, buckets).handle_event(s3_event(STAGE1, "crowd.tar"), deadline=started + 8)
    assert e.value.permanent is True  # type: ignore[attr-defined]
    assert "Contents" not in buckets.list_objects_v2(Bucket=OUTPUT)


def test_the_projection_counts_faces():
    work = TimelineWork(frames=60)
    for _ in range(2):
        work.frame_done(1.0, 10)
    stages = {"read": 20.0, "decode": 40.0, "detect": 400.0, "embed": 1400.0, "match": 0.0}  # ms, two frames
    # per frame 0.23 s + 10 faces x 0.07 s = 0.93 s; 58 frames left
    assert work.projected_s(stages) == pytest.approx(58 * 0.93)
    assert work.refusal(0.0, 50.0, stages) is not None and work.refusal(0.0, 60.0, stages) is None
    few = TimelineWork(frames=60)
    for _ in range(2):
        few.frame_done(1.0, 1)
    assert few.projected_s({**stages, "embed": 140.0}) == pytest.approx(58 * 0.30)


def test_a_permanent_failure_is_dead_lettered_as_lambda_would_record_it(aws):
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws)
    url = sqs.create_queue(QueueName="face-recognition-dlq")["QueueUrl"]

    class Context:
        aws_request_id = "req-1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:face-recognition"

    event = s3_event(STAGE1, "crowd.tar")
    error = TimelineTooLong("s3://cr-stage-1/crowd.tar: stopped after 2 of its 30 frames: ...")
    assert dead_letter.send(sqs, event, error, context=Context(), queue_name="face-recognition-dlq")
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestPayload"] == event and record["requestContext"]["approximateInvokeCount"] == 1
    assert dead_letters.explain("face-recognition-dlq", record) == (
        "face-recognition-dlq: PermanentError after 1 attempts: TimelineTooLong: "
        "s3://cr-stage-1/crowd.tar: stopped after 2 of its 30 frames: ..."
    )


def test_only_timeline_stacks_name_the_queue_in_the_recognizers_environment():
    from components import settings as S

    where = topology.Locations(face_database="/db.pt", models="/m")
    for analysis, expected in ((topology.TIMELINE, "face-recognition-dlq"), (topology.FIRST_FRAME, None)):
        config = {"namePrefix": "vfp-test", "analysis": analysis}
        stack = S.load(config.get, check_files=False)
        assert function_environment(topology.RECOGNIZER, stack, where).get("DEAD_LETTER_QUEUE") == expected


HANDLER_PROBE = r"""
import json, sys
from face_recognizer import handler


class Context:
    aws_request_id = "req-crowd"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:face-recognition"

    def get_remaining_time_in_millis(self):
        return 9000  # 6 s once the handler's 3 s reporting margin is kept back


print(json.dumps(handler.handler(json.loads(sys.argv[1]), Context())))
"""


@pytest.mark.slow
def test_the_handler_dead_letters_a_timeline_that_would_time_out_again_without_a_retry(
    aws, buckets, models, database, crowd, model_dir, tmp_path
):
    """The deployed entry point in a fresh interpreter, its environment as a timeline stack gives it:
    the invocation returns (so Lambda retries nothing) and the dead-letter queue holds the reason."""
    from components import settings as S
    from tests.conftest import run_python
    from tests.functions.peak_probe import without_library

    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws)
    url = sqs.create_queue(QueueName="face-recognition-dlq")["QueueUrl"]
    buckets.put_object(Bucket=STAGE1, Key="crowd.tar", Body=_frames_object(tmp_path, crowd, 30))
    db = tmp_path / "db.pt"
    torch.save([[torch.from_numpy(database.embeddings[0].copy()).reshape(1, 512)], ["Collins"]], db)
    stack = S.load({"namePrefix": "cr", "analysis": "timeline"}.get, check_files=False)
    env = function_environment(
        topology.RECOGNIZER, stack, topology.Locations(face_database=str(db), models=str(model_dir))
    )
    assert env["DEAD_LETTER_QUEUE"] == "face-recognition-dlq" and env["OUTPUT_BUCKET"] == OUTPUT
    env = without_library(env)
    import os

    answer = run_python(
        HANDLER_PROBE,
        json.dumps(s3_event(STAGE1, "crowd.tar")),
        cwd=Path.cwd(),
        env={**os.environ, **env, "AWS_ENDPOINT_URL": aws},
    )
    assert answer["dead_lettered"]["errorType"] == "RecognitionError"  # the event's error, as Lambda would record it
    assert "a retry would stop the same way" in answer["dead_lettered"]["errorMessage"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == dead_letter.CONDITION == "PermanentError"
    assert "crowd.tar: stopped after" in record["responsePayload"]["errorMessage"]
    assert "Contents" not in buckets.list_objects_v2(Bucket=OUTPUT)
