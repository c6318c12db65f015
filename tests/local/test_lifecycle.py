"""Starting and stopping the embedded stack leaves no process or port behind: after stop(), after
Ctrl-C on `python -m local serve`, and after that process is killed outright (-9), when only the
kernel's parent-death signal can end its children."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from components import topology
from components.project import PROJECT_DIR
from local.procs import alive, descendants
from local.stack import OWNER_FILE, WORKDIR_PREFIX, LocalStack, load_settings, owner_stamp, remove_stale_workdirs
from tools import enroll
from tools.demo import samples

# Whole stacks, subprocesses, model loads or an 80 MB layer: `make test-fast` leaves these out.
pytestmark = pytest.mark.slow

STACK_FILE = """\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: vfp-life
"""


@pytest.fixture(scope="module")
def setup_files(tmp_path_factory, model_dir):
    folder = tmp_path_factory.mktemp("lifecycle")
    samples.write_image("astronaut", folder / "faces" / "Collins" / "a.png")
    models = enroll.load_models(model_dir)
    embeddings, names, _ = enroll.enroll(enroll.from_folders(folder / "faces"), models)
    db = enroll.save_database(folder / "db.pt", embeddings, names)
    stack_file = folder / "Pulumi.life.yaml"
    stack_file.write_text(STACK_FILE)
    return stack_file, db


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_stop_leaves_no_process_or_port(setup_files, model_dir, videos):
    stack_file, db = setup_files
    before = set(descendants(os.getpid()))
    stack = LocalStack(load_settings(stack_file, db=db), model_dir=model_dir).start()
    try:
        s = stack.settings
        stack.client("s3").upload_file(str(videos["astronaut"]), s.input_bucket, "a.mp4")
        wait_until(lambda: "Contents" in stack.client("s3").list_objects_v2(Bucket=s.output_bucket), 120, "no result")
        pids, ports = stack.pids(), stack.ports()
        workdir = stack._workdir
        assert workdir is not None  # a started stack has its work folder
        assert len(pids) == 3  # moto, one splitter, one recognizer environment
        assert len(ports) == 2 and all(port_open(p) for p in ports) and len(ports) == 2
        assert set(stack.runtimes[topology.RECOGNIZER].pids()) < set(descendants(os.getpid()))
    finally:
        stack.stop()
    assert not [p for p in pids if alive(p)]
    assert not [p for p in ports if port_open(p)]
    assert set(descendants(os.getpid())) - before == set()
    assert not workdir.exists()  # the functions' /tmp went with it
    stack.stop()  # twice is harmless


def as_a_background_job() -> None:
    """What a shell does to a script's `cmd &`: the job starts with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def serve(
    stack_file: Path, db: Path, model_dir: Path, logs: Path, *, background: bool = False
) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local",
            "serve",
            "--stack",
            str(stack_file),
            "--db",
            str(db),
            "--model-dir",
            str(model_dir),
            "--logs",
            str(logs),
            "--concurrency",
            "1",
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_a_background_job if background else None,
    )
    assert proc.stdout is not None and proc.stderr is not None  # both are pipes
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        pytest.fail(f"serve did not start: {proc.stderr.read()[-2000:]}")
    return proc, json.loads(line)


def exercise(info: dict, video: Path) -> None:
    """Start both functions' workers by running one video through."""
    env = info["environment"]
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    s3.upload_file(str(video), info["buckets"]["input"], "v.mp4")
    wait_until(lambda: "Contents" in s3.list_objects_v2(Bucket=info["buckets"]["output"]), 120, "no result")


@pytest.mark.parametrize("how", ["kill -INT of a background job", "kill -TERM", "kill -9"])
def test_ctrl_c_or_a_crash_of_the_stack_leaves_nothing_behind(how, setup_files, model_dir, videos, tmp_path):
    stack_file, db = setup_files
    proc, info = serve(stack_file, db, model_dir, tmp_path / "logs", background="INT" in how)
    assert proc.stdout is not None and proc.stderr is not None  # serve() opens both as pipes
    try:
        exercise(info, videos["astronaut"])
        children = descendants(proc.pid)
        ports = info["ports"]  # the AWS endpoint and the Invoke handler behind it
        assert len(children) == 3, children  # moto and one environment per function
        assert len(ports) == 2 and all(port_open(p) for p in ports)
        sig = {"kill -INT of a background job": signal.SIGINT, "kill -TERM": signal.SIGTERM, "kill -9": signal.SIGKILL}[
            how
        ]
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
        # No stop() ran after kill -9: the kernel's parent-death signal ends the children.
        wait_until(lambda: not [c for c in children if alive(c)], 15, f"children outlived the stack: {children}")
        wait_until(lambda: not [p for p in ports if port_open(p)], 5, f"a port of the stack is still open: {ports}")
        if sig == signal.SIGINT:
            assert code == 130
            assert "interrupted; the stack is stopped" in proc.stderr.read()
        elif sig == signal.SIGTERM:
            assert code == 128 + signal.SIGTERM
            assert "stopped by SIGTERM; the stack is stopped" in proc.stderr.read()
        else:
            assert code == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_stopping_serve_mid_burst_names_every_upload_left_without_a_result(setup_files, model_dir, videos, tmp_path):
    """Issue 19: a stop mid-burst accounted for every upload by count but named only five. Now each
    one is named when the stack stops, and in the run's stopped.json."""
    stack_file, db = setup_files
    proc, info = serve(stack_file, db, model_dir, tmp_path / "logs")
    assert proc.stdout is not None and proc.stderr is not None
    env = info["environment"]
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    uploads = [f"burst/{n:02d} clip.mp4" for n in range(16)]
    try:
        for key in uploads:  # one worker per function: the burst outlasts the stop below
            s3.upload_file(str(videos["astronaut"]), info["buckets"]["input"], key)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    stopped = json.loads((Path(info["run_dir"]) / "stopped.json").read_text())
    without = stopped["without_result"]
    assert set(without) <= set(uploads) and len(without) >= 6, without  # more than the five once named
    assert f"{len(without)} upload(s) without a result" in err
    for key in without:
        assert repr(key) in err, key  # every one of them, by name
    assert not Path(info["outputs"]).exists()  # its outputs went with it


