"""Fixtures every test can use: AWS on a moto server, sample videos, stand-in model weights.

Nothing here reaches the network: S3 (and Lambda's Invoke API where a test needs it) are served
by moto on loopback, videos come from scikit-image's pictures through the real ffmpeg, and the
vggface2 checkpoint is a seeded untrained file that the real loading code reads.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from tools.demo import samples
from tools.modelbuild import weights

REGION = "us-east-1"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker's share of the cores for PyTorch's (OpenMP) threads, in it and
    in the processes it starts (an export, the benchmark), instead of every worker's pool spanning
    every core: the accuracy and export tests took 108 s with two threads beside a busy core, 81 s
    with one. OMP_NUM_THREADS given by the caller is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))  # set in each worker by pytest-xdist
    if workers > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session", autouse=True)
def _fake_aws_credentials():
    """Credentials for moto only, so no test can ever sign a request to real AWS."""
    saved = {
        k: os.environ.get(k)
        for k in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
        )
    }
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(k, None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on a free loopback port, shared by the session; yields its URL. Its conditional
    writes are atomic, as S3's are and the local stack's moto server's are (local/moto_process.py)."""
    from moto.server import ThreadedMotoServer

    from local.moto_process import atomic_conditional_writes

    atomic_conditional_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """Point boto3 at the moto server through the ordinary endpoint setting and reset its state."""
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def s3(aws):
    return boto3.client("s3", region_name=REGION, endpoint_url=aws)


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder every test process of this run shares (pytest-xdist's workers each have their own
    base temp folder; its parent is the run's), so one of them builds what all of them read."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / name


@contextmanager
def built_once(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """Hold the run-wide lock on the shared folder `name` while the caller builds in it (or finds it built)."""
    folder = shared_dir(tmp_path_factory, name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{folder}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield folder


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory) -> Path:
    """A TORCH_HOME holding the stand-in vggface2 checkpoint, one for the whole run."""
    with built_once(tmp_path_factory, "torch_home") as home:
        weights.write_untrained_checkpoint(home)
    return home


@pytest.fixture(scope="session")
def model_dir(torch_home) -> Path:
    """The function's ONNX graphs, exported from the stand-in weights as the image build does."""
    from tools.modelbuild.export_models import ensure_exported

    return ensure_exported(torch_home)  # which lets one process at a time export


@pytest.fixture(scope="session")
def people_database_file(model_dir, tmp_path_factory) -> Path:
    """The two sample people, enrolled from their own pictures with the run's (stand-in) models, in
    the course's format: one file for the whole run, so an int8 export gated on it is one variant
    (the image's export stage makes it, tests/infra/test_image_contents.py; the int8 tests read it)."""
    from face_recognizer.onnx_models import OnnxFaceModels
    from face_recognizer.recognizer import decode_frame
    from tools.enroll import save_database

    with built_once(tmp_path_factory, "people-db") as folder:
        path = folder / "db.pt"
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            models = OnnxFaceModels.load(model_dir)
            embeddings, names = [], []
            for sample, person in samples.PEOPLE.items():
                picture = samples.write_image(sample, folder / f"{sample}.png").read_bytes()
                embeddings.append(models.embed(decode_frame(picture, sample)))
                names.append(person)
            save_database(path, embeddings, names)  # atomically, as tools.enroll writes one
    return path


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, Path]:
    """One short video per sample image: astronaut, camera, chelsea (cat), coffee, pair."""
    folder = tmp_path_factory.mktemp("videos")
    return {
        name: samples.make_video(name, folder / f"{name}.mp4")
        for name in ("astronaut", "camera", "chelsea", "coffee", "pair")
    }


@pytest.fixture(scope="session")
def video_8k(tmp_path_factory) -> Path:
    """The astronaut as a one-frame H.264 video at the largest frame the pipeline accepts (8K UHD)."""
    from pipeline_common import limits

    size = (limits.MAX_FRAME_WIDTH_8K, limits.MAX_FRAME_HEIGHT_8K)
    assert size[0] * size[1] == limits.MAX_FRAME_PIXELS
    return samples.make_video(
        "astronaut", tmp_path_factory.mktemp("video-8k") / "astronaut-8k.mp4", seconds=0.1, fps=10, size=size
    )


def run_python(*args: str, cwd: Path, env: dict[str, str], flags: tuple[str, ...] = ()) -> dict:
    """Run `python [flags] -c CODE ARGS...` (args[0] is the code) in a fresh interpreter, as a Lambda
    runtime would start one, and return the JSON object its last line of output holds."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, *flags, "-c", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- how pytest-xdist spreads the run (`make test`: --dist loadgroup --no-loadscope-reorder) ----------
# A group runs whole on one worker, and groups are handed out in collection order. Every test is in
# its file's group (a file's module-scoped stack starts once) unless it names its own with
# @pytest.mark.xdist_group; the groups below, the run's longest, are handed out first, so that no
# long one starts last and runs alone while the other workers idle.
LONGEST_FIRST = (
    "int8-export",  # the image's int8 export stage, then the int8 tests that read what it made
    "tests/tools/test_export_models.py",
    "tests/tools/test_bench.py",
    "tests/local/test_library.py",
    "tests/functions/test_accuracy.py",
)


def xdist_group(item: pytest.Item) -> str:
    mark = item.get_closest_marker("xdist_group")
    return str(mark.args[0] if mark.args else mark.kwargs["name"]) if mark else item.nodeid.split("::")[0]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's hook names each test's group in its id
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # (a worker's own config says dist "no" and loadgroup True: xdist/remote.py)
    if not (getattr(config.option, "loadgroup", False) or getattr(config.option, "dist", "no") == "loadgroup"):
        return  # one process, or another distribution: files in their order
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(xdist_group(item)))
    rank = {group: index for index, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(xdist_group(item), len(rank)))  # stable: the rest keep their order
