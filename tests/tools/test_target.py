"""One way to address a stack (tools/target.py) and what tools.grade says when it cannot reach one,
or why a video has no result: outputs files, a `pulumi` CLI on PATH (a real executable standing in
for Pulumi's), the stack file; grade against S3, SQS and CloudWatch on a moto server, and as a
subprocess where what reaches the terminal matters."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import socket
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from components.project import PROJECT_DIR
from tests.s3_events import s3_event
from tools import grade, target, workload

OUTPUTS = {
    "architecture": "direct-invocation",
    "inputBucket": "o-input",
    "stage1Bucket": "o-stage-1",
    "outputBucket": "o-output",
    "splitterFunctionName": "prod-video-splitting",
    "splitterFunctionArn": "arn:aws:lambda:eu-west-1:111122223333:function:prod-video-splitting",
    "recognizerFunctionName": "prod-face-recognition",
    "recognizerFunctionArn": "arn:aws:lambda:eu-west-1:111122223333:function:prod-face-recognition",
    "recognizerImageUri": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/o/prod-face-recognition@sha256:ab",
    "splitterDeadLetterQueueUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/prod-video-splitting-dlq",
    "recognizerDeadLetterQueueUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/prod-face-recognition-dlq",
}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    workload.add_target_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def fake_pulumi(tmp_path, monkeypatch):
    """A `pulumi` on PATH that prints these outputs for `pulumi stack output --json`, as the CLI does
    when a stack is selected; `fail` makes it answer as the CLI does when none is."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "pulumi"

    def install(outputs: dict | None) -> Path:
        body = (
            f"import sys; print({json.dumps(json.dumps(outputs))}) if sys.argv[1:4] == ['stack', 'output', '--json'] "
            "else sys.exit(2)"
            if outputs is not None
            else "import sys; print('error: no stack selected', file=sys.stderr); sys.exit(255)"
        )
        script.write_text(f"#!{sys.executable}\n{body}\n")
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
        return script

    return install


def test_an_outputs_file_names_the_whole_stack(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({**OUTPUTS, "endpointUrl": "http://127.0.0.1:4566"}))
    t = target.resolve_target(parse("--outputs", str(path)))
    assert (t.buckets.input, t.buckets.stage1, t.buckets.output, t.region) == (
        "o-input",
        "o-stage-1",
        "o-output",
        "eu-west-1",
    )
    assert t.functions == {"splitter": "prod-video-splitting", "recognizer": "prod-face-recognition"}
    assert t.dead_letter_queues["recognizer"] == OUTPUTS["recognizerDeadLetterQueueUrl"]
    assert t.endpoint_url == "http://127.0.0.1:4566"  # a local stack's outputs say where it listens
    # An explicit endpoint, or AWS_ENDPOINT_URL, wins over the file's; flags win over its names.
    assert (
        target.resolve_target(parse("--outputs", str(path), "--endpoint-url", "http://x:1")).endpoint_url
        == "http://x:1"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://y:2")
    assert target.resolve_target(parse("--outputs", str(path))).endpoint_url is None  # boto3 reads the variable
    t = target.resolve_target(parse("--outputs", str(path), "--name-prefix", "other", "--region", "us-west-2"))
    assert (t.buckets.input, t.buckets.output, t.region) == ("other-input", "other-output", "us-west-2")


def test_pulumi_stack_output_is_used_when_the_cli_has_a_stack_and_nothing_else_is_named(fake_pulumi, tmp_path):
    fake_pulumi(OUTPUTS)
    t = target.resolve_target(parse())
    assert t.source == "pulumi stack output" and t.buckets.input == "o-input"
    assert t.functions["splitter"] == "prod-video-splitting"
    # Named explicitly, the stack file or an outputs file wins over whatever stack Pulumi has selected.
    assert (
        target.resolve_target(parse("--stack", str(PROJECT_DIR / "Pulumi.prod.yaml"))).buckets.input == "vfp-prod-input"
    )
    local = tmp_path / "local.json"
    local.write_text(json.dumps({**OUTPUTS, "inputBucket": "local-input"}))
    assert target.resolve_target(parse("--outputs", str(local))).buckets.input == "local-input"
    assert target.resolve_target(parse("--name-prefix", "p")).source.startswith("stack file")


def test_without_a_selected_stack_the_stack_file_says(fake_pulumi):
    fake_pulumi(None)
    t = target.resolve_target(parse())
    assert t.source.startswith("stack file") and t.source.endswith("Pulumi.dev.yaml")
    assert t.buckets.input == "vfp-dev-input" and t.functions["recognizer"] == "face-recognition"
    t = target.resolve_target(parse("--stack", str(PROJECT_DIR / "Pulumi.prod.yaml")))
    assert t.functions == {"splitter": "prod-video-splitting", "recognizer": "prod-face-recognition"}
    assert t.dead_letter_queues == {"splitter": None, "recognizer": None}  # looked up by name when needed


@pytest.mark.parametrize(
    "content, says",
    [("not json", "not a readable JSON file"), (json.dumps({"inputBucket": "x"}), "no stage1Bucket, outputBucket")],
)
def test_a_bad_outputs_file_is_named(tmp_path, capsys, content, says):
    path = tmp_path / "outputs.json"
    path.write_text(content)
    assert grade.main(["--outputs", str(path)]) == target.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"grade: --outputs {path}: ") and says in err


