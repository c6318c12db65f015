"""The face-recognition function end to end: real MTCNN and InceptionResnetV1 graphs exported through
the real pretrained='vggface2' loading path (from the stand-in checkpoint) and run by ONNX Runtime,
real JPEG frames made by ffmpeg, S3 over a moto server."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageFile

from components import dashboard
from components import topology as T
from components.project import PROJECT_DIR
from components.settings import function_environment
from face_recognizer.facedb import FaceDatabase, FaceDatabaseError
from face_recognizer.recognizer import NO_FACE, UNKNOWN, FrameError, FrameTooLarge, Recognizer, decode_frame
from face_recognizer.service import RESULT_CONTENT_TYPE, RecognitionError, RecognitionService
from pipeline_common import limits
from tests.functions.peak_probe import recognise_in_fresh_interpreter
from tests.s3_events import s3_event
from tools.demo import samples
from tools.modelbuild.ffmpeg import ffmpeg_exe

STAGE1, OUTPUT = "test-stage-1", "test-output"


def first_frame(video: Path, jpg: Path) -> bytes:
    """The first frame as a JPEG, made the way the splitter makes it."""
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(video), "-frames:v", "1", str(jpg)], check=True
    )
    return jpg.read_bytes()


@pytest.fixture(scope="module")
def frames(videos, tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("frames")
    return {name: first_frame(video, folder / f"{name}.jpg") for name, video in videos.items()}


@pytest.fixture(scope="module")
def enrolled(models, frames, tmp_path_factory) -> Path:
    """A course-format database of the two sample people, enrolled from their own frames."""
    embeddings, names = [], []
    for sample, person in samples.PEOPLE.items():
        embedding = models.embed(decode_frame(frames[sample], sample))
        assert embedding is not None and embedding.shape == (1, 512)
        embeddings.append(torch.from_numpy(embedding))
        names.append(person)
    path = tmp_path_factory.mktemp("db") / "face_db.pt"
    torch.save([embeddings, names], path)
    return path


@pytest.fixture
def buckets(s3):
    s3.create_bucket(Bucket=STAGE1)
    s3.create_bucket(Bucket=OUTPUT)
    return s3


def service(models, db_path, s3, threshold=None) -> RecognitionService:
    return RecognitionService(Recognizer(models, FaceDatabase.load(db_path), threshold), OUTPUT, s3=s3)


def outputs(s3) -> dict[str, str]:
    listing = s3.list_objects_v2(Bucket=OUTPUT).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=OUTPUT, Key=o["Key"])["Body"].read().decode("utf-8") for o in listing}


def put(s3, key: str, body: bytes) -> None:
    s3.put_object(Bucket=STAGE1, Key=key, Body=body)


# -- event shapes and keys ----------------------------------------------------------------------


def test_s3_event_and_direct_payload(models, enrolled, frames, buckets):
    svc = service(models, enrolled, buckets)
    put(buckets, "astronaut.jpg", frames["astronaut"])
    put(buckets, "camera.jpg", frames["camera"])

    event_result = svc.handle_event(s3_event(STAGE1, "astronaut.jpg"))
    direct_result = svc.handle_event({"bucket": STAGE1, "key": "camera.jpg"})

    assert [r["name"] for r in event_result] == ["Collins"]
    assert [r["name"] for r in direct_result] == ["Cameraman"]
    assert event_result[0]["key"] == "astronaut.jpg" and event_result[0]["faces"] == 1
    assert event_result[0]["output"] == f"s3://{OUTPUT}/astronaut.txt"
    assert outputs(buckets) == {"astronaut.txt": "Collins", "camera.txt": "Cameraman"}
    head = buckets.head_object(Bucket=OUTPUT, Key="astronaut.txt")
    assert head["ContentType"] == RESULT_CONTENT_TYPE


def test_many_records_in_one_event(models, enrolled, frames, buckets):
    svc = service(models, enrolled, buckets)
    put(buckets, "a/astronaut.jpg", frames["astronaut"])
    put(buckets, "b/camera.jpg", frames["camera"])
    event = s3_event(STAGE1, "a/astronaut.jpg")
    event["Records"] += s3_event(STAGE1, "b/camera.jpg")["Records"]
    assert [r["name"] for r in svc.handle_event(event)] == ["Collins", "Cameraman"]
    assert outputs(buckets) == {"a/astronaut.txt": "Collins", "b/camera.txt": "Cameraman"}


@pytest.mark.parametrize(
    "key, expected",
    [
        ("with space/clip 1.jpg", "with space/clip 1.txt"),
        ("plus+sign/a+b.jpg", "plus+sign/a+b.txt"),
        ("ünïcödé/名前 テスト.jpg", "ünïcödé/名前 テスト.txt"),
        ("deep/nested/folders/v1.2/clip.jpg", "deep/nested/folders/v1.2/clip.txt"),
        ("$(touch pwned); `id` 'q\".jpg", "$(touch pwned); `id` 'q\".txt"),
    ],
)
def test_url_encoded_keys_give_the_right_result_key(models, enrolled, frames, buckets, key, expected):
    svc = service(models, enrolled, buckets)
    put(buckets, key, frames["astronaut"])
    event = s3_event(STAGE1, key)
    if any(c in key for c in " +$`'\"") or not key.isascii():
        assert event["Records"][0]["s3"]["object"]["key"] != key  # really encoded, as S3 sends it
    svc.handle_event(event)
    assert outputs(buckets) == {expected: "Collins"}


# -- what a frame can hold ----------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["chelsea", "coffee"])
def test_frame_without_a_face_gets_the_sentinel(models, enrolled, frames, buckets, sample):
    svc = service(models, enrolled, buckets)
    put(buckets, f"{sample}.jpg", frames[sample])
    [result] = svc.handle_event(s3_event(STAGE1, f"{sample}.jpg"))
    assert result["name"] == NO_FACE and result["faces"] == 0 and result["distance"] is None
    assert outputs(buckets) == {f"{sample}.txt": NO_FACE}


def test_one_json_line_per_frame_as_the_dashboard_queries_read_it(models, enrolled, frames, buckets):
    """The lines the dashboard's and saved queries select on (components/dashboard.py): each frame's
    name and per-stage `ms` (the stages of components/topology.py), the no-face sentinel as it
    stands in the line, and a failure's level and error type."""
    svc = service(models, enrolled, buckets)
    for name in ("astronaut", "chelsea"):
        put(buckets, f"{name}.jpg", frames[name])
    put(buckets, "broken.jpg", b"not a picture")
    [handler] = svc.log.handlers  # pipeline_common.log's JSON handler; read what it writes
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        for key in ("astronaut.jpg", "chelsea.jpg", "broken.jpg"):
            with contextlib.suppress(RecognitionError):
                svc.handle_event(s3_event(STAGE1, key), request_id=f"req-{key}")
    finally:
        handler.setStream(previous)
    raw = stream.getvalue().splitlines()
    face, no_face, failed = (json.loads(line) for line in raw)
    stages = T.FUNCTIONS[T.RECOGNIZER].stages
    assert face["message"] == no_face["message"] == dashboard.RECOGNISED
    assert face["name"] == "Collins" and set(face["ms"]) == {*stages, "total"}
    assert no_face["name"] == NO_FACE == dashboard.NO_FACE and set(no_face["ms"]) < {*stages, "total"}
    assert dashboard.NO_FACE_IN_LINE in raw[1] and dashboard.NO_FACE_IN_LINE not in raw[0]
    assert failed["level"] == "ERROR" and failed["error_type"] == "FrameError" and "broken.jpg" in failed["frame"]
    assert set(T.FUNCTIONS[T.RECOGNIZER].cpu_stages) < set(stages)


