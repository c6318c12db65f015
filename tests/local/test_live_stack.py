"""A running local stack in live mode (faceDatabase: live), end to end: people enrolled, added and
removed with `tools.enroll` while the workers run, each change answering within the reload bound
without restarting anything; a corrupt upload changing nothing but one error line; every result
naming the database version that gave it, in `local run`'s report and in `tools.grade`.

Real moto server, real worker processes running the function code, real ffmpeg and ONNX models (the
stand-in weights), the command line of tools.enroll and tools.grade as a person runs them against
the stack's endpoint. A third person is the astronaut's mirror image: a different face to the
models, enrolled from its own video."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from components import topology
from local.session import describe, run_videos
from local.stack import LocalStack, load_settings
from tools import enroll, grade
from tools.demo import samples

pytestmark = pytest.mark.slow

PREFIX = "vfp-live"
RELOAD_S = 1
STACK_FILE = f"""\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: {PREFIX}
  video-face-pipeline:faceDatabase: live
  video-face-pipeline:faceDatabaseReloadSeconds: "{RELOAD_S}"
"""
FACES_BUCKET = f"{PREFIX}-faces"


@pytest.fixture(scope="module")
def clips(tmp_path_factory, videos) -> dict[str, Path]:
    """A video per person: Collins, the cameraman, and Mirror (the astronaut flipped left to right)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("live-clips")
    still = folder / "mirror.png"
    Image.fromarray(np.ascontiguousarray(samples.image("astronaut")[:, ::-1])).save(still)
    return {
        "Collins": videos["astronaut"],
        "Cameraman": videos["camera"],
        "Mirror": samples.still_to_video(still, folder / "mirror.mp4"),
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory, model_dir):
    folder = tmp_path_factory.mktemp("live-stack")
    (folder / "Pulumi.live.yaml").write_text(STACK_FILE)
    settings = load_settings(folder / "Pulumi.live.yaml")
    with LocalStack(settings, model_dir=model_dir, concurrency=1, log_dir=folder / "logs") as running:
        yield running


def enrol(stack, model_dir, tmp_path, *args: str, person: str | None = None, clip: Path | None = None) -> None:
    """`python -m tools.enroll` against the running stack, as its serve line suggests."""
    if person is not None and clip is not None:
        (tmp_path / "faces" / person).mkdir(parents=True)
        (tmp_path / "faces" / person / "clip.mp4").symlink_to(clip)
        args = (str(tmp_path / "faces"), "--model-dir", str(model_dir), *args)
    with mock.patch.dict(os.environ, stack.admin.environment()):  # the credentials the stack handed out
        code = enroll.main([*args, "--endpoint-url", stack.endpoint_url, "--name-prefix", PREFIX, "--quiet"])
    assert code == 0


def recognise(stack, clips, tmp_path: Path, run: str, *people: str) -> dict[str, tuple[str | None, str | None]]:
    """Upload each person's clip under `run/`; person → (result, database version that gave it)."""
    folder = tmp_path / run
    folder.mkdir()
    for person in people:
        (folder / f"{person}.mp4").symlink_to(clips[person])
    report = run_videos(stack, sorted(folder.iterdir()), prefix=f"{run}/", timeout_s=180, progress=False)
    assert report["local"]["accounted_for"] and not report["local"]["failed"], describe(report)
    return {Path(r["video"]).stem: (r["result"], r["face_db_version"]) for r in report["videos"]}


def current_version(stack) -> str:
    return stack.client("s3").head_object(Bucket=FACES_BUCKET, Key=topology.FACES_OBJECT)["VersionId"]


