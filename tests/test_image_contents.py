"""The recognizer image, checked without a Docker engine.

- docker/recognizer.Dockerfile puts things where components/settings.py says they are;
- its installs take every version from the requirements files (no second source of versions);
- /.dockerignore sends the builder what the Dockerfile copies and nothing bulky;
- the files it copies are ALL the handler needs: they are laid out as in the image and the real
  handler runs one recognition in an isolated interpreter (`python -I -S`) that sees only those
  files, the installed distributions of the pinned requirements (with their own dependencies) and
  what the Lambda base image already ships (boto3), against S3 on the moto server.
"""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import torch
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from components import settings
from face_recognition import models as fr_models
from pipeline_common.events import s3_event
from tools import samples, weights

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "recognizer.Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
REQUIREMENTS = ROOT / "requirements" / "recognizer.txt"
NODEPS = ROOT / "requirements" / "nodeps.txt"
# What public.ecr.aws/lambda/python:3.11 already has installed for the handler to import.
LAMBDA_BASE_PACKAGES = ("boto3",)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


# -- reading the Dockerfile ----------------------------------------------------------------------

def instructions() -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    parsed = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        parsed.append((keyword.upper(), rest.strip()))
    return parsed


def of(keyword: str) -> list[str]:
    return [rest for kw, rest in instructions() if kw == keyword]


def args() -> dict[str, str]:
    found = {}
    for rest in of("ARG"):
        name, _, default = rest.partition("=")
        found[name] = default
    return found


def envs() -> dict[str, str]:
    found = {}
    for rest in of("ENV"):
        for item in shlex.split(rest):
            key, _, value = item.partition("=")
            found[key] = value
    return found


def copies() -> list[tuple[list[str], str]]:
    result = []
    for rest in of("COPY"):
        parts = [p for p in shlex.split(rest) if not p.startswith("--")]
        result.append((parts[:-1], parts[-1]))
    return result


def pip_installs() -> list[list[str]]:
    commands = []
    for rest in of("RUN"):
        for segment in rest.split("&&"):
            tokens = shlex.split(segment)
            if tokens[:2] == ["pip", "install"] or tokens[:4] == ["python", "-m", "pip", "install"]:
                commands.append(tokens[tokens.index("install") + 1:])
    return commands


# -- the Dockerfile against settings and requirements --------------------------------------------

def test_base_image_is_lambda_python_311_pinned_by_tag():
    [base] = of("FROM")
    image, _, tag = base.partition(":")
    assert image == "public.ecr.aws/lambda/python"
    assert tag.split("@")[0] == "3.11"


def test_paths_match_settings():
    assert envs()["TORCH_HOME"] == settings.IMAGE_TORCH_HOME
    destinations = {dest.rstrip("/"): srcs for srcs, dest in copies()}
    assert destinations[settings.IMAGE_FACE_DB] == ["${FACE_DB}"]
    assert args()["FACE_DB"] == "data/face_db.pt"  # the default of Pulumi.yaml's faceDatabase
    assert settings.schema()["faceDatabase"]["default"] == args()["FACE_DB"]
    assert destinations[f"{settings.IMAGE_TASK_ROOT}/face_recognition"] == ["functions/face_recognition/"]
    assert destinations[f"{settings.IMAGE_TASK_ROOT}/pipeline_common"] == ["functions/pipeline_common/"]
    assert json.loads(of("CMD")[0]) == ["face_recognition.handler.handler"]
    checkpoint = f"{settings.IMAGE_TORCH_HOME}/{fr_models.VGGFACE2_CHECKPOINT.as_posix()}"
    assert fr_models.VGGFACE2_CHECKPOINT.name == weights.VGGFACE2_FILE
    bake = [r for r in of("RUN") if "pretrained='vggface2'" in r]
    assert len(bake) == 1 and f"test -s {checkpoint}" in bake[0]
    assert fr_models.UNTRAINED_MARKER.name == weights.marker(Path(".")).name


def test_versions_come_only_from_the_requirements_files():
    installs = pip_installs()
    assert len(installs) == 2
    value_options = {"-r", "--requirement", "--index-url", "--extra-index-url"}
    for tokens in installs:
        expect_value = False
        for token in tokens:
            if expect_value:
                expect_value = False
                continue
            assert token.startswith("-"), f"{token!r}: packages are named only in requirements files"
            expect_value = token in value_options
    torch_install, facenet_install = installs
    assert torch_install[torch_install.index("--index-url") + 1] == CPU_INDEX
    assert torch_install[torch_install.index("-r") + 1].endswith("/recognizer.txt")
    assert "--no-deps" in facenet_install and facenet_install[facenet_install.index("-r") + 1].endswith("/nodeps.txt")
    copied = [srcs for srcs, dest in copies() if any(s.startswith("requirements/") for s in srcs)]
    assert copied == [["requirements/recognizer.txt", "requirements/nodeps.txt"]]
    assert "==" not in DOCKERFILE.read_text().replace("==>", "")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            [spec] = req.specifier
            assert spec.operator == "==", f"{path.name}: {line} is not pinned"
            found[canonicalize_name(req.name)] = spec.version
    return found


def test_installed_versions_are_the_pinned_ones():
    for name, version in {**pins(REQUIREMENTS), **pins(NODEPS)}.items():
        assert Version(md.version(name)).public == Version(version).public, name


# -- .dockerignore -------------------------------------------------------------------------------

def _pattern_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):  # any number of folders, none included
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(f"^{out}$")


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = str(PurePosixPath(line.lstrip("!").strip("/")))
        rules.append((negated, _pattern_regex(pattern)))
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negated, regex in rules:
        if any(regex.match(p) for p in prefixes):
            excluded = not negated
    return excluded


