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
from local.procs import alive, descendants
from local.stack import LocalStack, load_settings
from tools import enroll, samples

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACK_FILE = """\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: vfp-life
"""


@pytest.fixture(scope="module")
def setup_files(tmp_path_factory, torch_home):
    folder = tmp_path_factory.mktemp("lifecycle")
    samples.write_image("astronaut", folder / "faces" / "Collins" / "a.png")
    models = enroll.load_models(torch_home)
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


def test_stop_leaves_no_process_or_port(setup_files, torch_home, videos):
    stack_file, db = setup_files
    before = set(descendants(os.getpid()))
    stack = LocalStack(load_settings(stack_file, db=db), torch_home=torch_home).start()
    try:
        s = stack.settings
        stack.client("s3").upload_file(str(videos["astronaut"]), s.input_bucket, "a.mp4")
        wait_until(lambda: "Contents" in stack.client("s3").list_objects_v2(Bucket=s.output_bucket), 120,
                   "no result")
        pids, ports = stack.pids(), stack.ports()
        workdir = stack._workdir
        assert len(pids) == 3  # moto, one splitter, one recognizer environment
        assert all(port_open(p) for p in ports) and len(ports) == 2
        assert set(stack.runtimes[topology.RECOGNIZER].pids()) < set(descendants(os.getpid()))
    finally:
        stack.stop()
    assert not [p for p in pids if alive(p)]
    assert not [p for p in ports if port_open(p)]
    assert set(descendants(os.getpid())) - before == set()
    assert not workdir.exists()  # the functions' /tmp went with it
    stack.stop()  # twice is harmless


def serve(stack_file: Path, db: Path, torch_home: Path, logs: Path) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "local", "serve", "--stack", str(stack_file), "--db", str(db),
         "--torch-home", str(torch_home), "--logs", str(logs), "--concurrency", "1"],
        cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        pytest.fail(f"serve did not start: {proc.stderr.read()[-2000:]}")
    return proc, json.loads(line)


def exercise(info: dict, video: Path) -> None:
    """Start both functions' workers by running one video through."""
    env = info["environment"]
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    s3.upload_file(str(video), info["buckets"]["input"], "v.mp4")
    wait_until(lambda: "Contents" in s3.list_objects_v2(Bucket=info["buckets"]["output"]), 120, "no result")


@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_ctrl_c_or_a_crash_of_the_stack_leaves_nothing_behind(how, setup_files, torch_home, videos, tmp_path):
    stack_file, db = setup_files
    proc, info = serve(stack_file, db, torch_home, tmp_path / "logs")
    try:
        exercise(info, videos["astronaut"])
        children = descendants(proc.pid)
        ports = [int(info["endpoint_url"].rsplit(":", 1)[1]), int(info["lambda_endpoint_url"].rsplit(":", 1)[1])]
        assert len(children) == 3, children  # moto and one environment per function
        assert all(port_open(p) for p in ports)
        proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        code = proc.wait(timeout=60)
        # No stop() ran after kill -9: the kernel's parent-death signal ends the children.
        wait_until(lambda: not [c for c in children if alive(c)], 15, f"children outlived the stack: {children}")
        wait_until(lambda: not [p for p in ports if port_open(p)], 5, f"a port of the stack is still open: {ports}")
        if how == "ctrl-c":
            assert code == 130
            assert "interrupted; the stack is stopped" in proc.stderr.read()
        else:
            assert code == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
