"""The user tools: enroll (faces → database, with the recognizer's own models), workload (uploads,
paced or not) and grade (the course grader's checks), against S3 on a moto server."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from face_recognizer.facedb import FaceDatabase
from tools import enroll, grade, workload
from tools.demo import samples
from tools.modelbuild.ffmpeg import ffmpeg_exe
from video_splitting.ffmpeg import first_frame

# -- enroll ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(model_dir):
    return enroll.load_models(model_dir)


@pytest.fixture(scope="module")
def faces(tmp_path_factory, videos) -> Path:
    """Collins as a still and as a video, the cameraman as a still, and a cat in Collins' folder."""
    root = tmp_path_factory.mktemp("people")
    samples.write_image("astronaut", root / "Collins" / "still.png")
    (root / "Collins" / "clip.mp4").symlink_to(videos["astronaut"])
    samples.write_image("chelsea", root / "Collins" / "not-her.jpg")
    samples.write_image("camera", root / "Cameraman" / "still.png")
    (root / "Cameraman" / "notes.txt").write_text("not a picture")
    return root


def test_enrolment_gives_the_course_format_made_by_the_recognizers_own_embed(faces, models, tmp_path):
    samples_ = enroll.from_folders(faces)
    assert [(s.path.name, s.name) for s in samples_] == [
        ("still.png", "Cameraman"),
        ("clip.mp4", "Collins"),
        ("not-her.jpg", "Collins"),
        ("still.png", "Collins"),
    ]
    embeddings, names, skipped = enroll.enroll(samples_, models)
    assert names == ["Cameraman", "Collins", "Collins"]
    assert skipped == [f"{faces / 'Collins' / 'not-her.jpg'}: no face found"]
    out = enroll.save_database(tmp_path / "db.pt", embeddings, names)

    loaded = torch.load(out, weights_only=True)  # what the course's code does with data.pt
    assert isinstance(loaded, list) and len(loaded) == 2 and loaded[1] == names
    assert all(isinstance(e, torch.Tensor) and e.shape == (1, 512) for e in loaded[0])
    # The still's embedding is exactly what the recognizer computes for that picture...
    assert torch.equal(loaded[0][0], torch.from_numpy(models.embed(Image.open(faces / "Cameraman" / "still.png"))))
    # ...and the video's is that of the very frame the splitter would cut.
    frame = first_frame(ffmpeg_exe(), faces / "Collins" / "clip.mp4", label="clip").jpeg
    assert torch.equal(loaded[0][1], torch.from_numpy(models.embed(Image.open(io.BytesIO(frame)))))
    assert len(FaceDatabase.load(out)) == 3


def test_several_frames_per_video(faces, models):
    embeddings, names, _ = enroll.enroll(
        [enroll.Sample(faces / "Collins" / "clip.mp4", "Collins")], models, frames=3, interval_s=0.3
    )
    assert names == ["Collins"] * 3 and len(embeddings) == 3


def test_a_mapping_file_names_the_pictures(faces, tmp_path):
    as_json = tmp_path / "people.json"
    as_json.write_text(
        json.dumps(
            {str(faces / "Collins" / "still.png"): "Collins", str(faces / "Cameraman" / "still.png"): "Cameraman"}
        )
    )
    assert [s.name for s in enroll.from_mapping(as_json)] == ["Collins", "Cameraman"]
    (tmp_path / "a.png").symlink_to(faces / "Collins" / "still.png")
    as_csv = tmp_path / "people.csv"
    as_csv.write_text("# file,name\na.png,Eileen Collins\n\n")
    assert [(s.path, s.name) for s in enroll.from_mapping(as_csv)] == [(tmp_path / "a.png", "Eileen Collins")]


@pytest.mark.parametrize(
    "content, message",
    [
        ("a.png,Collins,extra\n", "line 1: expected `file,Name`, got 3 fields"),
        ("missing.png,Collins\n", "missing.png: no such file"),
        ("", "names no files"),
    ],
)
def test_bad_mapping_files_say_what_is_wrong(tmp_path, content, message):
    (tmp_path / "a.png").write_bytes(b"")
    path = tmp_path / "m.csv"
    path.write_text(content)
    with pytest.raises(enroll.EnrollError, match=message):
        enroll.from_mapping(path)


