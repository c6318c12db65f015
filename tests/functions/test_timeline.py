"""analysis: timeline through both functions' real code: real ffmpeg sampling real H.264 videos,
the real tar of frames, real MTCNN and InceptionResnetV1 graphs (stand-in weights, faces enrolled
with them), S3 over a moto server."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from PIL import Image

from components import topology
from components.settings import function_environment, load_stack_file
from face_recognizer.config import RecognizerConfig
from face_recognizer.facedb import FaceDatabase
from face_recognizer.recognizer import NO_FACE, UNKNOWN, Recognizer
from face_recognizer.service import TIMELINE_CONTENT_TYPE, RecognitionError, RecognitionService
from face_recognizer.timeline import FaceMatch, FrameFaces, build, match_faces
from face_recognizer.tracking import Tracker
from pipeline_common import frames, keys
from pipeline_common.log import Laps
from tests.s3_events import s3_event
from tools.demo import samples
from tools.modelbuild.ffmpeg import ffmpeg_exe
from video_splitting import ffmpeg
from video_splitting.config import SplitterConfig
from video_splitting.service import SplitError, SplittingService

INPUT, STAGE1, OUTPUT = "tl-input", "tl-stage-1", "tl-output"
A, B = samples.PEOPLE["astronaut"], samples.PEOPLE["camera"]  # Collins, Cameraman


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("timeline-videos")
    return {
        # person A 0-2 s, nobody (a cat) 2-3 s, person B 3-5 s
        "sequence": samples.sequence_video([("astronaut", 2), ("chelsea", 1), ("camera", 2)], folder / "seq.mp4"),
        # both people in every frame, side by side
        "pair": samples.sequence_video([("pair", 2)], folder / "pair.mp4", size=(1024, 512)),
        "long": samples.sequence_video([("coffee", 4)], folder / "long.mp4", size=(320, 240)),
    }


@pytest.fixture(scope="module")
def database(people_database_file) -> FaceDatabase:
    return FaceDatabase.load(people_database_file)


@pytest.fixture
def buckets(s3):
    for bucket in (INPUT, STAGE1, OUTPUT):
        s3.create_bucket(Bucket=bucket)
    return s3


def splitter(s3, *, fps: float = 1.0, max_frames: int = 60) -> SplittingService:
    config = SplitterConfig(
        STAGE1, ffmpeg_exe(), None, analysis=topology.TIMELINE, sample_fps=fps, max_frames=max_frames
    )
    return SplittingService(config, s3=s3)


def recognizer(models, database, s3, *, threshold=None, max_frames: int = 60) -> RecognitionService:
    return RecognitionService(
        Recognizer(models, database, threshold), OUTPUT, s3=s3, analysis=topology.TIMELINE, max_frames=max_frames
    )


def run(s3, video: Path, key: str, models, database, **kwargs) -> tuple[dict, str]:
    s3.upload_file(str(video), INPUT, key)
    [written] = splitter(s3).handle_event(s3_event(INPUT, key))
    recognizer(models, database, s3, **kwargs).handle_event(s3_event(STAGE1, written["key"]))
    stem = key.rsplit(".", 1)[0]
    document = json.loads(s3.get_object(Bucket=OUTPUT, Key=f"{stem}.json")["Body"].read())
    answer = s3.get_object(Bucket=OUTPUT, Key=f"{stem}.txt")["Body"].read().decode()
    return document, answer


def ranges(document: dict, name: str) -> list[tuple[float, float]]:
    [person] = [p for p in document["people"] if p["name"] == name]
    return [(r["start_s"], r["end_s"]) for r in person["ranges"]]


def test_a_then_nobody_then_b_gives_each_their_time_range_within_one_interval(buckets, clips, models, database):
    document, answer = run(buckets, clips["sequence"], "dir/seq.mp4", models, database)
    interval = document["interval_s"]
    assert interval == 1.0 and document["frames_analysed"] == 5
    [(a0, a1)] = ranges(document, A)
    [(b0, b1)] = ranges(document, B)
    assert abs(a0 - 0) <= interval and abs(a1 - 2) <= interval
    assert abs(b0 - 3) <= interval and abs(b1 - 5) <= interval
    assert (a0, a1, b0, b1) == (0.0, 2.0, 3.0, 5.0)  # at 1 fps over 10 fps stills, exactly
    # the no-face stretch, reported as such
    assert document["frames_without_face"] == 1
    assert [(r["start_s"], r["end_s"]) for r in document["no_face"]] == [(2.0, 3.0)]
    assert document["frames"][2] == {"t": 2.0, "faces": []}
    # A and B are each seen in 2 frames: the tie goes to the smaller best distance
    best = {p["name"]: p["best_distance"] for p in document["people"]}
    assert answer == min(best, key=lambda n: best[n]) == document["answer"]
    # every range carries its best distance and that face's box; the versions are named
    for person in document["people"]:
        for r in person["ranges"]:
            assert r["best_distance"] >= 0 and len(r["box"]) == 4 and r["start_s"] <= r["best_at_s"] < r["end_s"]
    assert document["database"]["version"] == database.fingerprint()
    assert document["model"]["source_sha256"] == models.manifest["source_sha256"]
    assert document["model"]["untrained"] is True
    assert document["model"]["precision"] == models.precision and set(models.precision.values()) == {"fp32"}
    assert document["video"] == f"s3://{INPUT}/dir/seq.mp4"
    head = buckets.head_object(Bucket=OUTPUT, Key="dir/seq.json")
    assert head["ContentType"] == TIMELINE_CONTENT_TYPE
    assert head["Metadata"] == {"face-db-version": database.fingerprint()}


def test_two_faces_in_one_frame_are_both_reported(buckets, clips, models, database):
    document, answer = run(buckets, clips["pair"], "pair.mp4", models, database)
    assert document["frames_analysed"] == 2
    for frame in document["frames"]:
        assert sorted(f["name"] for f in frame["faces"]) == sorted([A, B])
    assert {p["name"] for p in document["people"]} == {A, B}
    assert ranges(document, A) == ranges(document, B) == [(0.0, 2.0)]
    assert answer in (A, B)


def test_a_threshold_makes_far_faces_unknown_and_the_answer_says_so(buckets, clips, models, database):
    document, answer = run(buckets, clips["pair"], "far.mp4", models, database, threshold=1e-9)
    assert document["people"] == [] and answer == UNKNOWN
    assert document["unknown"]["frames"] == 2 and document["distance_threshold"] == 1e-9


def test_the_first_sample_is_the_first_frame_exactly_as_first_frame_mode_writes_it(clips, tmp_path):
    sampled = ffmpeg.sample_frames(ffmpeg_exe(), clips["sequence"], tmp_path, label="seq", fps=1.0, max_frames=60)
    first = ffmpeg.first_frame(ffmpeg_exe(), clips["sequence"], label="seq")
    assert sampled.frames[0].path.read_bytes() == first.jpeg
    assert [f.t for f in sampled.frames] == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("fps, times", [(2.0, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]), (0.5, [0.0, 2.0])])
def test_sampling_rate(clips, tmp_path, fps, times):
    sampled = ffmpeg.sample_frames(ffmpeg_exe(), clips["long"], tmp_path, label="long", fps=fps, max_frames=60)
    assert [f.t for f in sampled.frames] == times


@pytest.fixture
def tmpdir_watch(tmp_path, monkeypatch):
    """tempfile's default folder, private to the test: what is left in it."""
    import tempfile

    folder = tmp_path / "lambda-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return lambda: list(folder.iterdir())


