"""What the splitter ships: its zip (the packages topology.FUNCTIONS names) unpacked alone is enough
to import and run its handler; the archives are reproducible; the ffmpeg layer is built once."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from components import ffmpeg_layer, packaging
from components import settings as S
from components import topology as T
from components.project import FUNCTIONS_DIR, PROJECT_DIR
from components.settings import function_environment
from pipeline_common.keys import frame_key
from tests.infra.conftest import restricted_site
from tests.s3_events import s3_event
from tools.modelbuild.ffmpeg import ffmpeg_exe

REGION = "us-east-1"


@pytest.fixture(scope="module")
def splitter_zip(tmp_path_factory) -> Path:
    return packaging.function_zip(T.SPLITTER, tmp_path_factory.mktemp("splitter-zip"))


@pytest.fixture(scope="module")
def unpacked(splitter_zip, tmp_path_factory) -> Path:
    """The zip alone, as Lambda lays it out in /var/task: nothing from the project tree."""
    folder = tmp_path_factory.mktemp("var-task")
    with zipfile.ZipFile(splitter_zip) as zf:
        zf.extractall(folder)
    return folder


def source_files() -> list[str]:
    out = []
    for package in T.FUNCTIONS[T.SPLITTER].packages:
        for path in (FUNCTIONS_DIR / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                out.append(path.relative_to(FUNCTIONS_DIR).as_posix())
    return sorted(out)


def test_zip_holds_both_packages_at_its_root_and_nothing_else(splitter_zip):
    with zipfile.ZipFile(splitter_zip) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert names == source_files()
    assert "video_splitting/handler.py" in names and "pipeline_common/events.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644 and info.create_system == 3


def test_zip_is_reproducible(splitter_zip, tmp_path):
    time.sleep(1.1)  # a build that leaked a timestamp would differ now
    again = packaging.function_zip(T.SPLITTER, tmp_path)
    assert again.read_bytes() == splitter_zip.read_bytes()


@pytest.fixture(scope="module")
def lambda_runtime_site(tmp_path_factory) -> Path:
    """What Lambda's Python runtime offers a zip function besides the zip: boto3 and its dependencies."""
    return restricted_site(tmp_path_factory.mktemp("lambda-runtime") / "site", ["boto3"])


def _run_from_zip(unpacked: Path, site: Path, env: dict, event: dict | None = None) -> subprocess.CompletedProcess:
    """Import (and optionally invoke) the handler in an interpreter that sees only the unpacked zip
    (its working folder, first on sys.path, as /var/task is on Lambda) and the runtime's boto3:
    `-S -s` load no site-packages, so an import the zip cannot satisfy fails here as on Lambda."""
    code = (
        "import json, sys\n"
        "root = sys.argv[1]\n"
        "import video_splitting.handler as h\n"
        "ours = ('video_splitting', 'pipeline_common')\n"
        "shipped = [m for name, m in sys.modules.items() if name.split('.')[0] in ours]\n"
        "outside = [m.__file__ for m in shipped if not m.__file__.startswith(root)]\n"
        "assert shipped and not outside, outside\n"
        "event = json.loads(sys.argv[2])\n"
        "print(json.dumps(h.handler(event, None) if event else 'imported', default=str))\n"
    )
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "PYTHONPATH": str(site),
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "HOME": str(unpacked),
    }
    return subprocess.run(
        [sys.executable, "-S", "-s", "-c", code, str(unpacked), json.dumps(event or {})],
        cwd=unpacked,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("architecture", T.ARCHITECTURES)
def test_handler_imports_from_the_zip_alone_with_the_deployed_environment(unpacked, lambda_runtime_site, architecture):
    settings = S.load(lambda k: {"namePrefix": "vfp-zip", "architecture": architecture}.get(k), check_files=False)
    env = function_environment(T.SPLITTER, settings, T.Locations(ffmpeg=ffmpeg_exe()))
    result = _run_from_zip(unpacked, lambda_runtime_site, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '"imported"'


def test_handler_from_the_zip_splits_a_real_video(unpacked, lambda_runtime_site, aws, s3, videos):
    """The unpacked zip does the job end to end: real ffmpeg, S3 API on the moto server."""
    settings = S.load(lambda k: {"namePrefix": "vfp-zip"}.get(k), check_files=False)
    s3.create_bucket(Bucket=settings.input_bucket)
    s3.create_bucket(Bucket=settings.stage1_bucket)
    key = "uploads/clip one.mp4"
    s3.put_object(Bucket=settings.input_bucket, Key=key, Body=videos["astronaut"].read_bytes())
    env = {**function_environment(T.SPLITTER, settings, T.Locations(ffmpeg=ffmpeg_exe())), "AWS_ENDPOINT_URL": aws}
    result = _run_from_zip(unpacked, lambda_runtime_site, env, s3_event(settings.input_bucket, key))
    assert result.returncode == 0, result.stderr
    frame = s3.get_object(Bucket=settings.stage1_bucket, Key=frame_key(key))["Body"].read()
    assert frame[:3] == b"\xff\xd8\xff"  # a JPEG


def test_an_oversized_archive_is_refused_and_leaves_nothing(tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(4096))
    out = tmp_path / "out"
    with pytest.raises(packaging.PackagingError, match="over Lambda's"):
        packaging.write_zip(out / "x.zip", [packaging.Entry("big.bin", source)], limit=1024)
    assert list(out.iterdir()) == []


def test_archive_paths_are_relative_to_the_project_when_inside_it(tmp_path):
    assert packaging.archive_path(PROJECT_DIR / "build" / "x.zip") == "build/x.zip"
    assert packaging.archive_path(tmp_path / "x.zip") == str(tmp_path / "x.zip")


def test_build_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(packaging.BUILD_DIR_VARIABLE, raising=False)
    assert packaging.build_dir() == PROJECT_DIR / "build"
    monkeypatch.setenv(packaging.BUILD_DIR_VARIABLE, str(tmp_path))
    assert packaging.build_dir() == tmp_path


def test_ffmpeg_layer_is_built_once_per_process(tmp_path_factory):
    out = tmp_path_factory.getbasetemp() / "vfp-build"  # shared with the program tests' build
    first = ffmpeg_layer.build(out)
    with zipfile.ZipFile(first) as zf:
        info = zf.getinfo("bin/ffmpeg")
    assert stat.S_IMODE(info.external_attr >> 16) == 0o755
    assert first.stat().st_size < packaging.LAMBDA_ZIP_LIMIT
    started = time.perf_counter()
    assert ffmpeg_layer.build(out) == first
    assert time.perf_counter() - started < 0.5  # cached, not rebuilt


def test_a_zip_without_its_handler_is_refused(tmp_path):
    with pytest.raises(packaging.PackagingError, match="the handler video_splitting.nowhere.handler has nowhere"):
        packaging.build_function_zip("x.zip", ("video_splitting",), "video_splitting.nowhere.handler", tmp_path)
    with pytest.raises(packaging.PackagingError, match="recognizer ships as Image, not as a zip"):
        packaging.function_zip(T.RECOGNIZER, tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_layer_build_failure_is_a_packaging_error_the_program_reports():
    """__main__.py turns a PackagingError into a clean `pulumi preview` error."""
    assert issubclass(ffmpeg_layer.LayerBuildError, packaging.PackagingError)