def test_a_person_without_any_face_is_an_error_and_nothing_is_written(tmp_path, model_dir):
    samples.write_image("camera", tmp_path / "people" / "Cameraman" / "c.png")
    samples.write_image("coffee", tmp_path / "people" / "Nobody" / "cup.png")
    out = tmp_path / "db.pt"
    code = enroll.main([str(tmp_path / "people"), "--out", str(out), "--model-dir", str(model_dir), "--quiet"])
    assert code == 2 and not out.exists()


def test_the_models_come_from_one_place_and_a_folder_without_an_export_is_named(tmp_path, faces, model_dir, capsys):
    out = tmp_path / "db.pt"
    with pytest.raises(SystemExit) as both:
        enroll.main([str(faces), "--out", str(out), "--model-dir", str(model_dir), "--torch-home", str(tmp_path)])
    assert both.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert enroll.main([str(faces), "--out", str(out), "--model-dir", str(tmp_path)]) == 2
    assert f"--model-dir {tmp_path}: no manifest.json there" in capsys.readouterr().err and not out.exists()


def test_the_cli_refuses_to_invent_weights_unless_told(tmp_path, faces, capsys):
    home = tmp_path / "torch"
    out = tmp_path / "db.pt"
    assert enroll.main([str(faces), "--out", str(out), "--torch-home", str(home)]) == 2
    assert "no vggface2 weights" in capsys.readouterr().err and not out.exists()
    assert enroll.main([str(faces), "--out", str(out), "--torch-home", str(home), "--allow-untrained", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "UNTRAINED WEIGHTS" in captured.err and "3 embeddings of 2 people" in captured.out
    assert torch.load(out, weights_only=True)[1] == ["Cameraman", "Collins", "Collins"]


# -- workload --------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path, videos) -> Path:
    for name in ("camera", "astronaut", "chelsea"):
        (tmp_path / f"{name}.mp4").symlink_to(videos[name])
    (tmp_path / "README.txt").write_text("not a video")
    return tmp_path


def test_workload_uploads_every_video_and_nothing_else(s3, folder):
    s3.create_bucket(Bucket="w-input")
    files = workload.video_files(folder)
    assert [f.name for f in files] == ["astronaut.mp4", "camera.mp4", "chelsea.mp4"]
    uploads = workload.upload_videos(s3, "w-input", files, prefix="run 1/", progress=False)
    assert not [u for u in uploads if u.error]
    objects = s3.list_objects_v2(Bucket="w-input")["Contents"]
    assert sorted(o["Key"] for o in objects) == ["run 1/astronaut.mp4", "run 1/camera.mp4", "run 1/chelsea.mp4"]
    head = s3.head_object(Bucket="w-input", Key="run 1/camera.mp4")
    assert head["ContentType"] == "video/mp4" and head["ContentLength"] == (folder / "camera.mp4").stat().st_size


def test_workload_paces_uploads_like_the_course_generator(s3, folder):
    s3.create_bucket(Bucket="w-input")
    called = time.time()
    uploads = workload.upload_videos(s3, "w-input", workload.video_files(folder), rate=4, progress=False)
    offsets = sorted(u.started - called for u in uploads)
    # Upload i never starts before i × 0.25 s (a busy machine may start one late, never early).
    assert all(offset >= i * 0.25 - 0.005 for i, offset in enumerate(offsets)), offsets
    assert len(offsets) > 1 and offsets[-1] < (len(offsets) - 1) * 0.25 + 5, offsets


def test_workload_reports_failed_uploads_by_name(aws, folder, capsys):
    code = workload.main([str(folder), "--endpoint-url", aws, "--name-prefix", "nobucket", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{folder / 'camera.mp4'} → s3://nobucket-input/camera.mp4" in err and "NoSuchBucket" in err


def test_the_cli_reads_bucket_names_from_a_stack_file(aws, s3, folder, tmp_path, capsys):
    stack = tmp_path / "Pulumi.x.yaml"
    stack.write_text("config:\n  aws:region: us-east-1\n  video-face-pipeline:namePrefix: from-stack\n")
    s3.create_bucket(Bucket="from-stack-input")
    assert workload.main([str(folder), "--stack", str(stack), "--endpoint-url", aws, "--no-progress"]) == 0
    assert "uploaded 3 of 3 videos to s3://from-stack-input/" in capsys.readouterr().out
    assert s3.list_objects_v2(Bucket="from-stack-input")["KeyCount"] == 3


# -- grade -----------------------------------------------------------------------------------------


def test_the_course_rule():
    assert grade.course_expectation("test_00.mp4") == "Trump"
    assert grade.course_expectation("test_13.mp4") == "Floki"
    assert grade.course_expectation("dir/test_99.mp4") == "Depp"
    assert grade.course_expectation("intro.mp4") is None


def fill(s3, prefix: str, *, uploads: int, frames: list[int], results: dict[int, str], extra: list[tuple[str, str]]):
    for bucket in ("input", "stage-1", "output"):
        s3.create_bucket(Bucket=f"{prefix}-{bucket}")
    for i in range(uploads):
        s3.put_object(Bucket=f"{prefix}-input", Key=f"test_{i:02d}.mp4", Body=b"v")
    for i in frames:
        s3.put_object(Bucket=f"{prefix}-stage-1", Key=f"test_{i:02d}.jpg", Body=b"j")
    for i, name in results.items():  # as the recognizer writes them: naming the database version that answered
        s3.put_object(
            Bucket=f"{prefix}-output",
            Key=f"test_{i:02d}.txt",
            Body=f"{name}\n".encode(),
            Metadata={"face-db-version": "v1" if i < 5 else "v2"},
        )
    for bucket, key in extra:
        s3.put_object(Bucket=f"{prefix}-{bucket}", Key=key, Body=b"x")


def test_grade_passes_a_correct_stack(aws, s3, tmp_path, capsys):
    fill(
        s3, "g", uploads=10, frames=list(range(10)), results={i: grade.COURSE_NAMES[i % 8] for i in range(10)}, extra=[]
    )
    out = tmp_path / "grade.json"
    code = grade.main(["--expect", "course", "--endpoint-url", aws, "--name-prefix", "g", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "PASSED: yes" in printed and "results as expected: yes (10/10)" in printed
    assert "face database versions that answered: v1 (5), v2 (5)" in printed
    assert [line.split()[-1] for line in printed.splitlines() if line.startswith("test_0")][:6] == ["v1"] * 5 + ["v2"]
    report = json.loads(out.read_text())
    assert report["passed"] and report["uploads"] == 10 and report["correct"] == 10
    assert report["latency_s"]["end_to_end"] is not None and report["latency_s"]["per_video"]["n"] == 10
    assert report["videos"][3] | {"frame_latency_s": None, "result_latency_s": None} == {
        "video": "test_03.mp4",
        "uploaded": True,
        "frame": "test_03.jpg",
        "frame_present": True,
        "result_key": "test_03.txt",
        "result": "Depp",
        "expected": "Depp",
        "correct": True,
        "face_db_version": "v1",
        "frame_latency_s": None,
        "result_latency_s": None,
        "note": "",
    }


def test_grade_finds_every_kind_of_fault(aws, s3):
    results = {i: grade.COURSE_NAMES[i % 8] for i in range(10) if i != 4}
    results[7] = "Trump"  # wrong: test_07 is Obama
    fill(
        s3,
        "f",
        uploads=10,
        frames=[i for i in range(10) if i != 2],
        results=results,
        extra=[("stage-1", "stray.jpg"), ("output", "test_99.txt")],
    )
    report = grade.grade(s3, workload.Buckets("f-input", "f-stage-1", "f-output"), expect=grade.course_expectation)
    assert not report["passed"]
    assert report["stage1"] == {"expected": 10, "present": 9, "missing": ["test_02.jpg"], "extra": ["stray.jpg"]}
    assert report["output"] == {"expected": 10, "present": 9, "missing": ["test_04.txt"], "extra": ["test_99.txt"]}
    assert report["correct"] == 8 and report["judged"] == 10
    rows = {r["video"]: r for r in report["videos"]}
    assert rows["test_07.mp4"]["correct"] is False and rows["test_07.mp4"]["result"] == "Trump"
    assert rows["test_04.mp4"]["result"] is None and rows["test_04.mp4"]["correct"] is None
    table = grade.format_table(report)
    assert "(missing)" in table and "missing 1: test_02.jpg" in table and "extra 1: test_99.txt" in table
    assert (
        "PASSED: NO (failed: stage-1 contents; output contents; results as expected; "
        "every result within 300 s)" in table
    )


def test_the_verdict_line_and_the_exit_status_agree(aws, s3, capsys):
    """`PASSED: NO` with exit status 0 confused a new user twice: the line and the status now agree,
    and the line says which check failed."""
    results = {i: grade.COURSE_NAMES[i % 8] for i in range(4)}
    results[1] = "Trump"
    fill(s3, "v", uploads=4, frames=list(range(4)), results=results, extra=[])
    code = grade.main(["--expect", "course", "--endpoint-url", aws, "--name-prefix", "v"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert (code, last) == (1, "PASSED: NO (failed: results as expected)")
    assert grade.main(["--endpoint-url", aws, "--name-prefix", "v"]) == 0  # nothing to judge names by
    assert capsys.readouterr().out.strip().splitlines()[-1] == "PASSED: yes"


def test_grade_with_a_json_expectation_and_a_prefix(aws, s3, tmp_path):
    for bucket in ("input", "stage-1", "output"):
        s3.create_bucket(Bucket=f"p-{bucket}")
    s3.put_object(Bucket="p-input", Key="mine/a.mp4", Body=b"v")
    s3.put_object(Bucket="p-stage-1", Key="mine/a.jpg", Body=b"j")
    s3.put_object(Bucket="p-output", Key="mine/a.txt", Body=b"Collins")
    s3.put_object(Bucket="p-output", Key="theirs/b.txt", Body=b"x")  # another run's, outside the prefix
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps({"a.mp4": "Collins"}))
    report = grade.grade(
        s3,
        workload.Buckets("p-input", "p-stage-1", "p-output"),
        expect=grade.load_expectation(str(expected)),
        prefix="mine/",
    )
    assert report["passed"] and report["correct"] == 1 and report["output"]["extra"] == []
    with pytest.raises(ValueError, match="neither 'course' nor a readable JSON file"):
        grade.load_expectation(str(tmp_path / "nope.json"))


def test_two_uploads_sharing_one_result_do_not_pass(aws, s3):
    """`dup/x.mp4` and `dup//x.mp4` once both became `dup/x.txt`: one result for two uploads, and
    grade said PASSED. Each upload must have its own frame and result."""
    for bucket in ("input", "stage-1", "output"):
        s3.create_bucket(Bucket=f"d-{bucket}")
    for key in ("dup/x.mp4", "dup//x.mp4"):
        s3.put_object(Bucket="d-input", Key=key, Body=b"v")
    s3.put_object(Bucket="d-stage-1", Key="dup/x.jpg", Body=b"j")  # what the old naming left: one of each
    s3.put_object(Bucket="d-output", Key="dup/x.txt", Body=b"Collins")
    report = grade.grade(s3, workload.Buckets("d-input", "d-stage-1", "d-output"))
    assert not report["passed"] and report["checks"]["results_distinct"] is True
    assert report["output"]["missing"] == ["dup//x.txt"] and report["stage1"]["missing"] == ["dup//x.jpg"]
    assert {r["video"]: r["result_key"] for r in report["videos"]} == {
        "dup//x.mp4": "dup//x.txt",
        "dup/x.mp4": "dup/x.txt",
    }


def test_control_characters_in_keys_are_escaped_in_the_table(aws, s3):
    """A key holding ESC c (the terminal's reset) once cleared the reader's screen."""
    for bucket in ("input", "stage-1", "output"):
        s3.create_bucket(Bucket=f"e-{bucket}")
    key = "clear\x1bc\x07\u2028me é.mp4"
    s3.put_object(Bucket="e-input", Key=key, Body=b"v")
    table = grade.format_table(grade.grade(s3, workload.Buckets("e-input", "e-stage-1", "e-output")))
    assert table.isprintable() is False  # the newlines between lines only
    assert all(line.isprintable() for line in table.splitlines())
    assert "clear\\x1bc\\x07\\u2028me é.mp4" in table and "missing 1: clear\\x1bc\\x07\\u2028me é.jpg" in table


def test_counts_take_the_number_of_their_noun(tmp_path, capsys):
    """`1 embeddings of 1 people` read badly to a newcomer."""
    from tools.text import plural

    assert [plural(n, "embedding") for n in (0, 1, 2)] == ["0 embeddings", "1 embedding", "2 embeddings"]
    db = tmp_path / "one.pt"
    enroll.save_database(db, [torch.ones(1, 512)], ["Solo"])
    assert enroll.main(["--list", "--out", str(db)]) == 0
    assert ": 1 embedding of 1 person\n  Solo  1" in capsys.readouterr().out