def test_a_video_longer_than_max_frames_is_refused_naming_it_and_writes_nothing(buckets, clips, tmpdir_watch):
    buckets.upload_file(str(clips["long"]), INPUT, "long.mp4")
    with pytest.raises(SplitError, match=r"s3://tl-input/long.mp4: longer than timeline analysis takes.*maxFrames=3"):
        splitter(buckets, max_frames=3).handle_event(s3_event(INPUT, "long.mp4"))
    assert "Contents" not in buckets.list_objects_v2(Bucket=STAGE1)
    assert tmpdir_watch() == []  # the temporary folder is gone


def test_a_truncated_video_is_refused_not_given_a_timeline_of_part_of_it(buckets, clips, tmp_path):
    """The first half of a real file (its index up front, as phones and `-movflags +faststart` write
    it): ffmpeg decodes what is there, says "partial file" and exits 0. Its timeline once came from
    the frames before the cut, presented as the whole video's."""
    whole = tmp_path / "whole.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(clips["sequence"]),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(whole),
        ],
        check=True,
    )
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # the index first: half the file still opens
    buckets.put_object(Bucket=INPUT, Key="whole.mp4", Body=data)
    assert splitter(buckets).handle_event(s3_event(INPUT, "whole.mp4"))[0]["frames"] == 5  # whole: no complaint
    buckets.put_object(Bucket=INPUT, Key="cut/half.mp4", Body=data[: len(data) // 2])
    with pytest.raises(
        SplitError,
        match=r"s3://tl-input/cut/half.mp4: truncated or damaged: ffmpeg could not decode all of it \(.*partial file.*"
        r"sampled only up to \d s, so it is refused rather than given a timeline of part of it",
    ):
        splitter(buckets).handle_event(s3_event(INPUT, "cut/half.mp4"))
    assert [o["Key"] for o in buckets.list_objects_v2(Bucket=STAGE1)["Contents"]] == ["whole.tar"]


def test_the_frames_object_is_one_deterministic_tar(buckets, clips):
    buckets.upload_file(str(clips["sequence"]), INPUT, "seq.mp4")
    one = splitter(buckets).handle_event(s3_event(INPUT, "seq.mp4"))
    first = buckets.get_object(Bucket=STAGE1, Key="seq.tar")["Body"].read()
    assert one == [{"bucket": STAGE1, "key": "seq.tar", "frames": 5}]
    splitter(buckets).handle_event(s3_event(INPUT, "seq.mp4"))  # a retry writes the same bytes
    assert buckets.get_object(Bucket=STAGE1, Key="seq.tar")["Body"].read() == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert tar.getnames() == ["index.json"] + [f"{i:06d}.jpg" for i in range(1, 6)]
    assert [k["Key"] for k in buckets.list_objects_v2(Bucket=STAGE1)["Contents"]] == ["seq.tar"]


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _jpeg(kind: str = "JPEG") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format=kind)
    return out.getvalue()


JPEG = _jpeg()
PNG = _jpeg("PNG")  # a picture Pillow opens as readily, where a JPEG is promised


def _index(n: int, size: int) -> bytes:
    entries = [{"name": frames.frame_name(i), "t": float(i), "width": 8, "height": 8, "size": size} for i in range(n)]
    return json.dumps(
        {"format": 1, "video": "s3://v/x.mp4", "sample_fps": 1.0, "max_frames": n, "frames": entries}
    ).encode()


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"not a tar at all" * 100, "not a frames object|unreadable as a tar|starts with index.json"),
        (_tar([("000001.jpg", b"x")]), "starts with index.json"),
        (_tar([("index.json", b"{}")]), "frames format None"),
        (_tar([("index.json", _index(1, 3)), ("../../etc/passwd", b"abc")]), "found '../../etc/passwd'"),
        (_tar([("index.json", _index(2, len(JPEG))), ("000001.jpg", JPEG)]), "ends after 000002.jpg is listed"),
        (_tar([("index.json", _index(61, 3))]), "61 frames, over MAX_FRAMES=60"),
        (_tar([("index.json", _index(1, len(JPEG))), ("000001.jpg", JPEG), ("extra", b"")]), "holds 'extra' beyond"),
        (_tar([("index.json", _index(1, 3)), ("000001.jpg", b"abc")]), "000001.jpg: not a JPEG"),
        (_tar([("index.json", _index(1, len(PNG))), ("000001.jpg", PNG)]), r"000001.jpg: not a JPEG \(a PNG file\)"),
        (_tar([("index.json", b"[" * 100_000 + b"]" * 100_000)]), "nested too deeply"),
        (
            _tar([("index.json", _index(1, 3).replace(b'"sample_fps": 1.0', b'"sample_fps": 1e-300'))]),
            "sample_fps 1e-300 is outside 0.01..30",
        ),
    ],
    ids=[
        "not-a-tar",
        "no-index",
        "empty-index",
        "path-member",
        "truncated",
        "too-many",
        "extra",
        "not-a-jpeg",
        "png",
        "deep-index",
        "tiny-fps",
    ],
)
def test_a_frames_object_the_splitter_would_not_write_is_refused_naming_it(buckets, models, database, blob, message):
    buckets.put_object(Bucket=STAGE1, Key="bad.tar", Body=blob)
    with pytest.raises(RecognitionError, match=rf"s3://{STAGE1}/bad.tar.*({message})"):
        recognizer(models, database, buckets).handle_event(s3_event(STAGE1, "bad.tar"))
    assert "Contents" not in buckets.list_objects_v2(Bucket=OUTPUT)


