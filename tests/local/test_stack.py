"""The embedded stack end to end, with the real function code: a real moto server, real worker
processes running video_splitting and face_recognizer, real ffmpeg and MTCNN, the stand-in
vggface2 weights, and faces enrolled with them. One stack per wiring serves every test of this
module (each test works under its own key prefix), so the recognizer's cold start is paid twice."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from components import topology
from components.settings import function_environment
from components.topology import ARCHITECTURES, DIRECT_INVOCATION
from local import credentials
from local.session import run_videos
from local.stack import LocalStack, StackError, effective_concurrency, load_settings
from pipeline_common.events import parse_s3_objects
from tests.s3_events import s3_event
from tools.demo import samples
from tools.grade import grade, mapping_expectation
from tools.workload import Buckets

# Whole stacks, subprocesses, model loads or an 80 MB layer: `make test-fast` leaves these out.
pytestmark = pytest.mark.slow

STACK_FILE = """\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: vfp-test
  video-face-pipeline:maxRetryAttempts: "2"
"""
NO_FACE = "no-face"
EXPECTED = {"astronaut": "Collins", "camera": "Cameraman", "chelsea": NO_FACE, "coffee": NO_FACE}


@pytest.fixture(scope="module")
def stack_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stack") / "Pulumi.test.yaml"
    path.write_text(STACK_FILE)
    return path


@pytest.fixture(scope="module", params=ARCHITECTURES)
def stack(request, stack_file, face_db, model_dir, tmp_path_factory):
    settings = load_settings(stack_file, db=face_db, architecture=request.param)
    logs = tmp_path_factory.mktemp(f"logs-{request.param}")
    with LocalStack(settings, model_dir=model_dir, concurrency=2, log_dir=logs, retry_delay_s=0.2) as running:
        yield running


def links(folder: Path, sources: dict[str, Path]) -> list[Path]:
    """Files named as given, pointing at the sample videos (uploads take their key from the name)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, source in sources.items():
        (folder / name).symlink_to(source)
        out.append(folder / name)
    return out


def expectation(files: list[Path]):
    return mapping_expectation({f.name: EXPECTED[Path(os.readlink(f)).stem] for f in files})


def listing(s3, bucket: str, prefix: str) -> dict[str, str]:
    """key → ETag under a prefix."""
    objects = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in objects}


# -- wiring ----------------------------------------------------------------------------------------


def test_notifications_are_the_topology_the_pulumi_program_renders(stack):
    s3 = stack.client("s3")
    s = stack.settings

    def rules(bucket: str) -> set[tuple[str, str | None]]:  # (queue, suffix filter or None)
        config = s3.get_bucket_notification_configuration(Bucket=bucket)
        assert not config.get("LambdaFunctionConfigurations") and not config.get("TopicConfigurations")
        return {
            (
                q["QueueArn"].rsplit(":", 1)[1],
                q["Filter"]["Key"]["FilterRules"][0]["Value"] if q.get("Filter") else None,
            )
            for q in config.get("QueueConfigurations", [])
        }

    splitter_queue = f"{s.splitter.name}-s3-events"
    assert rules(s.input_bucket) == {(splitter_queue, None)}  # every upload, any suffix, any case
    frames = set() if s.architecture == DIRECT_INVOCATION else {(f"{s.recognizer.name}-s3-events", ".jpg")}
    assert rules(s.stage1_bucket) == frames
    assert rules(s.output_bucket) == set()
    assert len(stack.plan) == len(topology.triggers(s.architecture))


