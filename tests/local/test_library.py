"""The library on the embedded stack, end to end (issue 21): a live database, both analyses, both
wirings where cheap; videos uploaded with a plain S3 client; the tools run as a person runs them.

- an event per result on a queue subscribed to the results topic (moto's SNS → SQS), one more per relabel;
- a video of the cameraman processed while only Collins is enrolled (no distance threshold: answered
  Collins) reads Cameraman once he is enrolled, without being uploaded again (the faces bucket's
  notification relabels it), and `tools.relabel` then finds nothing to change;
- `tools.search` by name and by face (the same pictures enrolled and shown: with the untrained
  stand-in weights every face is near every other) finds the right videos and times;
- `tools.forget --yes`: no object version, index item or database version names the person, their
  videos' stage-1 objects are gone, the other person's results are intact.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from components import topology
from local.stack import LocalStack, load_settings
from pipeline_common import segments
from tools import enroll, forget, relabel, search
from tools.demo import samples

pytestmark = pytest.mark.slow

PREFIX = "vfp-lib"


def stack_file(folder: Path, architecture: str) -> Path:
    path = folder / "Pulumi.lib.yaml"
    path.write_text(
        "config:\n  aws:region: us-east-1\n"
        f"  video-face-pipeline:namePrefix: {PREFIX}\n"
        "  video-face-pipeline:faceDatabase: live\n"
        '  video-face-pipeline:faceDatabaseReloadSeconds: "1"\n'
        f"  video-face-pipeline:architecture: {architecture}\n"
    )
    return path


@pytest.fixture(
    scope="module",
    params=[(topology.TIMELINE, topology.EVENT_DRIVEN), (topology.FIRST_FRAME, topology.DIRECT_INVOCATION)],
    ids=["timeline-event-driven", "first-frame-direct"],
)
def stack(request, tmp_path_factory, model_dir):
    analysis, architecture = request.param
    folder = tmp_path_factory.mktemp("library-stack")
    settings = load_settings(stack_file(folder, architecture), analysis=analysis)
    with (
        LocalStack(settings, model_dir=model_dir, concurrency=1, log_dir=folder / "logs") as running,
        pytest.MonkeyPatch.context() as env,
    ):
        for name, value in running.admin.environment().items():  # the tools use the key serve prints
            env.setenv(name, value)
        yield running


@pytest.fixture(scope="module")
def events(stack):
    """A queue subscribed to the results topic, as a user would subscribe one."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    url = sqs.create_queue(QueueName="results-subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=stack.results_topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return url


def drain(stack, url: str, *, settle_s: float = 0.5) -> list[dict]:
    """Every message on the queue now (waiting until none has come for `settle_s`). Called once the
    stack is idle: a function publishes its event before it returns, and SNS hands it to the queue
    within the Publish call, so what is due is already there."""
    sqs, got, quiet_since = stack.client("sqs"), [], time.monotonic()
    while time.monotonic() - quiet_since < settle_s:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for m in batch:
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if batch:
            quiet_since = time.monotonic()
        else:
            time.sleep(0.1)
    return got


def target(stack) -> list[str]:
    return ["--endpoint-url", stack.endpoint_url, "--name-prefix", PREFIX]


def enrol(stack, model_dir, folder: Path, person: str, image: str) -> None:
    (folder / person).mkdir(parents=True)
    samples.write_image(image, folder / person / f"{image}.png")
    assert enroll.main([str(folder), "--model-dir", str(model_dir), "--quiet", *target(stack)]) == 0


def upload(stack, key: str, video: Path) -> None:
    stack.client("s3").upload_file(str(video), stack.settings.input_bucket, key)  # a plain S3 client