# -- grade's error paths, as a user sees them ----------------------------------------------------------


def run_grade(*args: str, env: dict[str, str], stderr_tty: bool = False) -> tuple[int, str, str]:
    """`python -m tools.grade ARGS` in a fresh interpreter: exit status, stdout, stderr."""
    if not stderr_tty:
        done = subprocess.run(
            [sys.executable, "-m", "tools.grade", *args],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr
    primary, secondary = pty.openpty()  # stderr is a terminal, as in an interactive shell...
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # ...120 columns wide
    with subprocess.Popen(
        [sys.executable, "-m", "tools.grade", *args], cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=secondary
    ) as proc:
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal's other end closed: the process is done with it
                break
            if not chunk:
                break
            chunks.append(chunk)
        out = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=120)
    os.close(primary)
    return code, out, b"".join(chunks).decode(errors="replace")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


def test_an_endpoint_that_does_not_answer_is_one_line_and_exit_3():
    url = f"http://127.0.0.1:{closed_port()}"
    env = clean_env(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1")
    code, out, err = run_grade("--name-prefix", "x", "--endpoint-url", url, env=env)
    assert code == target.EXIT_UNREACHABLE and not out
    assert err.strip().splitlines() == [
        f'grade: cannot reach {url}: Could not connect to the endpoint URL: "{url}/x-input" '
        "(is `python -m local serve` running?)"
    ]


def test_missing_credentials_are_one_line_and_exit_4(aws):
    code, out, err = run_grade(
        "--name-prefix", "x", "--endpoint-url", aws, env=clean_env(AWS_DEFAULT_REGION="us-east-1")
    )
    assert code == target.EXIT_CREDENTIALS and not out
    assert err.strip().splitlines() == [
        "grade: no AWS credentials found; the local stack accepts any: export AWS_ACCESS_KEY_ID=local "
        "AWS_SECRET_ACCESS_KEY=local"
    ]


def test_a_bucket_that_is_not_there_names_it(aws, capsys):
    assert grade.main(["--name-prefix", "nothing", "--endpoint-url", aws]) == target.EXIT_BAD_INPUT
    assert "grade: bucket nothing-input not found at " in capsys.readouterr().err


# -- what grade explains ---------------------------------------------------------------------------------


def failed_record(bucket: str, key: str, attempts: int, error: str) -> dict:
    """Lambda's on-failure destination record for an S3 event that ran out of retries."""
    return {
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": attempts},
        "requestPayload": s3_event(bucket, key),
        "responsePayload": {"errorType": "SplitError", "errorMessage": error},
    }


def test_grade_explains_each_missing_result_from_the_dead_letter_queues(aws, s3, tmp_path):
    import boto3

    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    for bucket in ("d-input", "d-stage-1", "d-output"):
        s3.create_bucket(Bucket=bucket)
    for key in ("ok.mp4", "bad clip.mp4", "lost.mp4"):
        s3.put_object(Bucket="d-input", Key=key, Body=b"v")
    s3.put_object(Bucket="d-stage-1", Key="ok.jpg", Body=b"j")
    s3.put_object(Bucket="d-output", Key="ok.txt", Body=b"Collins")
    splitter_dlq = sqs.create_queue(QueueName="video-splitting-dlq")["QueueUrl"]
    sqs.create_queue(QueueName="face-recognition-dlq")
    sqs.send_message(
        QueueUrl=splitter_dlq,
        MessageBody=json.dumps(
            failed_record("d-input", "bad clip.mp4", 3, "s3://d-input/bad clip.mp4: not a readable video")
        ),
    )
    sqs.send_message(QueueUrl=splitter_dlq, MessageBody="not a record")  # someone else's: reported, not fatal
    out = tmp_path / "g.json"
    env = clean_env(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1")
    code, printed, err = run_grade("--name-prefix", "d", "--endpoint-url", aws, "--json", str(out), env=env)
    assert code == 1, err
    assert (
        "  bad clip.mp4: video-splitting-dlq: RetriesExhausted after 3 attempts: SplitError: "
        "s3://d-input/bad clip.mp4: not a readable video" in printed
    )
    assert "  lost.mp4: no result and no dead-letter record (still running, or lost)" in printed
    assert "dead-letter queues: video-splitting-dlq 2 message(s), face-recognition-dlq 0 message(s)" in printed
    assert "video-splitting: no data in CloudWatch for this window" in printed
    report = json.loads(out.read_text())
    rows = {r["video"]: r for r in report["videos"]}
    assert (
        rows["bad clip.mp4"]["note"]
        == "dead-lettered: video-splitting-dlq: RetriesExhausted after 3 attempts: SplitError"
    )
    assert report["dead_letters"]["unexplained"] == ["lost.mp4"]
    # Reading left every message where it was, for the next reader.
    depth = sqs.get_queue_attributes(QueueUrl=splitter_dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "2"


def test_waiting_shows_progress_on_a_terminal_and_nothing_when_piped(aws, s3):
    for bucket in ("w-input", "w-stage-1", "w-output"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="w-input", Key="a.mp4", Body=b"v")
    s3.put_object(Bucket="w-input", Key="b.mp4", Body=b"v")
    s3.put_object(Bucket="w-output", Key="a.txt", Body=b"Collins")
    env = clean_env(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1")
    args = ("--name-prefix", "w", "--endpoint-url", aws, "--wait", "1")
    code, out, err = run_grade(*args, env=env)
    assert code == 1 and err == "" and "PASSED: NO" in out  # piped: not a byte of progress
    code, out, err = run_grade(*args, env=env, stderr_tty=True)
    assert code == 1 and "waiting:" in err and "1/2" in err and "PASSED: NO" in out


# -- issue 19 items 13 and 14: a stack by name, --profile, a local stack's outputs suffice ----------------


EU = {"LocationConstraint": "eu-west-1"}  # OUTPUTS' region


def no_credentials(monkeypatch, tmp_path) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


def test_a_local_stacks_outputs_carry_its_credentials(aws, tmp_path, monkeypatch):
    """No AWS credentials in the environment: the outputs file is enough ("Unable to locate credentials" on main)."""
    no_credentials(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps({**OUTPUTS, "endpointUrl": aws, target.ACCESS_KEY_ID: "local", target.SECRET_ACCESS_KEY: "local"})
    )
    t = target.resolve_target(parse("--outputs", str(path)))
    t.client("s3").create_bucket(Bucket="o-input", CreateBucketConfiguration=EU)
    assert [b["Name"] for b in t.client("s3").list_buckets()["Buckets"]] == ["o-input"]


def test_stack_accepts_a_name_as_pulumi_users_type_it(tmp_path, monkeypatch, fake_pulumi):
    """`--stack prod`: `pulumi stack output -s prod` when the CLI knows the stack, else Pulumi.prod.yaml."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no pulumi CLI
    t = target.resolve_target(parse("--stack", "prod"))
    assert t.buckets.input == "vfp-prod-input" and "Pulumi.prod.yaml" in t.source
    with pytest.raises(target.TargetError, match="no-such-stack"):
        target.resolve_target(parse("--stack", "no-such-stack"))
    # with the CLI: its outputs of that stack (the fake answers only when asked for `--stack prod`)
    script = fake_pulumi(None)
    script.write_text(
        f"#!{sys.executable}\nimport sys, json\n"
        f"ok = sys.argv[1:3] == ['stack', 'output'] and sys.argv[-2:] == ['--stack', 'prod']\n"
        f"print(json.dumps({OUTPUTS!r})) if ok else sys.exit(255)\n"
    )
    t = target.resolve_target(parse("--stack", "prod"))
    assert t.buckets.input == "o-input" and t.source == "pulumi stack output -s prod"


def test_profile_picks_the_aws_cli_profile(aws, tmp_path, monkeypatch):
    no_credentials(monkeypatch, tmp_path)
    (tmp_path / "no-credentials").write_text("[deployer]\naws_access_key_id = AKIDEPLOYER\naws_secret_access_key = s\n")
    t = target.resolve_target(parse("--outputs", str(write_outputs(tmp_path)), "--profile", "deployer"))
    assert t.profile == "deployer"
    t.client("s3").create_bucket(
        Bucket="o-input", CreateBucketConfiguration=EU
    )  # signed with the profile's keys (none in the environment)
    import botocore.exceptions

    other = target.resolve_target(parse("--outputs", str(write_outputs(tmp_path)), "--profile", "nobody"))
    with pytest.raises(botocore.exceptions.ProfileNotFound):
        other.client("s3")


def write_outputs(tmp_path: Path) -> Path:
    path = tmp_path / "aws-outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    return path