def test_the_work_folder_of_a_stack_killed_with_minus_9_goes_at_the_next_start(tmp_path):
    """A stack that dies without stop() leaves its functions' /tmp behind; the next one removes
    every such folder whose owner is gone, and no other."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{WORKDIR_PREFIX}stale"
    (stale / "tmp" / "video-splitting-0").mkdir(parents=True)
    (stale / "tmp" / "video-splitting-0" / "video").write_bytes(b"x" * 320_000)
    (stale / OWNER_FILE).write_text(owner_stamp(dead.pid))
    reused = tmp_path / f"{WORKDIR_PREFIX}reused-pid"  # our own pid, but not our start time: another process
    reused.mkdir()
    (reused / OWNER_FILE).write_text(f"{os.getpid()} 1\n")
    mine = tmp_path / f"{WORKDIR_PREFIX}live"
    mine.mkdir()
    (mine / OWNER_FILE).write_text(owner_stamp(os.getpid()))
    starting = tmp_path / f"{WORKDIR_PREFIX}starting"  # no owner file yet: a stack just starting
    starting.mkdir()
    other = tmp_path / "someone-elses"
    other.mkdir()
    removed = remove_stale_workdirs(tmp_path)
    assert sorted(removed) == sorted([stale, reused])
    assert mine.is_dir() and starting.is_dir() and other.is_dir()


@pytest.mark.parametrize(
    "database, says",
    [
        ("truncated", "truncated or corrupt"),
        ("text", "not the zip format"),
        ("foreign pickle", "print, which a file of tensors"),
    ],
)
@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_database_the_recognizer_would_refuse_stops_the_stack_before_anything_starts(
    command, database, says, setup_files, torch_home, tmp_path
):
    """Once, `serve --db bad.pt` came up, advertised itself, and then dead-lettered every upload after
    three init failures each, and `run` said PASSED: NO and exited 0. Now: exit 2, the function's
    own message, nothing started."""
    import torch

    _, good = setup_files
    bad = tmp_path / "bad.pt"
    if database == "truncated":
        bad.write_bytes(good.read_bytes()[:2000])
    elif database == "text":
        bad.write_text("Collins,0.1,0.2\n")
    else:
        torch.save({"x": print}, bad)  # a pickle naming a callable: never loaded
    videos = tmp_path / "videos"
    videos.mkdir()
    samples.make_video("astronaut", videos / "a.mp4")
    args = [
        sys.executable,
        "-m",
        "local",
        command,
        "--stack",
        str(setup_files[0]),
        "--db",
        str(bad),
        "--torch-home",
        str(torch_home),
        "--logs",
        str(tmp_path / "logs"),
    ]
    if command == "run":
        args += ["--videos", str(videos), "--no-progress"]
    done = subprocess.run(args, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"face-recognition would not start: face database {bad}: " in done.stderr and says in done.stderr
    assert "stack up" not in done.stderr and not done.stdout  # serve never advertised an endpoint
    assert not (tmp_path / "logs" / "moto.log").exists()  # nor started its S3


def test_a_model_folder_for_another_precision_stops_the_stack_before_anything_starts(setup_files, model_dir, tmp_path):
    """The stack runs the models it is given: a folder exported for float32 under a stack that deploys
    the int8 embedding is the recognizer's own refusal, before any process or port exists."""
    from local.stack import StackError

    stack_file, db = setup_files
    int8_file = tmp_path / "Pulumi.int8.yaml"
    int8_file.write_text(stack_file.read_text() + "  video-face-pipeline:recognizerPrecision: int8\n")
    stack = LocalStack(load_settings(int8_file, db=db), model_dir=model_dir, log_dir=tmp_path / "logs")
    before = set(descendants(os.getpid()))
    with pytest.raises(StackError, match=f"MODEL_PRECISION=int8, but the embedding network in {model_dir} is fp32"):
        stack.start()
    assert set(descendants(os.getpid())) - before == set() and not stack.ports()
    assert not (tmp_path / "logs" / "moto.log").exists()


def test_a_model_folder_without_an_export_is_named_before_anything_starts(setup_files, tmp_path):
    """`--model-dir` is checked where the command starts: exit 2 and the folder named."""
    stack_file, db = setup_files
    empty = tmp_path / "models"
    empty.mkdir()
    command = [sys.executable, "-m", "local", "serve", "--stack", str(stack_file), "--db", str(db)]
    done = subprocess.run(
        [*command, "--model-dir", str(empty), "--logs", str(tmp_path / "logs")],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"--model-dir {empty}: no manifest.json there" in done.stderr and not done.stdout
    assert not (tmp_path / "logs" / "moto.log").exists()