def test_dockerignore_sends_what_the_dockerfile_copies():
    wanted = ["requirements/recognizer.txt", "requirements/nodeps.txt", args()["FACE_DB"]]
    for srcs, _ in copies():
        for src in srcs:
            if src.startswith("functions/"):
                wanted += [p.relative_to(ROOT).as_posix() for p in (ROOT / src).rglob("*.py")]
    assert len(wanted) > 8
    for path in wanted:
        assert not dockerignore_excludes(path), f"{path} is copied by the Dockerfile but ignored"
    for path in [".venv/lib/python3.11/site-packages/torch/__init__.py", ".git/HEAD", "tests/conftest.py",
                 "data/clip.mp4", "data/torch/checkpoints/x.pt", "build/ffmpeg-layer.zip", "README.md",
                 "functions/video_splitting/handler.py", "functions/face_recognition/__pycache__/x.pyc",
                 "docker/recognizer.Dockerfile", "out/bench.json", "tools/enroll.py"]:
        assert dockerignore_excludes(path), f"{path} would be sent to the builder"


# -- the copied files are all the handler needs --------------------------------------------------

def closure(requirements: list[str]) -> set[str]:
    """Installed distributions the requirements need, their dependencies included (markers evaluated)."""
    seen: set[str] = set()
    todo = [(Requirement(r), set()) for r in requirements]
    while todo:
        req, _ = todo.pop()
        name = canonicalize_name(req.name)
        dist = md.distribution(name)  # raises if a needed distribution is not installed
        key = name + "[" + ",".join(sorted(req.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        for dep in dist.requires or []:
            dep_req = Requirement(dep)
            extras = [""] + sorted(req.extras)
            if dep_req.marker is None or any(dep_req.marker.evaluate({"extra": e}) for e in extras):
                todo.append((dep_req, set()))
    return {k.split("[")[0] for k in seen}


def restricted_site(target: Path) -> Path:
    """A site-packages folder holding only the image's distributions (symlinked from this venv's)."""
    needed = closure([f"{n}=={v}" for n, v in pins(REQUIREMENTS).items()] + list(LAMBDA_BASE_PACKAGES))
    needed |= set(pins(NODEPS))  # installed with --no-deps: the distribution alone
    target.mkdir()
    for name in sorted(needed):
        dist = md.distribution(name)
        for top in {PurePosixPath(str(f)).parts[0] for f in dist.files or []}:
            if top == ".." or (target / top).exists():
                continue
            source = Path(dist.locate_file(top))
            if source.exists():
                (target / top).symlink_to(source)
    return target


def image_task_root(target: Path) -> Path:
    """/var/task as the Dockerfile fills it with code (the database and weights come from the test)."""
    target.mkdir()
    for srcs, dest in copies():
        if dest.startswith(settings.IMAGE_TASK_ROOT + "/") and all(s.startswith("functions/") for s in srcs):
            for src in srcs:
                shutil.copytree(ROOT / src, target / PurePosixPath(dest).relative_to(settings.IMAGE_TASK_ROOT),
                                ignore=shutil.ignore_patterns("__pycache__"))
    return target


RUN_ONE = r"""
import json, os, sys, sysconfig
task, site = sys.argv[1], sys.argv[2]
sys.path.insert(0, task)
sys.path.append(site)
import face_recognition.handler as h
event = json.loads(sys.argv[3])
result = h.handler(event, None)
allowed = [task, site, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]]
# (torch.ops and torch.classes are namespace objects whose __file__ is a bare name, not a file)
files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
outside = sorted(f for f in files if isinstance(f, str) and os.path.isabs(f)
                 and not any(f.startswith(a) for a in allowed))
print(json.dumps({"result": result, "outside": outside}))
"""


def test_handler_runs_from_exactly_the_copied_files(tmp_path, torch_home, s3):
    task = image_task_root(tmp_path / "task")
    site = restricted_site(tmp_path / "site")
    assert not (site / "moto").exists() and not (site / "pytest").exists() and (site / "torch").exists()
    assert sorted(p.name for p in task.iterdir()) == ["face_recognition", "pipeline_common"]

    # A small database enrolled with the same code, and one frame to recognise.
    frame = tmp_path / "astronaut.jpg"
    samples.write_image("astronaut", frame)
    from PIL import Image

    models = fr_models.FaceModels.load(torch_home)
    db = tmp_path / "face_db.pt"
    torch.save([[models.embed(Image.open(frame))], ["Collins"]], db)
    s3.create_bucket(Bucket="img-stage-1")
    s3.create_bucket(Bucket="img-output")
    s3.put_object(Bucket="img-stage-1", Key="clips/astronaut.jpg", Body=frame.read_bytes())

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(OUTPUT_BUCKET="img-output", FACE_DB_PATH=str(db), TORCH_HOME=str(torch_home), LOG_LEVEL="INFO")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", RUN_ONE, str(task), str(site),
                           json.dumps(s3_event("img-stage-1", "clips/astronaut.jpg"))],
                          cwd=task, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["outside"] == [], "imported from outside the image's files"
    assert [r["name"] for r in report["result"]["results"]] == ["Collins"]
    body = s3.get_object(Bucket="img-output", Key="clips/astronaut.txt")["Body"].read()
    assert body == b"Collins"


def test_the_isolated_interpreter_really_is_isolated(tmp_path):
    """The check above would prove nothing if `-I -S` still saw this venv's site-packages."""
    site = restricted_site(tmp_path / "site")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", "import sys; sys.path.append(sys.argv[1]); import moto",
                           str(site)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "No module named 'moto'" in proc.stderr