def wait_for(predicate, timeout_s: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def text(stack, key: str) -> str:
    return stack.client("s3").get_object(Bucket=stack.settings.output_bucket, Key=key)["Body"].read().decode()


def stage1_of(stem: str, timeline: bool) -> str:
    """Where a video's stage-1 objects are: its segments' folder (timeline), or its frame."""
    return segments.video_folder(stem + ".mp4") if timeline else stem + ".jpg"


def has(stack, bucket: str, key: str) -> bool:
    return bool(stack.client("s3").list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount"))


def test_library_end_to_end(stack, events, model_dir, videos, tmp_path, capsys) -> None:
    s = stack.settings
    s3 = stack.client("s3")
    timeline = s.timeline
    enrol(stack, model_dir, tmp_path / "a", "Collins", "astronaut")
    drain(stack, events)  # (nothing yet: no result)

    # 1. Results: one event each. The cameraman's video answered Collins: the only one enrolled.
    upload(stack, "clips/collins.mp4", videos["astronaut"])
    upload(stack, "clips/camera man.mp4", videos["camera"])
    wait_for(
        lambda: (
            has(stack, s.output_bucket, "clips/camera man.txt") and has(stack, s.output_bucket, "clips/collins.txt")
        ),
        what="results",
    )
    assert stack.wait_idle(60)
    first = drain(stack, events)
    assert sorted(e["video"] for e in first) == ["clips/camera man.mp4", "clips/collins.mp4"], first
    assert all(e["event"] == "result" and e["answer"] == "Collins" for e in first), first
    assert text(stack, "clips/camera man.txt") == "Collins"
    versions = {e["database_version"] for e in first}

    # 2. Cameraman enrolled: the stored result is matched again, no upload; exactly one relabel event.
    enrol(stack, model_dir, tmp_path / "b", "Cameraman", "camera")
    wait_for(lambda: text(stack, "clips/camera man.txt") == "Cameraman", what="the relabel")
    assert stack.wait_idle(60)
    relabelled = drain(stack, events)
    assert [(e["event"], e["video"], e["answer"]) for e in relabelled] == [
        ("relabel", "clips/camera man.mp4", "Cameraman")
    ], relabelled
    assert relabelled[0]["database_version"] not in versions
    head = s3.head_object(Bucket=s.output_bucket, Key="clips/camera man.txt")
    assert head["Metadata"]["face-db-version"] == relabelled[0]["database_version"]
    if timeline:
        doc = json.loads(s3.get_object(Bucket=s.output_bucket, Key="clips/camera man.json")["Body"].read())
        assert [p["name"] for p in doc["people"]] == ["Cameraman"]
        assert doc["database"]["version"] == relabelled[0]["database_version"]
    # On demand: the same code finds nothing more to change, and says nothing.
    summary = run_json(capsys, relabel.main, *target(stack))
    assert summary["changed"] == [] and summary["unchanged"] == 2
    assert drain(stack, events) == []

    # 3. Search by name and by face: the right videos, newest first, with their times.
    upload(stack, "later/collins again.mp4", videos["astronaut"])
    wait_for(lambda: has(stack, s.output_bucket, "later/collins again.txt"), what="a third result")
    assert stack.wait_idle(60)
    assert len(drain(stack, events)) == 1
    found = run_json(capsys, search.main, "Collins", *target(stack))
    assert [f["video"] for f in found] == ["later/collins again.mp4", "clips/collins.mp4"]
    for f in found:
        assert f["ranges"] and all(a <= b for a, b in f["ranges"])
        assert f["ranges"][0][0] == 0.0
        if timeline:  # the times are the timeline's own
            stem = f["video"].rsplit(".", 1)[0]
            doc = json.loads(s3.get_object(Bucket=s.output_bucket, Key=f"{stem}.json")["Body"].read())
            [collins] = [p for p in doc["people"] if p["name"] == "Collins"]
            assert f["ranges"] == [[r["start_s"], r["end_s"]] for r in collins["ranges"]]
        else:  # the answer at the first frame's time
            assert f["ranges"] == [[0.0, 0.0]]
    picture = samples.write_image("camera", tmp_path / "who.png")
    by_face = run_json(capsys, search.main, "--face", str(picture), "--model-dir", str(model_dir), *target(stack))
    assert [f["video"] for f in by_face] == ["clips/camera man.mp4"]

    # 4. Forget Collins: every trace of them goes; the cameraman's result stays as it was.
    before_camera = text(stack, "clips/camera man.txt")
    receipt = run_json(capsys, forget.main, "Collins", "--yes", *target(stack))
    assert sorted(receipt["results_rewritten"]) == ["clips/collins.mp4", "later/collins again.mp4"]
    assert stack.wait_idle(60)
    assert_forgotten(stack, "Collins")
    for key in ("clips/collins", "later/collins again"):
        assert text(stack, f"{key}.txt") == "unknown"
        assert not has(stack, s.stage1_bucket, stage1_of(key, timeline))
    assert text(stack, "clips/camera man.txt") == before_camera == "Cameraman"
    # (timeline: the execution's Cleanup deleted the segments once the timeline was written)
    assert has(stack, s.stage1_bucket, stage1_of("clips/camera man", timeline)) is not timeline
    camera = run_json(capsys, search.main, "Cameraman", *target(stack))
    assert [f["video"] for f in camera] == ["clips/camera man.mp4"]


def run_json(capsys, main, *args: str):
    """A tool's `--json` output: stdout holds that JSON and nothing else."""
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def assert_forgotten(stack, name: str) -> None:
    """No object version in the output, library or faces bucket, no index item, names `name`."""
    s3, s = stack.client("s3"), stack.settings
    for bucket in (s.output_bucket, s.bucket(topology.LIBRARY), s.bucket(topology.FACES)):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for v in page.get("Versions", []):
                body = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
                assert name.encode() not in body, f"s3://{bucket}/{v['Key']} version {v['VersionId']} names {name}"
    items = stack.client("dynamodb").scan(TableName=s.appearances_table)["Items"]
    assert not [i for i in items if name in json.dumps(i)], items