def test_each_function_gets_the_environment_the_settings_code_makes(stack):
    s = stack.settings
    splitter = stack.runtimes[topology.SPLITTER].spec.env
    recognizer = stack.runtimes[topology.RECOGNIZER].spec.env
    where = topology.Locations(
        ffmpeg=stack.ffmpeg_path, face_database=str(s.face_database), models=str(stack.model_dir)
    )
    assert function_environment(topology.SPLITTER, s, where).items() <= splitter.items()
    assert function_environment(topology.RECOGNIZER, s, where).items() <= recognizer.items()
    assert ("RECOGNIZER_FUNCTION" in splitter) == (s.architecture == DIRECT_INVOCATION)
    for env in (splitter, recognizer):
        assert env["AWS_ENDPOINT_URL_S3"] == env["AWS_ENDPOINT_URL_LAMBDA"] == stack.endpoint_url
        assert env["AWS_CONFIG_FILE"] == os.devnull and env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
        assert not {"AWS_PROFILE", "AWS_ENDPOINT_URL"} & env.keys()
    assert stack.runtimes[topology.SPLITTER].spec.timeout_s == s.splitter.timeout_s
    assert stack.runtimes[topology.RECOGNIZER].spec.memory_mb == s.recognizer.memory_mb


# -- the pipeline ----------------------------------------------------------------------------------


def test_videos_in_give_one_frame_and_one_result_each_with_the_right_names(stack, videos, tmp_path):
    files = links(tmp_path, {f"{name}.mp4": videos[name] for name in EXPECTED})
    report = run_videos(stack, files, expect=expectation(files), prefix="e2e run/", timeout_s=180, progress=False)
    assert report["checks"] == {
        "uploads_present": True,
        "stage1_exact": True,
        "output_exact": True,
        "results_correct": True,
        "results_distinct": True,
        "within_deadline": True,
    }
    assert report["correct"] == report["judged"] == len(EXPECTED)
    assert {r["video"]: r["result"] for r in report["videos"]} == {
        f"e2e run/{name}.mp4": person for name, person in EXPECTED.items()
    }
    assert report["local"]["accounted_for"] and not report["local"]["failed"]
    # the models it ran, and (from their manifest) that they come from the stand-in weights
    assert report["local"]["model_dir"] == str(stack.model_dir) and report["local"]["untrained_weights"] is True
    s3 = stack.client("s3")
    assert sorted(listing(s3, stack.settings.stage1_bucket, "e2e run/")) == sorted(
        f"e2e run/{name}.jpg" for name in EXPECTED
    )
    assert sorted(listing(s3, stack.settings.output_bucket, "e2e run/")) == sorted(
        f"e2e run/{name}.txt" for name in EXPECTED
    )
    assert all(r["result_seen_s"] is not None for r in report["videos"])


def test_a_corrupt_upload_ends_in_the_dlq_after_the_retries_and_the_rest_go_on(stack, videos, tmp_path):
    files = links(tmp_path, {"good a.mp4": videos["astronaut"], "good c.mp4": videos["camera"]})
    (tmp_path / "corrupt.mp4").write_bytes(os.urandom(4096))
    (tmp_path / "empty.mp4").write_bytes(b"")
    expect = expectation(files)
    report = run_videos(
        stack,
        files + [tmp_path / "corrupt.mp4", tmp_path / "empty.mp4"],
        expect=expect,
        prefix="bad batch/",
        timeout_s=180,
        progress=False,
    )

    attempts = stack.settings.max_retry_attempts + 1
    failed = report["local"]["failed"]
    assert set(failed) == {"bad batch/corrupt.mp4", "bad batch/empty.mp4"}
    assert all(f"video-splitting-dlq after {attempts} attempts: SplitError" in why for why in failed.values())
    rows = {r["video"]: r for r in report["videos"]}
    assert rows["bad batch/good a.mp4"]["result"] == "Collins" and rows["bad batch/good c.mp4"]["result"] == "Cameraman"
    assert report["stage1"]["missing"] == ["bad batch/corrupt.jpg", "bad batch/empty.jpg"]
    assert report["output"]["missing"] == ["bad batch/corrupt.txt", "bad batch/empty.txt"]
    assert not report["stage1"]["extra"] and not report["output"]["extra"]

    # The DLQ itself, read through SQS: Lambda's on-failure record, the S3 event as it came.
    records = [
        r
        for r in stack.read_dead_letter_queue(topology.SPLITTER)
        if parse_s3_objects(r["requestPayload"])[0].key.startswith("bad batch/")
    ]
    by_key = {parse_s3_objects(r["requestPayload"])[0].key: r for r in records}
    assert set(by_key) == {"bad batch/corrupt.mp4", "bad batch/empty.mp4"}
    for key, record in by_key.items():
        encoded = record["requestPayload"]["Records"][0]["s3"]["object"]["key"]
        assert encoded.startswith("bad+batch") and " " not in encoded  # URL-encoded, as S3 sends it
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == attempts
        assert record["responsePayload"]["errorType"] == "SplitError"
        assert f"s3://{stack.settings.input_bucket}/{key}" in record["responsePayload"]["errorMessage"]
    assert {r["video"] for r in report["videos"] if r["note"].startswith("failed")} == set(failed)


