"""The recognizer image, checked without a Docker engine.

- docker/recognizer.Dockerfile ships what components/topology.py says it does, where it says, and its
  export stage hands the runtime stage the graphs tools/export_models.py writes; the `runtime` target
  (faceDatabase: live) holds no face database, the default `baked` target adds exactly the database;
- its installs take every version from the requirements files (no second source of versions);
- /.dockerignore sends the builder what the Dockerfile copies and nothing bulky;
- the files the runtime stage copies are ALL the handler needs: they are laid out as in the image
  and the real handler runs one recognition in an isolated interpreter (`python -I -S`) that sees
  only those files, the exported graphs, the installed distributions of requirements/recognizer.txt
  (with their own dependencies) and what the Lambda base image already ships (boto3), against S3 on
  the moto server, with the database baked in or live in a faces bucket; torch is not among them,
  and is not imported.
"""

from __future__ import annotations

import contextlib
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

from components import build_context, settings, topology
from components import recognizer as recognizer_component
from components.project import PROJECT_DIR
from face_recognizer.onnx_models import OnnxFaceModels
from tests.conftest import run_python
from tests.infra.conftest import closure, restricted_site
from tests.s3_events import s3_event
from tools.demo import samples
from tools.modelbuild import export_models, weights

DOCKERFILE = PROJECT_DIR / "docker" / "recognizer.Dockerfile"
REQUIREMENTS = PROJECT_DIR / "requirements" / "recognizer.txt"
EXPORT_REQUIREMENTS = PROJECT_DIR / "requirements" / "export.txt"
NODEPS = PROJECT_DIR / "requirements" / "nodeps.txt"
# What public.ecr.aws/lambda/python:3.11 already has installed for the handler to import.
LAMBDA_BASE_PACKAGES = ("boto3",)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


# -- reading the Dockerfile ----------------------------------------------------------------------


def instructions(stage: str | None = None) -> list[tuple[str, str]]:
    """(KEYWORD, rest) of every instruction, or of one stage's (`FROM ... AS stage` up to the next FROM)."""
    found, current = [], None
    for keyword, rest in _instructions():
        if keyword == "FROM":
            current = rest.split(" AS ")[-1] if " AS " in rest else None
        if stage is None or current == stage:
            found.append((keyword, rest))
    return found


def _instructions() -> list[tuple[str, str]]:
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


def of(keyword: str, stage: str | None = None) -> list[str]:
    return [rest for kw, rest in instructions(stage) if kw == keyword]


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