def test_a_timeline_that_cannot_finish_in_time_fails_naming_the_object(buckets, clips, models, database):
    buckets.upload_file(str(clips["sequence"]), INPUT, "slow.mp4")
    splitter(buckets).handle_event(s3_event(INPUT, "slow.mp4"))
    with pytest.raises(
        RecognitionError, match=r"s3://tl-stage-1/slow.tar: stopped after \d of its 5 frames.*recognizerTimeout"
    ):
        recognizer(models, database, buckets).handle_event(s3_event(STAGE1, "slow.tar"), deadline=time.monotonic())
    assert "Contents" not in buckets.list_objects_v2(Bucket=OUTPUT)


def _match(name: str, distance: float) -> FaceMatch:
    return FaceMatch(name, distance, (0.0, 0.0, 10.0, 10.0), 0.99)


def test_build_orders_people_by_frames_then_best_distance():
    frames_ = [
        FrameFaces(0.0, (_match("A", 0.5),)),
        FrameFaces(1.0, (_match("A", 0.3), _match("A", 0.9), _match("B", 0.2))),
        FrameFaces(2.0, ()),
        FrameFaces(3.0, (_match(UNKNOWN, 1.4),)),
        FrameFaces(4.0, (_match("B", 0.4),)),
    ]
    doc = build(frames_, 1.0)
    assert [(p["name"], p["frames"], p["best_distance"]) for p in doc["people"]] == [("B", 2, 0.2), ("A", 2, 0.3)]
    assert doc["answer"] == "B"
    [a] = [p for p in doc["people"] if p["name"] == "A"]
    assert a["ranges"] == [
        {"start_s": 0.0, "end_s": 2.0, "frames": 2, "best_distance": 0.3, "best_at_s": 1.0, "box": [0, 0, 10, 10]}
    ]
    [b] = [p for p in doc["people"] if p["name"] == "B"]
    assert [(r["start_s"], r["end_s"]) for r in b["ranges"]] == [(1.0, 2.0), (4.0, 5.0)]
    assert doc["unknown"]["frames"] == 1 and doc["unknown"]["ranges"][0]["start_s"] == 3.0
    assert (doc["frames_analysed"], doc["frames_without_face"]) == (5, 1)
    assert doc["no_face"] == [{"start_s": 2.0, "end_s": 3.0, "frames": 1}]
    # more frames beats a better distance; no person but unknown faces: unknown; no face at all: no-face
    assert (
        build([FrameFaces(0.0, (_match("A", 0.9),)), FrameFaces(1.0, (_match("A", 0.9), _match("B", 0.1)))], 1)[
            "answer"
        ]
        == "A"
    )
    assert build([FrameFaces(0.0, (_match(UNKNOWN, 2.0),))], 1.0)["answer"] == UNKNOWN
    assert build([FrameFaces(0.0, ())], 1.0)["answer"] == NO_FACE