def test_an_upper_case_suffix_is_a_video_and_anything_else_leaves_a_dead_letter_record(stack, videos, tmp_path):
    """S3's suffix filters are case-sensitive: `CLIP.MP4` once vanished without a trace. Now every
    upload reaches the splitter, which takes videos in any letter case and refuses the rest by name."""
    s = stack.settings
    files = links(tmp_path, {"CLIP.MP4": videos["astronaut"], "Holiday.Mov": videos["camera"]})
    report = run_videos(stack, files, expect=expectation(files), prefix="case/", timeout_s=180, progress=False)
    assert report["passed"] and {r["video"]: r["result"] for r in report["videos"]} == {
        "case/CLIP.MP4": "Collins",
        "case/Holiday.Mov": "Cameraman",
    }
    s3 = stack.client("s3")
    assert sorted(listing(s3, s.stage1_bucket, "case/")) == ["case/CLIP.MP4.jpg", "case/Holiday.Mov.jpg"]

    s3.put_object(Bucket=s.input_bucket, Key="case/notes.txt", Body=b"not a video")
    s3.put_object(Bucket=s.input_bucket, Key="case/folder/", Body=b"")  # what the console's "Create folder" makes
    assert stack.wait_idle(120)
    records = {
        parse_s3_objects(r["requestPayload"])[0].key: r
        for r in stack.read_dead_letter_queue(topology.SPLITTER)
        if parse_s3_objects(r["requestPayload"])[0].key.startswith("case/")
    }
    assert set(records) == {"case/notes.txt"}  # the folder marker is not an upload of anything
    message = records["case/notes.txt"]["responsePayload"]["errorMessage"]
    assert f"s3://{s.input_bucket}/case/notes.txt: not a video" in message and ".mp4" in message
    assert sorted(listing(s3, s.stage1_bucket, "case/")) == ["case/CLIP.MP4.jpg", "case/Holiday.Mov.jpg"]


def test_keys_that_differ_only_in_a_doubled_slash_get_a_frame_and_a_result_each(stack, videos):
    """`slash/x.mp4` and `slash//x.mp4` (the issue's `dup/x.mp4` and `dup//x.mp4`) once shared one
    frame and one result (the second overwrote the first) and the grade still passed. S3 keys are
    opaque strings: each upload gets its own."""
    s, s3 = stack.settings, stack.client("s3")
    uploads = {"slash/x.mp4": "astronaut", "slash//x.mp4": "camera"}
    for key, video in uploads.items():
        s3.put_object(Bucket=s.input_bucket, Key=key, Body=videos[video].read_bytes())
    assert stack.wait_idle(180)
    assert sorted(listing(s3, s.stage1_bucket, "slash/")) == ["slash//x.jpg", "slash/x.jpg"]
    assert sorted(listing(s3, s.output_bucket, "slash/")) == ["slash//x.txt", "slash/x.txt"]
    answers = {
        k: s3.get_object(Bucket=s.output_bucket, Key=k)["Body"].read().decode() for k in ("slash/x.txt", "slash//x.txt")
    }
    assert answers == {"slash/x.txt": "Collins", "slash//x.txt": "Cameraman"}
    report = grade(
        s3,
        Buckets(s.input_bucket, s.stage1_bucket, s.output_bucket),
        uploads=sorted(uploads),
        prefix="slash/",
    )
    assert report["passed"] and report["checks"]["results_distinct"]
    assert {r["video"]: r["result"] for r in report["videos"]} == {
        "slash/x.mp4": "Collins",
        "slash//x.mp4": "Cameraman",
    }