def log_lines(stack, message: str) -> list[dict]:
    lines = (Path(stack.log_dir) / "face-recognition.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [e for e in entries if e["message"] == message]


def test_people_come_and_go_on_a_running_stack(stack, clips, model_dir, tmp_path, capsys):
    s3 = stack.client("s3")
    assert s3.get_bucket_versioning(Bucket=FACES_BUCKET)["Status"] == "Enabled"
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=FACES_BUCKET)["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == stack.settings.face_database_history_days

    # Enrol A and B: a video of each gives its name, and says which version answered.
    enrol(stack, model_dir, tmp_path / "enrol-a", person="Collins", clip=clips["Collins"])
    enrol(stack, model_dir, tmp_path / "enrol-b", person="Cameraman", clip=clips["Cameraman"])
    v_ab = current_version(stack)
    answers = recognise(stack, clips, tmp_path, "ab", "Collins", "Cameraman")
    assert answers == {"Collins": ("Collins", v_ab), "Cameraman": ("Cameraman", v_ab)}
    recognizer = stack.runtimes[topology.RECOGNIZER]
    workers = recognizer.pids()
    assert len(workers) == 1

    # Enrol C while the stack runs: after the reload bound, C's video gives C; nothing restarted.
    enrol(stack, model_dir, tmp_path / "enrol-c", person="Mirror", clip=clips["Mirror"])
    v_abc = current_version(stack)
    time.sleep(RELOAD_S + 0.2)  # any frame from now on is recognised after a look at the database
    assert recognise(stack, clips, tmp_path, "c", "Mirror", "Collins") == {
        "Mirror": ("Mirror", v_abc),
        "Collins": ("Collins", v_abc),
    }
    assert recognizer.pids() == workers and recognizer.summary()["cold_starts"] == 1

    # Remove B: B's video no longer gives B.
    enrol(stack, model_dir, tmp_path, "--remove", "Cameraman")
    v_ac = current_version(stack)
    time.sleep(RELOAD_S + 0.2)
    [(name, version)] = recognise(stack, clips, tmp_path, "no-b", "Cameraman").values()
    assert name != "Cameraman" and version == v_ac

    # A corrupt upload of the database: the recognizer keeps answering with v_ac, and says so once.
    etag = s3.head_object(Bucket=FACES_BUCKET, Key=topology.FACES_OBJECT)["ETag"]
    broken = s3.put_object(
        Bucket=FACES_BUCKET, Key=topology.FACES_OBJECT, Body=b"PK\x03\x04 half an upload", IfMatch=etag
    )
    time.sleep(RELOAD_S + 0.2)
    assert recognise(stack, clips, tmp_path, "corrupt-1", "Mirror") == {"Mirror": ("Mirror", v_ac)}
    time.sleep(RELOAD_S + 0.2)
    assert recognise(stack, clips, tmp_path, "corrupt-2", "Collins") == {"Collins": ("Collins", v_ac)}
    [refusal] = log_lines(stack, "face database version refused")
    assert refusal["level"] == "ERROR" and refusal["refused_version"] == broken["VersionId"]
    assert refusal["answering_with"] == v_ac and "truncated or corrupt" in refusal["error"]
    loaded = [e["face_db_version"] for e in log_lines(stack, "face database loaded")]
    # The broken version is never used. Every change of the database also invokes a relabel (issue 21:
    # the faces bucket notifies the recognizer), which loads the version current when it runs: so the
    # first enrolment's own version may be loaded too, and a version by more than one environment.
    assert broken["VersionId"] not in loaded
    assert [v for v in dict.fromkeys(loaded) if v in (v_ab, v_abc, v_ac)] == [v_ab, v_abc, v_ac]
    history = s3.list_object_versions(Bucket=FACES_BUCKET, Prefix=topology.FACES_OBJECT)["Versions"]
    assert set(loaded) <= {v["VersionId"] for v in history}
    assert recognizer.pids() == workers and recognizer.summary()["cold_starts"] == 1

    # tools.grade, against the running stack, shows which database answered each video.
    capsys.readouterr()
    with mock.patch.dict(os.environ, stack.admin.environment()):
        code = grade.main(["--endpoint-url", stack.endpoint_url, "--name-prefix", PREFIX, "--prefix", "corrupt-"])
    table = capsys.readouterr().out
    assert code == 0 and f"face database versions that answered: {v_ac} (2)" in table
    assert sum(1 for line in table.splitlines() if line.startswith("corrupt-") and line.endswith(v_ac)) == 2
