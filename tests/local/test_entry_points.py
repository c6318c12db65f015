"""What a newcomer sees from an entry point before anything runs (issue 19): started without the
venv, one line saying how to get it; given a broken stack file, exit 2 and the file and line, as
the tools give. Real interpreters in subprocesses, no stack started."""

from __future__ import annotations

import subprocess
import sys

import pytest

from components.project import PROJECT_DIR


@pytest.mark.parametrize("module", ["local", "tools.grade", "tools.enroll", "bench"])
def test_an_entry_point_started_without_the_venv_says_how_to_get_it(module):
    # -S: no site-packages, as the system's python3 outside the venv would have none of ours.
    done = subprocess.run(
        [sys.executable, "-S", "-E", "-m", module, "--help"], cwd=PROJECT_DIR, capture_output=True, text=True
    )
    assert done.returncode == 2 and not done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"{module}: No module named ")
    assert "source " in lines[0] and ".venv/bin/activate" in lines[0]


def test_local_names_the_line_of_a_broken_stack_file_and_exits_2(tmp_path):
    stack = tmp_path / "Pulumi.broken.yaml"
    stack.write_text("config:\n  video-face-pipeline:namePrefix: [unclosed\n  aws:region: us-east-1\n")
    done = subprocess.run(
        [sys.executable, "-m", "local", "serve", "--stack", str(stack)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"local: {stack}, line 3, column ") and "not valid YAML" in done.stderr


def test_local_refuses_a_misspelt_namespace_by_name(tmp_path):
    stack = tmp_path / "Pulumi.typo.yaml"
    stack.write_text("config:\n  video-face-pipline:namePrefix: mine\n  aws:regoin: us-east-1\n")
    done = subprocess.run(
        [sys.executable, "-m", "local", "serve", "--stack", str(stack)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "video-face-pipline:namePrefix" in done.stderr and "aws:regoin" in done.stderr