def test_a_multipart_upload_is_one_event_as_on_s3(stack, tmp_path):
    """boto3 uploads files of 8 MB or more in parts; S3 then sends one ObjectCreated event, and so
    must the local stack (moto sent two, and ran the pipeline twice)."""
    video = tmp_path / "big.mp4"
    samples.noise_video(video, seconds=4)
    assert video.stat().st_size > 12 * 2**20  # over boto3's 8 MB multipart threshold, in two parts or more
    s = stack.settings
    before = {role: rt.stats["invocations"] for role, rt in stack.runtimes.items()}
    stack.client("s3").upload_file(str(video), s.input_bucket, "multipart/big.mp4")
    assert stack.wait_idle(120)
    assert {role: rt.stats["invocations"] - before[role] for role, rt in stack.runtimes.items()} == {
        topology.SPLITTER: 1,
        topology.RECOGNIZER: 1,
    }
    assert sorted(listing(stack.client("s3"), s.output_bucket, "multipart/")) == ["multipart/big.txt"]


def test_a_recognizer_failure_reaches_the_recognizers_dlq(stack):
    s = stack.settings
    key = "rec fail/broken.jpg"
    before = stack.runtimes[topology.RECOGNIZER].stats["invocations"]
    if s.architecture == DIRECT_INVOCATION:  # what the splitter would send, for a frame that is not there
        response = stack.client("lambda").invoke(
            FunctionName=s.recognizer.name,
            InvocationType="Event",
            Payload=json.dumps({"bucket": s.stage1_bucket, "key": key}),
        )
        assert response["StatusCode"] == 202
    else:  # a frame that is not a JPEG, arriving through the stage-1 notification
        stack.client("s3").put_object(Bucket=s.stage1_bucket, Key=key, Body=b"not a jpeg")
    assert stack.wait_idle(120)
    records = [
        r
        for r in stack.read_dead_letter_queue(topology.RECOGNIZER)
        if parse_s3_objects(r["requestPayload"])[0].key == key
    ]
    assert len(records) == 1
    assert records[0]["requestContext"]["approximateInvokeCount"] == s.max_retry_attempts + 1
    assert f"s3://{s.stage1_bucket}/{key}" in records[0]["responsePayload"]["errorMessage"]
    assert stack.runtimes[topology.RECOGNIZER].stats["invocations"] - before == s.max_retry_attempts + 1
    assert not listing(stack.client("s3"), s.output_bucket, "rec fail/")


def test_many_uploads_at_once_nothing_lost_nothing_duplicated(stack, videos, tmp_path):
    count = 24
    files = links(tmp_path, {f"clip_{i:02d}.mp4": videos["astronaut" if i % 2 else "camera"] for i in range(count)})
    before = {role: rt.stats["invocations"] for role, rt in stack.runtimes.items()}
    for runtime in stack.runtimes.values():
        runtime.max_concurrency_seen = 0
    report = run_videos(stack, files, expect=expectation(files), prefix="many/", timeout_s=300, progress=False)
    assert report["passed"] and report["correct"] == count
    assert report["stage1"]["present"] == report["output"]["present"] == count
    s3 = stack.client("s3")
    assert len(listing(s3, stack.settings.stage1_bucket, "many/")) == count
    assert len(listing(s3, stack.settings.output_bucket, "many/")) == count
    for role, runtime in stack.runtimes.items():
        assert runtime.stats["invocations"] - before[role] == count, role  # exactly once each
        assert runtime.max_concurrency_seen == 2, role


