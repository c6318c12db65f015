"""What the splitter ships: its zip unpacked alone is enough to import and run the handler; the
archives are reproducible; the ffmpeg layer comes from docker/build_ffmpeg_layer.py."""
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

from components import packaging, settings as S
from pipeline_common.events import s3_event
from pipeline_common.keys import frame_key
from tools.ffmpeg import ffmpeg_exe

REGION = "us-east-1"


@pytest.fixture(scope="module")
def splitter_zip(tmp_path_factory) -> Path:
    return packaging.build_splitter_zip(tmp_path_factory.mktemp("splitter-zip"))


@pytest.fixture(scope="module")
def unpacked(splitter_zip, tmp_path_factory) -> Path:
    """The zip alone, as Lambda lays it out in /var/task: nothing from the project tree."""
    folder = tmp_path_factory.mktemp("var-task")
    with zipfile.ZipFile(splitter_zip) as zf:
        zf.extractall(folder)
    return folder


def source_files() -> list[str]:
    out = []
    for package in packaging.SPLITTER_PACKAGES:
        for path in (packaging.FUNCTIONS_DIR / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                out.append(path.relative_to(packaging.FUNCTIONS_DIR).as_posix())
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
    again = packaging.build_splitter_zip(tmp_path)
    assert again.read_bytes() == splitter_zip.read_bytes()


def _run_from_zip(unpacked: Path, env: dict, event: dict | None = None) -> subprocess.CompletedProcess:
    """Import (and optionally invoke) the handler in a clean interpreter that sees only the unpacked zip.

    `-I` drops PYTHONPATH and the user site; the project's folders are not on sys.path, so an import
    the zip cannot satisfy fails here as it would on Lambda.
    """
    code = (
        "import json, sys\n"
        "root = sys.argv[1]\n"
        "sys.path.insert(0, root)\n"
        "import video_splitting.handler as h, pipeline_common\n"
        "assert h.__file__.startswith(root) and pipeline_common.__file__.startswith(root), "
        "(h.__file__, pipeline_common.__file__)\n"
        "event = json.loads(sys.argv[2])\n"
        "print(json.dumps(h.handler(event, None) if event else 'imported', default=str))\n"
    )
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION, "HOME": str(unpacked)}
    return subprocess.run([sys.executable, "-I", "-c", code, str(unpacked), json.dumps(event or {})],
                          cwd=unpacked, env={**base, **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("architecture", S.ARCHITECTURES)
def test_handler_imports_from_the_zip_alone_with_the_deployed_environment(unpacked, architecture):
    settings = S.load(lambda k: {"namePrefix": "vfp-zip", "architecture": architecture}.get(k), check_files=False)
    env = S.splitter_environment(settings, ffmpeg_path=ffmpeg_exe())
    result = _run_from_zip(unpacked, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '"imported"'


def test_handler_from_the_zip_splits_a_real_video(unpacked, aws, s3, videos):
    """The unpacked zip does the job end to end: real ffmpeg, S3 API on the moto server."""
    settings = S.load(lambda k: {"namePrefix": "vfp-zip"}.get(k), check_files=False)
    s3.create_bucket(Bucket=settings.input_bucket)
    s3.create_bucket(Bucket=settings.stage1_bucket)
    key = "uploads/clip one.mp4"
    s3.put_object(Bucket=settings.input_bucket, Key=key, Body=videos["astronaut"].read_bytes())
    env = {**S.splitter_environment(settings, ffmpeg_path=ffmpeg_exe()), "AWS_ENDPOINT_URL": aws}
    result = _run_from_zip(unpacked, env, s3_event(settings.input_bucket, key))
    assert result.returncode == 0, result.stderr
    frame = s3.get_object(Bucket=settings.stage1_bucket, Key=frame_key(key))["Body"].read()
    assert frame[:3] == b"\xff\xd8\xff"  # a JPEG


def test_an_oversized_archive_is_refused_and_leaves_nothing(tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(4096))
    out = tmp_path / "out"
    with pytest.raises(packaging.PackagingError, match="over Lambda's"):
        packaging.write_zip(out / "x.zip", [("big.bin", source)], limit=1024)
    assert list(out.iterdir()) == []


def test_archive_paths_are_relative_to_the_project_when_inside_it(tmp_path):
    assert packaging.archive_path(S.PROJECT_DIR / "build" / "x.zip") == "build/x.zip"
    assert packaging.archive_path(tmp_path / "x.zip") == str(tmp_path / "x.zip")


def test_build_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(packaging.BUILD_DIR_VARIABLE, raising=False)
    assert packaging.build_dir() == S.PROJECT_DIR / "build"
    monkeypatch.setenv(packaging.BUILD_DIR_VARIABLE, str(tmp_path))
    assert packaging.build_dir() == tmp_path


def test_ffmpeg_layer_is_built_once_per_process_by_the_layer_builder(tmp_path_factory):
    out = tmp_path_factory.getbasetemp() / "vfp-build"  # shared with the program tests' build
    first = packaging.build_ffmpeg_layer(out)
    with zipfile.ZipFile(first) as zf:
        info = zf.getinfo("bin/ffmpeg")
    assert stat.S_IMODE(info.external_attr >> 16) == 0o755
    assert first.stat().st_size < packaging.LAMBDA_ZIP_LIMIT
    started = time.perf_counter()
    assert packaging.build_ffmpeg_layer(out) == first
    assert time.perf_counter() - started < 0.5  # cached, not rebuilt


def test_layer_builder_failures_become_packaging_errors(monkeypatch, tmp_path):
    """What the program turns into a clean `pulumi preview` error: a missing builder, or its refusal."""
    monkeypatch.setattr(packaging, "LAYER_BUILDER", tmp_path / "missing.py")
    with pytest.raises(packaging.PackagingError, match="missing.py does not exist"):
        packaging.layer_builder()
    refusing = tmp_path / "build_ffmpeg_layer.py"
    refusing.write_text("class LayerBuildError(RuntimeError):\n    pass\n\n"
                        "def build_layer(out_dir):\n    raise LayerBuildError('sha256 mismatch')\n")
    monkeypatch.setattr(packaging, "LAYER_BUILDER", refusing)
    with pytest.raises(packaging.PackagingError, match="ffmpeg layer: sha256 mismatch"):
        packaging.layer_builder()(tmp_path)