def test_two_faces_the_largest_is_chosen(models, enrolled, frames, buckets):
    """`pair` holds the astronaut's face (about 87x111 px) and the cameraman's (about 55x73 px)."""
    svc = service(models, enrolled, buckets)
    put(buckets, "pair.jpg", frames["pair"])
    [result] = svc.handle_event(s3_event(STAGE1, "pair.jpg"))
    assert result["faces"] == 2
    assert result["name"] == "Collins"
    face = models.find_face(decode_frame(frames["pair"], "pair"))
    x1, y1, x2, y2 = face.box
    assert x2 < 512  # the left half of the pair: the astronaut, the larger face
    assert outputs(buckets) == {"pair.txt": "Collins"}


def test_duplicate_delivery_gives_one_result_with_the_same_content(models, enrolled, frames, buckets):
    svc = service(models, enrolled, buckets)
    put(buckets, "dup/camera.jpg", frames["camera"])
    event = s3_event(STAGE1, "dup/camera.jpg")
    first = svc.handle_event(event)
    before = outputs(buckets)
    second = svc.handle_event(event)
    assert first == second
    assert outputs(buckets) == before == {"dup/camera.txt": "Cameraman"}


# -- recognition --------------------------------------------------------------------------------


def test_enrolled_faces_are_named_and_a_stranger_is_unknown_under_a_threshold(models, frames, tmp_path):
    astronaut = decode_frame(frames["astronaut"], "astronaut")
    camera = decode_frame(frames["camera"], "camera")
    only_collins = tmp_path / "collins.pt"
    torch.save([[torch.from_numpy(models.embed(astronaut))], ["Collins"]], only_collins)
    db = FaceDatabase.load(only_collins)

    without = Recognizer(models, db)
    collins, stranger = without.recognise(astronaut), without.recognise(camera)
    assert collins.name == stranger.name == "Collins"  # no threshold: always the nearest name
    assert collins.distance is not None and stranger.distance is not None  # both frames have a face
    assert collins.distance < stranger.distance

    threshold = (collins.distance + stranger.distance) / 2
    with_threshold = Recognizer(models, db, distance_threshold=threshold)
    assert with_threshold.recognise(astronaut).name == "Collins"
    assert with_threshold.recognise(camera).name == UNKNOWN