def test_the_stack_gives_both_functions_the_timeline_settings(tmp_path):
    stack = tmp_path / "Pulumi.tl.yaml"
    stack.write_text(
        "config:\n  video-face-pipeline:namePrefix: vfp-tl\n  video-face-pipeline:analysis: timeline\n"
        '  video-face-pipeline:sampleFps: "0.5"\n  video-face-pipeline:maxFrames: "30"\n'
    )
    s = load_stack_file(stack, check_files=False)
    where = topology.Locations(ffmpeg=ffmpeg_exe(), models=str(tmp_path), face_database=str(stack))
    split = SplitterConfig.from_env(function_environment(topology.SPLITTER, s, where))
    assert (split.analysis, split.sample_fps, split.max_frames, split.timeline) == ("timeline", 0.5, 30, True)
    recognise = RecognizerConfig.from_env(function_environment(topology.RECOGNIZER, s, where))
    assert (recognise.analysis, recognise.max_frames, recognise.timeline) == ("timeline", 30, True)
    # first-frame: neither function gets any of the variables (the environment it always had), and
    # a function without them is first-frame
    default = load_stack_file(stack, overrides={"analysis": "first-frame"}, check_files=False)
    for role in (topology.SPLITTER, topology.RECOGNIZER):
        assert not {"ANALYSIS", "SAMPLE_FPS", "MAX_FRAMES"} & function_environment(role, default, where).keys()
    assert SplitterConfig.from_env(function_environment(topology.SPLITTER, default, where)).timeline is False
    assert RecognizerConfig.from_env(function_environment(topology.RECOGNIZER, default, where)).timeline is False