def copies(stage: str | None = None) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context (not from another stage)."""
    result = []
    for rest in of("COPY", stage):
        if "--from=" in rest:
            continue
        parts = [p for p in shlex.split(rest) if not p.startswith("--")]
        result.append((parts[:-1], parts[-1]))
    return result


def stage_copies() -> list[tuple[str, str, str]]:
    """(stage, source, destination) of each COPY --from=stage."""
    result = []
    for rest in of("COPY"):
        tokens = shlex.split(rest)
        stage = [t.split("=", 1)[1] for t in tokens if t.startswith("--from=")]
        if stage:
            src, dest = [t for t in tokens if not t.startswith("--")]
            result.append((stage[0], src, dest))
    return result


def pip_installs() -> list[list[str]]:
    commands = []
    for rest in of("RUN"):
        for segment in rest.split("&&"):
            tokens = shlex.split(segment)
            if tokens[:2] == ["pip", "install"] or tokens[:4] == ["python", "-m", "pip", "install"]:
                commands.append(tokens[tokens.index("install") + 1 :])
    return commands


# -- the Dockerfile against settings and requirements --------------------------------------------

# glibc of each Lambda Python base image: 3.11 runs on Amazon Linux 2, 3.12 and later on Amazon Linux 2023.
BASE_GLIBC = {"3.11": (2, 26), "3.12": (2, 34), "3.13": (2, 34)}
IMAGE_PYTHON = "3.12"


def test_both_base_stages_are_the_same_lambda_python_base_pinned_by_tag():
    stages = of("FROM")
    assert stages[0].endswith(" AS export") and stages[1].endswith(f" AS {recognizer_component.TARGET_LIVE}")
    assert stages[2:] == [f"{recognizer_component.TARGET_LIVE} AS {recognizer_component.TARGET_BAKED}"]
    for base in stages[:2]:
        image, _, tag = base.split()[0].partition(":")
        assert image == "public.ecr.aws/lambda/python"
        assert tag.split("@")[0] == IMAGE_PYTHON


def test_a_live_database_image_holds_no_database_and_the_default_adds_only_the_file():
    """faceDatabase: live builds the runtime target: no person is in any image, so removing one from
    the live database leaves nobody behind in ECR. The default (last) stage is the baked one."""
    live = recognizer_component.TARGET_LIVE
    assert not [dest for _, dest in copies(live) if dest.rstrip("/") == topology.IMAGE_FACE_DB]
    assert "FACE_DB" not in " ".join(rest for _, rest in instructions(live))
    assert copies(recognizer_component.TARGET_BAKED) == [(["${FACE_DB}"], topology.IMAGE_FACE_DB)]
    assert of("CMD", live) and not of("CMD", recognizer_component.TARGET_BAKED)  # the baked stage inherits it
    assert of("FROM")[-1].endswith(f" AS {recognizer_component.TARGET_BAKED}")  # what a plain `docker build` gives


def wheel_glibc(dist: md.Distribution):
    """The oldest glibc one of the installed wheel's tags runs on; None for a pure-Python wheel."""
    text = dist.read_text("WHEEL") or ""
    needed = []
    for tag in (line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")):
        platform = tag.split("-")[-1]
        if platform == "any":
            return None
        legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
        m = re.match(r"manylinux_(\d+)_(\d+)_", platform)
        version = (int(m.group(1)), int(m.group(2))) if m else legacy.get(platform.rsplit("_", 2)[0])
        if version:
            needed.append(version)
    return min(needed) if needed else None


def test_every_runtime_wheel_installs_on_the_base_images_glibc():
    """The pins install on the image's OS: the wheel this venv got for each runtime distribution
    (the same release's tags for every CPython) must run on the base image's glibc."""
    base = BASE_GLIBC[IMAGE_PYTHON]
    for name in sorted(closure(list(requirement_lines(REQUIREMENTS)))):
        glibc = wheel_glibc(md.distribution(name))
        assert glibc is None or glibc <= base, f"{name}: its wheel needs glibc {glibc}, the base has {base}"


def test_the_glibc_check_would_refuse_the_old_amazon_linux_2_base():
    # The check above is what would have caught a Python 3.11 (glibc 2.26) base with these pins.
    needs = [wheel_glibc(md.distribution(n)) for n in ("numpy", "pillow", "onnxruntime")]
    assert all(g is not None and g > BASE_GLIBC["3.11"] for g in needs)


def test_paths_and_handler_match_the_function_table():
    recognizer = topology.FUNCTIONS[topology.RECOGNIZER]
    assert recognizer.package == topology.IMAGE
    assert json.loads(of("CMD")[0]) == [recognizer.handler]  # the handler, written once: in the table
    destinations = {dest.rstrip("/"): srcs for srcs, dest in copies()}
    assert destinations[topology.IMAGE_FACE_DB] == ["${FACE_DB}"]
    assert args()["FACE_DB"] == "data/face_db.pt"  # the default of Pulumi.yaml's faceDatabase
    assert settings.schema()["faceDatabase"]["default"] == args()["FACE_DB"]
    for package in recognizer.packages:  # exactly what the table says the function ships
        assert destinations[f"{topology.IMAGE_TASK_ROOT}/{package}"] == [f"functions/{package}/"]
    task_root = {d for d in destinations if d.startswith(topology.IMAGE_TASK_ROOT + "/")}
    assert task_root == {f"{topology.IMAGE_TASK_ROOT}/{p}" for p in recognizer.packages} | {topology.IMAGE_FACE_DB}
    # The export stage fetches the weights where facenet-pytorch looks (TORCH_HOME), exports from
    # there, and the runtime stage takes exactly that output to where the function looks.
    home = envs()["TORCH_HOME"]
    checkpoint = weights.checkpoint_path(Path(home)).as_posix()
    bake = [r for r in of("RUN") if "pretrained='vggface2'" in r]
    assert len(bake) == 1 and f"test -s {checkpoint}" in bake[0] and f"  {checkpoint}" in bake[0]
    [export] = [shlex.split(r.split("&&")[-1]) for r in of("RUN") if "modelbuild.export_models" in r]
    assert export[:3] == ["python", "-m", "modelbuild.export_models"]
    assert export[export.index("--torch-home") + 1] == home
    # It makes the embedding graph of the precision the stack asks for (the component passes the
    # build argument; tests/infra/test_program.py), gated against the database the image will hold.
    assert export[export.index("--precision") + 1] == "$MODEL_PRECISION"
    assert args()["MODEL_PRECISION"] == settings.schema()["recognizerPrecision"]["default"] == "fp32"
    # The database the image will hold, when it holds one, mounted rather than copied (no layer has it).
    assert export[export.index("${FACE_DB:+--db") + 1] == "/context/$FACE_DB}"
    [run_export] = [r for r in of("RUN", "export") if "modelbuild.export_models" in r]
    assert run_export.startswith("--mount=type=bind,target=/context ")
    # int8 MTCNN was rejected: the export has no such option any more
    assert not any(token.startswith("--mtcnn") for token in export)
    [(stage, src, dest)] = stage_copies()
    assert stage == "export" and src.rstrip("/") == export[export.index("--out") + 1]
    assert dest.rstrip("/") == topology.IMAGE_MODEL_DIR
    # The export stage runs from /build, where the function's packages and the model build package
    # are top-level packages, as `python -m modelbuild.export_models` imports them: the package whole.
    build = {dest.rstrip("/"): srcs for srcs, dest in copies() if dest.startswith("/build/")}
    assert build["/build/face_recognizer"] == ["functions/face_recognizer/"]
    assert build["/build/pipeline_common"] == ["functions/pipeline_common/"]
    assert build["/build/modelbuild"] == ["tools/modelbuild/"]
    assert "/build/face_db.pt" not in build and "/build/tools" not in build


def test_versions_come_only_from_the_requirements_files():
    installs = pip_installs()
    assert len(installs) == 4
    value_options = {"-r", "--requirement", "--index-url", "--extra-index-url"}
    for tokens in installs:
        expect_value = False
        for token in tokens:
            if expect_value:
                expect_value = False
                continue
            assert token.startswith("-"), f"{token!r}: packages are named only in requirements files"
            expect_value = token in value_options
    export_install, torch_install, facenet_install, runtime_install = installs
    # From PyPI through the hash locks: everything but torch and torchvision (tests/infra/test_locks.py
    # holds what each lock contains).
    for install, lock in [
        (export_install, "/lock/export.txt"),
        (facenet_install, "/lock/nodeps.txt"),
        (runtime_install, "/recognizer.txt"),
    ]:
        assert "--require-hashes" in install and install[install.index("-r") + 1].endswith(lock), install
        assert "--index-url" not in install and "--extra-index-url" not in install  # plain PyPI
    assert "--no-deps" in facenet_install
    # torch and torchvision alone: the CPU build by export.txt's pins, nothing else from that index
    # (every other line of export.txt is already installed, from the lock, at the same version).
    assert torch_install[torch_install.index("--index-url") + 1] == CPU_INDEX
    assert torch_install[torch_install.index("-r") + 1] == "/build/requirements/export.txt"
    assert "--no-deps" in torch_install and "--extra-index-url" not in torch_install
    copied = [(srcs, dest) for srcs, dest in copies() if any(s.startswith("requirements/") for s in srcs)]
    assert copied == [
        (["requirements/recognizer.txt", "requirements/export.txt"], "/build/requirements/"),
        (["requirements/lock/export.txt", "requirements/lock/nodeps.txt"], "/build/requirements/lock/"),
        (["requirements/lock/recognizer.txt"], "/tmp/requirements/"),
    ]
    assert "==" not in DOCKERFILE.read_text().replace("==>", "")


def test_the_runtime_requirements_hold_no_torch():
    assert not {"torch", "torchvision", "facenet-pytorch"} & set(closure(list(requirement_lines(REQUIREMENTS))))


def pins(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            [spec] = req.specifier
            assert spec.operator == "==", f"{path.name}: {line} is not pinned"
            found[canonicalize_name(req.name)] = spec.version
    return found


def requirement_lines(path: Path):
    for name, version in pins(path).items():
        yield f"{name}=={version}"


def test_installed_versions_are_the_pinned_ones():
    for name, version in {**pins(REQUIREMENTS), **pins(EXPORT_REQUIREMENTS), **pins(NODEPS)}.items():
        assert Version(md.version(name)).public == Version(version).public, name


# -- .dockerignore -------------------------------------------------------------------------------


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule, as the Pulumi program applies it when it fingerprints the build context."""
    return not build_context.is_sent(path, PROJECT_DIR)


def test_dockerignore_sends_what_the_dockerfile_copies():
    wanted = [args()["FACE_DB"]]
    for srcs, _ in copies():
        for src in srcs:
            if src.endswith("/"):
                wanted += [p.relative_to(PROJECT_DIR).as_posix() for p in (PROJECT_DIR / src).rglob("*.py")]
            elif not src.startswith("$"):
                wanted.append(src)
    assert len(wanted) > 8
    for path in wanted:
        assert not dockerignore_excludes(path), f"{path} is copied by the Dockerfile but ignored"
    for path in [
        ".venv/lib/python3.11/site-packages/torch/__init__.py",
        ".git/HEAD",
        "tests/conftest.py",
        "data/clip.mp4",
        "data/torch/checkpoints/x.pt",
        "build/ffmpeg-layer.zip",
        "README.md",
        "functions/video_splitting/handler.py",
        "functions/face_recognizer/__pycache__/x.pyc",
        "docker/recognizer.Dockerfile",
        "out/bench.json",
        "tools/enroll.py",
        "tools/cli.py",
        "tools/demo/samples.py",
        "tools/modelbuild/__pycache__/x.pyc",
    ]:
        assert dockerignore_excludes(path), f"{path} would be sent to the builder"


# -- the copied files are all the handler needs --------------------------------------------------


def stage_context(stage: str, root: Path) -> Path:
    """The files one stage copies from the build context, laid out under `root` as the image has them
    (`root` stands for /): exactly its COPY lines, each source through .dockerignore as the builder
    receives it. Not the database (a `${FACE_DB}` source), which the tests supply themselves."""
    root.mkdir(exist_ok=True)
    for srcs, dest in copies(stage):
        for src in srcs:
            if src.startswith("$"):
                continue
            source = PROJECT_DIR / src
            files = sorted(f for f in source.rglob("*") if f.is_file()) if source.is_dir() else [source]
            for f in files:
                relative = f.relative_to(PROJECT_DIR).as_posix()
                if dockerignore_excludes(relative):
                    continue
                inside = f.relative_to(source).as_posix() if source.is_dir() else f.name
                target = root / PurePosixPath(dest).relative_to("/") / inside
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
    return root


def image_task_root(target: Path, stage: str | None = None) -> Path:
    """/var/task as the runtime stage fills it with code (the database and weights come from the test)."""
    root = stage_context(recognizer_component.TARGET_LIVE, target.with_name(target.name + "-root"))
    task = root / PurePosixPath(topology.IMAGE_TASK_ROOT).relative_to("/")
    task.rename(target)
    return target


# Run with `-S -s` (no site-packages, no user site), from the task root (the current folder is
# sys.path[0], as /var/task is on Lambda) and PYTHONPATH naming only the restricted site.
RUN_ONE = r"""
import json, os, sys, sysconfig
task, site = sys.argv[1], sys.argv[2]
assert sys.path[0] in ("", task) and site in sys.path, sys.path
import face_recognizer.handler as h
event = json.loads(sys.argv[3])
result = h.handler(event, None)
allowed = [task, site, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]]
files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
outside = sorted(f for f in files if isinstance(f, str) and os.path.isabs(f)
                 and not any(f.startswith(a) for a in allowed))
heavy = sorted(m for m in ("torch", "torchvision", "facenet_pytorch") if m in sys.modules)
print(json.dumps({"result": result, "outside": outside, "imported": heavy}))
"""


@pytest.mark.parametrize("live", [False, True], ids=["baked-database", "live-database"])
def test_handler_runs_from_exactly_the_copied_files(tmp_path, model_dir, s3, live):
    task = image_task_root(tmp_path / "task", recognizer_component.TARGET_LIVE if live else None)
    site = restricted_site(tmp_path / "site", list(requirement_lines(REQUIREMENTS)) + list(LAMBDA_BASE_PACKAGES))
    assert not (site / "moto").exists() and not (site / "pytest").exists() and not (site / "torch").exists()
    assert (site / "onnxruntime").exists()
    assert sorted(p.name for p in task.iterdir()) == ["face_recognizer", "pipeline_common"]
    models_in_image = task / PurePosixPath(topology.IMAGE_MODEL_DIR).relative_to(topology.IMAGE_TASK_ROOT)
    shutil.copytree(model_dir, models_in_image)

    # A small database enrolled with the same code, and one frame to recognise.
    frame = tmp_path / "astronaut.jpg"
    samples.write_image("astronaut", frame)
    from PIL import Image

    models = OnnxFaceModels.load(models_in_image)
    db = tmp_path / "face_db.pt"
    torch.save([[torch.from_numpy(models.embed(Image.open(frame)))], ["Collins"]], db)
    s3.create_bucket(Bucket="img-stage-1")
    s3.create_bucket(Bucket="img-output")
    s3.put_object(Bucket="img-stage-1", Key="clips/astronaut.jpg", Body=frame.read_bytes())

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(OUTPUT_BUCKET="img-output", MODEL_DIR=str(models_in_image), LOG_LEVEL="INFO", PYTHONPATH=str(site))
    if live:  # the database in a versioned faces bucket, read by the image's own code through boto3
        s3.create_bucket(Bucket="img-faces")
        s3.put_bucket_versioning(Bucket="img-faces", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="img-faces", Key=topology.FACES_OBJECT, Body=db.read_bytes())
        env.update(FACE_DB_BUCKET="img-faces", FACE_DB_KEY=topology.FACES_OBJECT, FACE_DB_RELOAD_SECONDS="10")
    else:
        env.update(FACE_DB_PATH=str(db))
    event = json.dumps(s3_event("img-stage-1", "clips/astronaut.jpg"))
    report = run_python(RUN_ONE, str(task), str(site), event, cwd=task, env=env, flags=("-S", "-s"))
    assert report["outside"] == [], "imported from outside the image's files"
    assert report["imported"] == []
    assert [r["name"] for r in report["result"]["results"]] == ["Collins"]
    body = s3.get_object(Bucket="img-output", Key="clips/astronaut.txt")["Body"].read()
    assert body == b"Collins"


def test_the_isolated_interpreter_really_is_isolated(tmp_path):
    """The check above would prove nothing if `-S -s` still saw this venv's site-packages."""
    site = restricted_site(tmp_path / "site", list(requirement_lines(REQUIREMENTS)) + list(LAMBDA_BASE_PACKAGES))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-S", "-s", "-c", "import moto"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "No module named 'moto'" in proc.stderr


# -- the export stage, started as Docker starts it ------------------------------------------------

# What the export stage's python imports from outside its copied files: the installs of its RUN lines.
EXPORT_SITE = [*requirement_lines(REQUIREMENTS), *requirement_lines(EXPORT_REQUIREMENTS)]


def export_command(build: Path, torch_home: Path, precision: str, database: Path | None) -> list[str]:
    """The export stage's RUN, as its shell would expand it with FACE_DB set to `database` (or
    unset), paths under `build`."""
    [run] = [r for r in of("RUN", "export") if "modelbuild.export_models" in r]
    given = f"--db {shlex.quote(str(database))}" if database else ""
    command = run.split("&&")[-1].replace('${FACE_DB:+--db "/context/$FACE_DB"}', given)
    command = command.replace("$MODEL_PRECISION", precision)
    tokens = shlex.split(command)
    assert tokens[:2] == ["python", "-m"], tokens
    home = envs()["TORCH_HOME"]
    return [
        str(torch_home) if token == home else (f"{build}/{token[7:]}" if token.startswith("/build/") else token)
        for token in tokens[1:]
    ]


@pytest.mark.parametrize(
    "precision",
    # Both run the export in a subprocess: slow (make test-fast leaves them out). int8, gated on the
    # sample people's database, is the run's one int8 export: the int8 tests of
    # tests/tools/test_export_models.py read what it made, in its group after it (tests/conftest.py).
    [
        pytest.param("fp32", marks=pytest.mark.slow),
        pytest.param("int8", marks=[pytest.mark.slow, pytest.mark.xdist_group("int8-export")]),
    ],
)
def test_the_export_stage_runs_its_command_from_exactly_its_own_files(
    tmp_path, torch_home, people_database_file, precision
):
    """`python -m modelbuild.export_models`, from the stage's WORKDIR (/build), in an interpreter
    that sees only the stage's copied files and the packages its RUN lines install: no editable
    install, no project root. This is what failed on main (tools.cli was neither copied nor sent)."""
    root = stage_context("export", tmp_path / "root")
    build = root / "build"
    assert sorted(p.name for p in build.iterdir()) == [
        "face_recognizer",
        "modelbuild",
        "pipeline_common",
        "requirements",
    ]
    assert not list(build.rglob("__pycache__"))
    site = restricted_site(tmp_path / "site", EXPORT_SITE, no_deps=list(requirement_lines(NODEPS)))
    assert (site / "torch").exists() and (site / "facenet_pytorch").exists() and not (site / "moto").exists()
    database = people_database_file if precision == "int8" else None
    command = export_command(build, torch_home, precision, database)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(site),
        "TORCH_HOME": str(torch_home),
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-S", "-s", *command], cwd=build, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((build / "models" / "manifest.json").read_text())
    assert manifest["precision"]["embedder"] == precision and manifest["untrained"] is True
    # and nothing it imported came from outside those files (the project's checkout, this venv)
    probe = subprocess.run(
        [
            sys.executable,
            "-S",
            "-s",
            "-c",
            "import sys, json, modelbuild.export_models, modelbuild.calibration, modelbuild.media, modelbuild.pictures;"
            "print(json.dumps(sorted({getattr(m, '__file__', None) or '' for m in list(sys.modules.values())})))",
        ],
        cwd=build,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    outside = [
        f
        for f in json.loads(probe.stdout)
        if f.startswith(str(PROJECT_DIR)) and not f.startswith(str(PROJECT_DIR / ".venv"))
    ]
    assert outside == [], "imported from the checkout rather than the stage's files"
    if precision == "int8":  # the image's int8 export is the one the int8 tests read
        cached = export_models.cache_folder(torch_home, precision="int8", database=database)
        with contextlib.suppress(OSError):  # already there: made by a test run before this one
            cached.parent.mkdir(parents=True, exist_ok=True)
            os.rename(build / "models", cached)


def test_the_isolated_export_interpreter_does_not_see_the_checkout(tmp_path):
    """The check above would prove nothing if the stage's interpreter still found the checkout's tools."""
    root = stage_context("export", tmp_path / "root")
    site = restricted_site(tmp_path / "site", EXPORT_SITE, no_deps=list(requirement_lines(NODEPS)))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(site)}
    for module in ("tools.cli", "tools.enroll", "video_splitting", "components"):
        proc = subprocess.run(
            [sys.executable, "-S", "-s", "-c", f"import {module}"],
            cwd=root / "build",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode != 0 and "No module named" in proc.stderr, module
