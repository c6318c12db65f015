"""One run's files are its own (issue 19): each run a fresh folder under out/local, `latest` at the
newest, a serve's outputs readable by its owner only and never replaced or removed by another stack.
Real processes stand for the other stacks (their pids and start times), a real socket for a live
endpoint."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from local import runs


@pytest.fixture
def other_stack():
    """A live process other than this one, as the holder of a folder."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def listening():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_each_run_gets_a_fresh_folder_and_latest_points_at_the_newest(tmp_path):
    first = runs.new_run(tmp_path, "serve")
    (first / "logs").mkdir()
    (first / "logs" / "video-splitting.log").write_text("serve's lines")
    second = runs.new_run(tmp_path, "demo")  # `make demo` during the serve
    assert first != second and first.parent == second.parent == tmp_path
    assert (tmp_path / runs.LATEST).resolve() == second.resolve()
    assert (first / "logs" / "video-splitting.log").read_text() == "serve's lines"  # untouched


def test_a_folder_a_live_stack_holds_is_refused(tmp_path, other_stack):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / runs.OWNER).write_text(runs._stamp(other_stack))
    with pytest.raises(runs.Held, match=f"in use by the local stack of process {other_stack}"):
        runs.claim(folder)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / runs.OWNER).write_text(runs._stamp(dead.pid))  # its stack is gone: the folder is free
    runs.claim(folder)
    assert runs.holder(folder) == os.getpid()
    runs.release(folder)
    assert runs.holder(folder) is None


def test_old_finished_runs_are_pruned_and_live_ones_kept(tmp_path, other_stack):
    folders = [runs.new_run(tmp_path, "run") for _ in range(4)]
    for folder in folders:
        runs.release(folder)
    (folders[0] / runs.OWNER).write_text(runs._stamp(other_stack))  # the oldest still runs
    unrelated = tmp_path / "someone-elses"
    unrelated.mkdir()
    runs.prune(tmp_path, keep=1)
    assert [f.exists() for f in folders] == [True, False, False, True] and unrelated.exists()


def test_outputs_are_private_and_a_running_stacks_are_never_replaced(tmp_path, listening):
    outputs = tmp_path / "outputs.json"
    runs.write_private(outputs, json.dumps({"endpointUrl": listening}))
    assert stat.S_IMODE(outputs.stat().st_mode) == 0o600
    with pytest.raises(runs.Held, match="holds the outputs of a running stack"):
        runs.write_private(outputs, json.dumps({"endpointUrl": "http://127.0.0.1:1"}))
    link = tmp_path / "link.json"
    assert runs.publish(link, outputs)
    mine = tmp_path / "second" / "outputs.json"
    runs.write_private(mine, json.dumps({"endpointUrl": listening}))
    assert not runs.publish(link, mine)  # the first stack still answers: its link stays
    runs.unpublish(link, mine)  # the second stops: not its link, left alone
    assert link.resolve() == outputs.resolve()
    runs.unpublish(link, outputs)
    assert not link.exists() and not link.is_symlink()


def test_a_link_to_a_stack_that_is_gone_is_taken_over(tmp_path):
    gone = tmp_path / "old" / "outputs.json"
    runs.write_private(gone, json.dumps({"endpointUrl": "http://127.0.0.1:1"}))  # nothing listens there
    link = tmp_path / "outputs.json"
    assert runs.publish(link, gone)
    new = tmp_path / "new" / "outputs.json"
    runs.write_private(new, "{}")
    assert runs.publish(link, new) and link.resolve() == new.resolve()
    gone.unlink()
    Path(new).unlink()
    assert runs.publish(link, tmp_path / "third.json")  # a dangling link: replaced too