def test_a_duplicate_notification_changes_nothing(stack, videos, tmp_path):
    s = stack.settings
    files = links(tmp_path, {"again.mp4": videos["camera"]})
    assert run_videos(stack, files, prefix="dup/", timeout_s=180, progress=False)["passed"]
    s3, sqs = stack.client("s3"), stack.client("sqs")
    frames, results = listing(s3, s.stage1_bucket, "dup/"), listing(s3, s.output_bucket, "dup/")
    text = s3.get_object(Bucket=s.output_bucket, Key="dup/again.txt")["Body"].read()
    before = {role: rt.stats["invocations"] for role, rt in stack.runtimes.items()}
    dead = len(stack.dead_letters())

    # The same notification again, twice, the way S3's arrive (at-least-once delivery).
    for _ in range(2):
        sqs.send_message(
            QueueUrl=stack.event_queues[topology.SPLITTER],
            MessageBody=json.dumps(s3_event(s.input_bucket, "dup/again.mp4")),
        )
    assert stack.wait_idle(120)

    assert stack.runtimes[topology.SPLITTER].stats["invocations"] - before[topology.SPLITTER] == 2
    assert stack.runtimes[topology.RECOGNIZER].stats["invocations"] - before[topology.RECOGNIZER] == 2
    assert listing(s3, s.stage1_bucket, "dup/") == frames  # same keys, same bytes (ETags)
    assert listing(s3, s.output_bucket, "dup/") == results
    assert s3.get_object(Bucket=s.output_bucket, Key="dup/again.txt")["Body"].read() == text == b"Cameraman"
    assert len(stack.dead_letters()) == dead


def test_the_invoke_api_serves_the_real_functions(stack, videos):
    s = stack.settings
    client = stack.client("lambda")
    stack.client("s3").upload_file(str(videos["astronaut"]), s.input_bucket, "invoke/astro.jpg.mp4")
    assert stack.wait_idle(120)
    response = client.invoke(
        FunctionName=s.splitter.name, Payload=json.dumps({"bucket": s.input_bucket, "key": "invoke/astro.jpg.mp4"})
    )
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {
        "frames": [{"bucket": s.stage1_bucket, "key": "invoke/astro.jpg.jpg"}]
    }

    response = client.invoke(
        FunctionName=s.splitter.name, Payload=json.dumps({"bucket": s.input_bucket, "key": "invoke/missing.mp4"})
    )
    error = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "SplitError"
    assert f"s3://{s.input_bucket}/invoke/missing.mp4" in error["errorMessage"]

    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert stack.wait_idle(120)


# -- who gets in (issue 19) --------------------------------------------------------------------------