def test_nearest_matches_the_course_loop():
    """One vectorised computation gives what the course's per-entry torch.dist loop gave."""
    torch.manual_seed(1)
    entries = [torch.randn(1, 512) for _ in range(40)]
    entries.append(entries[7].clone())  # an exact tie: the first of equals wins, as list.index(min)
    names = [f"p{i}" for i in range(len(entries))]
    db = FaceDatabase.from_entries(entries, names)
    for query in [torch.randn(1, 512) for _ in range(20)] + [entries[7] + 1e-3]:
        distances = [torch.dist(query, e).item() for e in entries]
        best = distances.index(min(distances))
        name, distance = db.nearest(query)
        assert name == names[best]
        assert distance == pytest.approx(distances[best], rel=1e-5)


def test_course_database_loads_when_present():
    course_db = PROJECT_DIR.parent / "shared" / "data" / "cse546" / "data.pt"
    if not course_db.is_file():
        pytest.skip(f"{course_db} not present")
    db = FaceDatabase.load(course_db)
    assert db.embeddings.shape == (79, 512)
    assert set(db.names) == {"Trump", "Biden", "Bean", "Depp", "Diesel", "Floki", "Freeman", "Obama"}


# -- bad frames ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"this is not an image", "truncated"], ids=["empty", "text", "truncated"])
def test_corrupt_frame_is_a_clear_error_and_writes_nothing(models, enrolled, frames, buckets, body):
    if body == "truncated":
        body = frames["astronaut"][: len(frames["astronaut"]) // 2]
    svc = service(models, enrolled, buckets)
    put(buckets, "bad/frame 1.jpg", body)
    with pytest.raises(RecognitionError, match=r"s3://test-stage-1/bad/frame 1\.jpg"):
        svc.handle_event(s3_event(STAGE1, "bad/frame 1.jpg"))
    assert outputs(buckets) == {}


def test_a_png_where_a_jpeg_is_promised_is_refused(models, enrolled, frames, buckets):
    """Pillow opens a PNG as readily as a JPEG; the pipeline's frames are JPEGs, so a `.jpg` holding
    something else is not what the splitter wrote."""
    png = io.BytesIO()
    Image.open(io.BytesIO(frames["astronaut"])).save(png, format="PNG")
    put(buckets, "png/frame.jpg", png.getvalue())
    with pytest.raises(RecognitionError, match=r"s3://test-stage-1/png/frame\.jpg: not a JPEG \(a PNG file\)"):
        service(models, enrolled, buckets).handle_event(s3_event(STAGE1, "png/frame.jpg"))
    assert outputs(buckets) == {}


def test_a_bad_frame_does_not_stop_the_others_in_the_same_event(models, enrolled, frames, buckets):
    svc = service(models, enrolled, buckets)
    put(buckets, "bad.jpg", b"\xff\xd8\xff garbage")
    put(buckets, "good.jpg", frames["camera"])
    event = s3_event(STAGE1, "bad.jpg")
    event["Records"] += s3_event(STAGE1, "good.jpg")["Records"]
    with pytest.raises(RecognitionError) as err:
        svc.handle_event(event)
    assert f"s3://{STAGE1}/bad.jpg" in str(err.value) and "good.jpg" not in str(err.value)
    assert outputs(buckets) == {"good.txt": "Cameraman"}
    # and the same warm service goes on with the next good frame
    assert svc.handle_event({"bucket": STAGE1, "key": "good.jpg"})[0]["name"] == "Cameraman"


def test_missing_frame_object_is_a_clear_error(models, enrolled, buckets):
    svc = service(models, enrolled, buckets)
    with pytest.raises(RecognitionError, match=r"s3://test-stage-1/nowhere\.jpg: cannot read the frame \(NoSuchKey\)"):
        svc.handle_event({"bucket": STAGE1, "key": "nowhere.jpg"})
    assert outputs(buckets) == {}


def test_decode_frame_rejects_non_images():
    with pytest.raises(FrameError, match="s3://b/k.jpg: the object is empty"):
        decode_frame(b"", "s3://b/k.jpg")
    with pytest.raises(FrameError, match="s3://b/k.jpg: not a readable image"):
        decode_frame(b"GIF89a nonsense", "s3://b/k.jpg")


# -- the largest frame, and larger ones (pipeline_common.limits) ---------------------------------


def jpeg_claiming(width: int, height: int) -> bytes:
    """A JPEG whose frame header says width x height (its pixels are a 16x16 image's): all that a
    reader of the header sees, and nothing a decoder could finish."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "gray").save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


@pytest.mark.parametrize(
    "width, height, says",
    [
        (8192, 4320, "8192x4320 (35,389,440 pixels)"),  # DCI 8K: just over
        (9400, 9400, "9400x9400 (88,360,000 pixels)"),  # the frame of issue 9 (4.8 GB, 10.9 s before)
        (12000, 9000, "12000x9000 (108,000,000 pixels)"),  # beyond Pillow's decompression-bomb warning
        (20000, 20000, "over 178,956,970 pixels"),  # beyond Pillow's hard stop
        (16400, 64, "16400x64 (1,049,600 pixels)"),  # few pixels, but a side over the limit
    ],
)
def test_an_over_limit_frame_is_refused_from_its_header_naming_the_object_and_the_limit(
    models, enrolled, buckets, monkeypatch, width, height, says
):
    def no_decoding(self):
        raise AssertionError("an over-limit frame must not be decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    svc = service(models, enrolled, buckets)
    put(buckets, "big/frame 1.jpg", jpeg_claiming(width, height))
    started = time.perf_counter()
    with pytest.raises(RecognitionError) as error:
        svc.handle_event(s3_event(STAGE1, "big/frame 1.jpg"))
    assert time.perf_counter() - started < 1.0
    message = str(error.value)
    assert message.startswith(f"s3://{STAGE1}/big/frame 1.jpg: the frame is {says}")
    assert f"over the pipeline's limit: {limits.describe()}; refused before decoding" in message
    assert "33,177,600 pixels (7680x4320, 8K UHD) and 16,384 pixels a side" in message
    assert outputs(buckets) == {}


def test_pillows_decompression_bomb_threshold_is_not_what_decides():
    """The pipeline's limit is below Pillow's, so every frame it admits opens without Pillow's
    warning, and every frame Pillow would stop is refused with the pipeline's own message."""
    assert Image.MAX_IMAGE_PIXELS is not None  # None would switch Pillow's check off
    assert limits.MAX_FRAME_PIXELS < Image.MAX_IMAGE_PIXELS
    with pytest.raises(FrameTooLarge, match=r"^s3://b/k\.jpg: the frame is 9000x9000 \(81,000,000 pixels\)"):
        decode_frame(jpeg_claiming(9000, 9000), "s3://b/k.jpg")


def test_an_over_limit_object_is_refused_before_it_is_read(models, enrolled, frames, buckets, monkeypatch):
    monkeypatch.setattr(limits, "MAX_FRAME_BYTES", len(frames["astronaut"]) - 1)
    svc = service(models, enrolled, buckets)
    put(buckets, "heavy.jpg", frames["astronaut"])
    with pytest.raises(
        RecognitionError,
        match=rf"s3://{STAGE1}/heavy\.jpg: the frame is {len(frames['astronaut']):,} "
        rf"bytes, over the pipeline's limit of {len(frames['astronaut']) - 1:,} bytes",
    ):
        svc.handle_event(s3_event(STAGE1, "heavy.jpg"))
    assert outputs(buckets) == {}


def test_the_splitter_and_the_recognizer_take_their_limits_from_one_place(
    models, enrolled, videos, buckets, monkeypatch
):
    """pipeline_common.limits is the one definition: move a number there and both functions move."""
    from video_splitting import ffmpeg as ff

    svc = service(models, enrolled, buckets)
    video = videos["astronaut"]  # 512x512
    jpeg = ff.first_frame(ffmpeg_exe(), video, label="s3://in/astronaut.mp4").jpeg
    put(buckets, "astronaut.jpg", jpeg)
    assert svc.handle_event({"bucket": STAGE1, "key": "astronaut.jpg"})[0]["name"] == "Collins"
    assert "-max_pixels" in ff.full_args("ffmpeg", video)
    assert ff.full_args("ffmpeg", video)[ff.full_args("ffmpeg", video).index("-max_pixels") + 1] == str(
        limits.decoder_max_pixels()
    )

    refusal = "the frame is 512x512 (262,144 pixels), over the pipeline's limit: at most 262,143 pixels"
    monkeypatch.setattr(limits, "MAX_FRAME_PIXELS", 512 * 512 - 1)
    with pytest.raises(ff.FrameTooLarge, match=re.escape(f"s3://in/astronaut.mp4: {refusal}")):
        ff.first_frame(ffmpeg_exe(), video, label="s3://in/astronaut.mp4")
    with pytest.raises(RecognitionError, match=re.escape(f"s3://{STAGE1}/astronaut.jpg: {refusal}")):
        svc.handle_event({"bucket": STAGE1, "key": "astronaut.jpg"})

    monkeypatch.setattr(limits, "MAX_FRAME_PIXELS", 512 * 512)
    monkeypatch.setattr(limits, "MAX_FRAME_SIDE", 511)
    with pytest.raises(ff.FrameTooLarge, match="and 511 pixels a side"):
        ff.first_frame(ffmpeg_exe(), video, label="s3://in/astronaut.mp4")
    with pytest.raises(RecognitionError, match="and 511 pixels a side"):
        svc.handle_event({"bucket": STAGE1, "key": "astronaut.jpg"})

    monkeypatch.setattr(limits, "MAX_FRAME_SIDE", 512)
    monkeypatch.setattr(limits, "MAX_FRAME_BYTES", len(jpeg) - 1)
    with pytest.raises(ff.FrameTooLarge, match=rf"the frame is {len(jpeg):,} bytes, over the pipeline's limit"):
        ff.first_frame(ffmpeg_exe(), video, label="s3://in/astronaut.mp4")
    with pytest.raises(RecognitionError, match=rf"the frame is {len(jpeg):,} bytes, over the pipeline's limit"):
        svc.handle_event({"bucket": STAGE1, "key": "astronaut.jpg"})


@pytest.mark.slow
def test_the_largest_frame_is_recognised_within_the_recognizers_memory_setting(video_8k, enrolled, model_dir, tmp_path):
    """The splitter's frame of an 8K video, recognised by the function as deployed (its environment
    from components/settings.py) in a fresh interpreter: its peak resident memory stays within the
    default recognizerMemory (Pulumi.yaml). Before issue 9 this frame took 1.8 GB."""
    from components import settings as S
    from components import topology as T
    from video_splitting import ffmpeg as ff

    jpeg = ff.first_frame(ffmpeg_exe(), video_8k, label="s3://in/astronaut-8k.mp4").jpeg
    assert Image.open(io.BytesIO(jpeg)).size == (7680, 4320)
    assert limits.MAX_FRAME_PIXELS == 7680 * 4320  # the largest frame the pipeline accepts
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(jpeg)
    stack = S.load(lambda key: {"namePrefix": "vfp-test"}.get(key), check_files=False)
    env = function_environment(T.RECOGNIZER, stack, T.Locations(face_database=str(enrolled), models=str(model_dir)))
    probe = recognise_in_fresh_interpreter(env, frame, "8k/frame.jpg", tmp_path)
    assert probe["result"]["name"] == probe["written"]["8k/frame.txt"] == "Collins"
    memory = stack.recognizer.memory_mb
    assert probe["peak_mb"] < memory, (
        f"the 8K frame peaked at {probe['peak_mb']:.0f} MB, over recognizerMemory "
        f"{memory} MB (started at {probe['started_mb']:.0f} MB)"
    )


# -- the face database ---------------------------------------------------------------------------


def test_face_database_validation(tmp_path):
    good = [torch.zeros(1, 512)], ["A"]
    cases = {
        "not a list": ({"a": 1}, r"expected \[embeddings, names\]"),
        "three items": ([[], [], []], r"expected \[embeddings, names\]"),
        "lengths": ([[torch.zeros(1, 512)] * 2, ["A"]], "2 embeddings but 1 names"),
        "shape": ([[torch.zeros(1, 128)], ["A"]], r"embedding 0 is \(1, 128\)"),
        "empty": ([[], []], "holds no faces"),
        "name": ([[torch.zeros(1, 512)], ["A\n"]], "name 0"),
        "nan": ([[torch.full((1, 512), float("nan"))], ["A"]], "non-finite"),
    }
    for label, (content, message) in cases.items():
        path = tmp_path / f"{label}.pt"
        torch.save(content, path)
        with pytest.raises(FaceDatabaseError, match=message) as err:
            FaceDatabase.load(path)
        assert str(path) in str(err.value), label
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a torch file")
    with pytest.raises(FaceDatabaseError, match="not a torch.save file"):
        FaceDatabase.load(junk)
    unsafe = tmp_path / "unsafe.pt"
    torch.save([[torch.zeros(1, 512)], [Fraction(1, 2)]], unsafe)  # an object unpickling would construct
    with pytest.raises(FaceDatabaseError, match="refers to fractions.Fraction, which a file of tensors"):
        FaceDatabase.load(unsafe)
    with pytest.raises(FaceDatabaseError, match="cannot read it"):
        FaceDatabase.load(tmp_path / "absent.pt")
    path = tmp_path / "good.pt"
    torch.save(list(good), path)
    assert FaceDatabase.load(path).names == ("A",)


def test_a_database_cannot_use_a_sentinel_as_a_name(models):
    db = FaceDatabase.from_entries([torch.zeros(1, 512)], [NO_FACE])
    with pytest.raises(FaceDatabaseError, match="reserved"):
        Recognizer(models, db)


# -- start-up: the real handler module, imported in a fresh process -----------------------------


def import_handler(env: dict, cwd: Path) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "OUTPUT_BUCKET",
            "FACE_DB_PATH",
            "MODEL_DIR",
            "DISTANCE_THRESHOLD",
            "MODEL_THREADS",
            "MODEL_PRECISION",
            "LOG_LEVEL",
            "TORCH_HOME",
        )
    }
    return subprocess.run(
        [sys.executable, "-c", "import face_recognizer.handler"],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def malformed_db(tmp_path: Path) -> Path:
    path = tmp_path / "malformed.pt"
    torch.save([[torch.zeros(1, 512)], ["A", "B"]], path)
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("no bucket", "OUTPUT_BUCKET is not set"),
        ("no database setting", "FACE_DB_PATH is not set"),
        ("database file missing", "FACE_DB_PATH={missing}: no such file"),
        ("malformed database", "face database {malformed}: 1 embeddings but 2 names"),
        ("no models setting", "MODEL_DIR is not set"),
        ("models not exported", "no exported models at {empty} (manifest.json is missing)"),
        ("bad threads", "MODEL_THREADS='two' is not a whole number"),
        ("bad threshold", "DISTANCE_THRESHOLD='close' is not a number"),
        ("bad precision", "MODEL_PRECISION='int4' is not one of fp32, int8"),
        ("precision the export lacks", "MODEL_PRECISION=int8, but the embedding network in {models} is fp32"),
    ],
)
def test_misconfiguration_fails_at_start_up_naming_the_culprit(enrolled, model_dir, tmp_path, case, message):
    paths = {
        "missing": tmp_path / "absent.pt",
        "malformed": malformed_db(tmp_path),
        "empty": tmp_path / "empty",
        "models": model_dir,
    }
    paths["empty"].mkdir()
    env = {"OUTPUT_BUCKET": OUTPUT, "FACE_DB_PATH": str(enrolled), "MODEL_DIR": str(model_dir)}
    if case == "no bucket":
        del env["OUTPUT_BUCKET"]
    elif case == "no database setting":
        del env["FACE_DB_PATH"]
    elif case == "database file missing":
        env["FACE_DB_PATH"] = str(paths["missing"])
    elif case == "malformed database":
        env["FACE_DB_PATH"] = str(paths["malformed"])
    elif case == "no models setting":
        del env["MODEL_DIR"]
    elif case == "models not exported":
        env["MODEL_DIR"] = str(paths["empty"])
    elif case == "bad threads":
        env["MODEL_THREADS"] = "two"
    elif case == "bad threshold":
        env["DISTANCE_THRESHOLD"] = "close"
    elif case == "bad precision":
        env["MODEL_PRECISION"] = "int4"
    elif case == "precision the export lacks":
        env["MODEL_PRECISION"] = "int8"
    proc = import_handler(env, tmp_path)
    assert proc.returncode != 0
    expected = message.format(**paths)
    assert f"StartupError: {expected}" in proc.stderr
    logged = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert any(entry["level"] == "ERROR" and expected in entry["error"] for entry in logged)
    assert "During handling of the above exception" not in proc.stderr  # one error, not a chain