@pytest.mark.slow
def test_a_timeline_of_the_largest_frames_stays_within_the_recognizers_memory_setting(
    video_8k, people_database_file, model_dir, tmp_path
):
    """The splitter's own 8K sample (the largest frame the pipeline accepts), four times in one frames
    object, recognised by the function as a timeline stack deploys it, in a fresh interpreter: it
    holds one frame at a time, so its peak stays within the default recognizerMemory, as in
    first-frame mode (tests/functions/test_recognizer.py)."""
    from components import settings as S
    from pipeline_common import limits
    from tests.functions.peak_probe import recognise_in_fresh_interpreter

    sampled = ffmpeg.sample_frames(ffmpeg_exe(), video_8k, tmp_path, label="8k", fps=1.0, max_frames=60)
    [first] = sampled.frames
    assert (first.width, first.height) == (limits.MAX_FRAME_WIDTH_8K, limits.MAX_FRAME_HEIGHT_8K)
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"copy{i}.jpg")
        paths[-1].write_bytes(first.path.read_bytes())
    index = frames.Index(
        "s3://in/8k/clip.mp4",
        1.0,
        60,
        tuple(frames.Entry(frames.frame_name(i), float(i), first.width, first.height, first.size) for i in range(4)),
    )
    tar = tmp_path / "clip.tar"
    frames.write(tar, index, paths)

    stack = S.load(lambda key: {"namePrefix": "vfp-test", "analysis": "timeline"}.get(key), check_files=False)
    env = function_environment(
        topology.RECOGNIZER, stack, topology.Locations(face_database=str(people_database_file), models=str(model_dir))
    )
    assert env["ANALYSIS"] == "timeline"
    probe = recognise_in_fresh_interpreter(env, tar, "8k/clip.tar", tmp_path)
    timeline = json.loads(probe["written"]["8k/clip.json"])
    assert timeline["frames_analysed"] == 4 and probe["written"]["8k/clip.txt"] == timeline["answer"] == A
    assert [(r["start_s"], r["end_s"]) for r in timeline["people"][0]["ranges"]] == [(0.0, 4.0)]
    assert timeline["schema_version"] == 2 and timeline["duration_s"] == 4.0
    # The range's best face as a small thumbnail in the library, under the video's prefix, named by report.json.
    prefix = keys.library_prefix("8k/clip.mp4")
    assert set(probe["library"]) == {prefix + "faces.json", prefix + "report.json", prefix + "thumb-0.jpg"}
    assert 500 < probe["library"][prefix + "thumb-0.jpg"] < 8000
    memory = stack.recognizer.memory_mb
    assert probe["peak_mb"] < memory, (
        f"four 8K frames peaked at {probe['peak_mb']:.0f} MB, over recognizerMemory {memory} MB "
        f"(started at {probe['started_mb']:.0f} MB)"
    )


def _scene(people: list[tuple[str, int]], size: tuple[int, int] = (800, 400)) -> Image.Image:
    """A grey frame with each (sample picture, x) pasted at 320x320."""
    frame = Image.new("RGB", size, (90, 90, 90))
    for name, x in people:
        frame.paste(Image.fromarray(samples.image(name)).convert("RGB").resize((320, 320)), (x, 40))
    return frame


def test_tracking_keeps_the_timeline_of_a_moving_face_and_embeds_a_fraction(models, database):
    """Collins pans 10 px a sample (a 57 px face: IoU ~0.7) for 6 s, nobody for 2 s, the cameraman
    still for 4 s: with faces followed between samples (tracking 5 s) the timeline's people, ranges,
    no-face and answer are the ones every face embedded gives, from 3 embeddings instead of 10."""
    scenes = [[("astronaut", 10 * k)] for k in range(6)] + [[], []] + [[("camera", 300)]] * 4
    images = [_scene(people) for people in scenes]

    def timeline(tracker: Tracker[FaceMatch] | None) -> tuple[dict, int]:
        frames_ = []
        for t, image in enumerate(images):
            faces, _ = match_faces(models, image, database, None, Laps(), tracker, float(t))
            frames_.append(FrameFaces(float(t), faces))
        embedded = sum(not f.tracked for frame in frames_ for f in frame.faces)
        return build(frames_, 1.0), embedded

    def shape(doc: dict) -> dict:
        cut = {"start_s", "end_s", "frames"}
        people = {p["name"]: [{k: r[k] for k in cut} for r in p["ranges"]] for p in doc["people"]}
        return {"answer": doc["answer"], "people": people, "no_face": doc["no_face"], "unknown": doc["unknown"]}

    every, every_embedded = timeline(None)
    tracked, tracked_embedded = timeline(Tracker(5.0))
    assert shape(every)["people"] == {
        A: [{"start_s": 0.0, "end_s": 6.0, "frames": 6}],
        B: [{"start_s": 8.0, "end_s": 12.0, "frames": 4}],
    }
    assert shape(tracked) == shape(every)
    assert (every_embedded, tracked_embedded) == (10, 3)  # Collins at 0 and 5 s (age), the cameraman at 8 s
    # a followed face carries its track's embedding and distance, on its own box
    for before, after in zip(every["frames"], tracked["frames"], strict=True):
        assert [f["box"] for f in before["faces"]] == [f["box"] for f in after["faces"]]