def as_client(service: str, env: dict[str, str], endpoint: str):
    """A client with the credentials in `env` (a worker's environment, or the stack's)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        config=Config(retries={"max_attempts": 1}),
    )


def refused(call, **kwargs) -> str:
    """`call(**kwargs)` is refused (403); its error code."""
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, err.value.response
    return err.value.response["Error"]["Code"]


def test_the_endpoint_and_the_invoke_port_refuse_whoever_lacks_the_stacks_credentials(stack):
    s = stack.settings
    for url, method in (
        (f"{stack.endpoint_url}/{s.output_bucket}?list-type=2", "GET"),  # read every result
        (f"{stack.endpoint_url}/{s.output_bucket}/forged.txt", "PUT"),  # forge one
        (f"{stack.endpoint_url}/moto-api/reset-auth", "POST"),  # switch the checks off
        (f"{stack.endpoint_url}/moto-api/data.json", "GET"),  # moto's own view of everything
        (f"{stack.lambda_api.url}/2015-03-31/functions/{s.recognizer.name}/invocations", "POST"),
    ):
        request = urllib.request.Request(url, data=b"{}" if method != "GET" else None, method=method)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 403, url
    admin = stack.admin.environment()
    for env in (credentials.fresh().environment(), {**admin, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}):
        refused(as_client("s3", env, stack.endpoint_url).list_objects_v2, Bucket=s.output_bucket)
        refused(as_client("sqs", env, stack.endpoint_url).list_queues)
        refused(as_client("lambda", env, stack.lambda_api.url).invoke, FunctionName=s.splitter.name)
    as_client("s3", admin, stack.endpoint_url).list_objects_v2(Bucket=s.output_bucket)  # the stack's own: in
    direct = as_client("lambda", admin, stack.lambda_api.url)
    assert direct.invoke(FunctionName=s.splitter.name, InvocationType="DryRun")["StatusCode"] == 204


def test_each_function_acts_as_its_own_role_and_is_refused_beyond_it(stack):
    s = stack.settings
    envs = {role: runtime.spec.env for role, runtime in stack.runtimes.items()}
    for role, env in envs.items():
        assert env["AWS_ACCESS_KEY_ID"] != stack.admin.access_key_id and env["AWS_SESSION_TOKEN"]
        arn = as_client("sts", env, stack.endpoint_url).get_caller_identity()["Arn"]
        name = stack.function_name(role)
        assert arn == f"arn:aws:sts::{stack.account_id}:assumed-role/{name}-role/{name}"
    splitter = as_client("s3", envs[topology.SPLITTER], stack.endpoint_url)
    recognizer = as_client("s3", envs[topology.RECOGNIZER], stack.endpoint_url)
    # What the roles do not allow: the splitter forging a result, the recognizer a frame or a video.
    refused(splitter.put_object, Bucket=s.output_bucket, Key="role/forged.txt", Body=b"Mallory")
    refused(splitter.put_object, Bucket=s.stage1_bucket, Key="role/frame.txt", Body=b"x")  # not its suffix
    refused(splitter.list_objects_v2, Bucket=s.output_bucket)
    refused(recognizer.put_object, Bucket=s.stage1_bucket, Key="role/frame.jpg", Body=b"x")
    refused(recognizer.put_object, Bucket=s.input_bucket, Key="role/clip.mp4", Body=b"x")
    refused(recognizer.delete_object, Bucket=s.output_bucket, Key="role/x.txt")
    admin = stack.client("s3")
    assert "Contents" not in admin.list_objects_v2(Bucket=s.output_bucket, Prefix="role/")

    # The real function code, asked to read outside its role, is refused by it (before S3 would
    # look for the object: without s3:ListBucket a missing key is 403 too, as on S3).
    lambda_ = stack.client("lambda")
    for role, bucket, key in (
        (topology.SPLITTER, s.output_bucket, "role/clip.mp4"),
        (topology.RECOGNIZER, s.input_bucket, "role/frame.jpg"),
    ):
        event = json.dumps({"bucket": bucket, "key": key})
        response = lambda_.invoke(FunctionName=stack.function_name(role), Payload=event)
        error = json.loads(response["Payload"].read())
        assert response["FunctionError"] == "Unhandled" and "AccessDenied" in error["errorMessage"], error

    # Invoke: only a direct-invocation stack's splitter may invoke the recognizer, and nothing else.
    invoke = {role: as_client("lambda", env, stack.endpoint_url).invoke for role, env in envs.items()}
    if s.architecture == DIRECT_INVOCATION:
        dry_run = invoke[topology.SPLITTER](FunctionName=s.recognizer.name, InvocationType="DryRun")
        assert dry_run["StatusCode"] == 204
    else:
        refused(invoke[topology.SPLITTER], FunctionName=s.recognizer.name, InvocationType="DryRun")
    for caller, callee in (
        (topology.SPLITTER, s.splitter.name),
        (topology.RECOGNIZER, s.splitter.name),
        (topology.RECOGNIZER, s.recognizer.name),
    ):
        assert refused(invoke[caller], FunctionName=callee, InvocationType="DryRun") == "AccessDeniedException"
    assert stack.wait_idle(60)


# -- settings ----------------------------------------------------------------------------------------


def test_concurrency_follows_reserved_concurrency(stack_file, face_db):
    from dataclasses import replace

    s = load_settings(stack_file, db=face_db)
    assert effective_concurrency(s.splitter, None) == 2 and effective_concurrency(s.splitter, 5) == 5
    reserved = replace(s.splitter, reserved_concurrency=3)
    assert effective_concurrency(reserved, None) == 3 and effective_concurrency(reserved, 2) == 2
    with pytest.raises(StackError, match="video-splitting: reserved concurrency 0"):
        effective_concurrency(replace(s.splitter, reserved_concurrency=0), None)


def test_the_stack_file_decides_the_wiring(tmp_path, face_db):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(STACK_FILE + "  video-face-pipeline:architecture: direct-invocation\n")
    settings = load_settings(path, db=face_db)
    assert settings.architecture == DIRECT_INVOCATION and settings.face_database == face_db.resolve()
    assert load_settings(path, db=face_db, architecture="event-driven").architecture == "event-driven"
