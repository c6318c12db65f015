"""No function or layer on a deprecated Lambda runtime, and the function code checked against the
runtimes it runs on (ruff's per-file target version, mypy's python version in `make lint`).

The deprecation dates are components/runtimes.py's, from the AWS Lambda runtimes page.
"""

from __future__ import annotations

import datetime as dt
import tomllib

from components import topology
from components.project import PROJECT_DIR
from components.runtimes import image_python, supported
from tests.infra.conftest import T_FUNCTION, T_LAYER
from tests.infra.test_image_contents import IMAGE_PYTHON


def test_no_function_or_layer_is_on_a_deprecated_runtime(program):
    runtimes = [f.get("runtime") for f in program.of(T_FUNCTION) if f.get("packageType") != topology.IMAGE]
    runtimes += [r for layer in program.of(T_LAYER) for r in layer.get("compatibleRuntimes")]
    assert runtimes and all(isinstance(r, str) for r in runtimes)
    assert [r for r in runtimes if not supported(r)] == []
    dockerfile = (PROJECT_DIR / "docker" / "recognizer.Dockerfile").read_text()
    assert image_python(dockerfile) == f"python{IMAGE_PYTHON}" and supported(image_python(dockerfile))


def test_the_check_refuses_the_runtime_main_had():
    assert not supported("python3.11", dt.date(2026, 12, 6)) and supported("python3.13", dt.date(2026, 12, 6))


def test_the_function_code_is_checked_against_its_runtimes_python():
    zip_python = topology.ZIP_RUNTIME.removeprefix("python")
    ruff = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["ruff"]["per-file-target-version"]
    as_ruff = {"functions/video_splitting/**": zip_python, "functions/face_recognizer/**": IMAGE_PYTHON}
    for pattern, version in as_ruff.items():
        assert ruff[pattern] == "py" + version.replace(".", ""), pattern
    # pipeline_common runs in both: checked against the older
    assert ruff["functions/pipeline_common/**"] == "py" + min(zip_python, IMAGE_PYTHON).replace(".", "")
    lint = (PROJECT_DIR / "Makefile").read_text().split("\nlint:")[1].split("\n\n")[0]
    assert f"mypy --python-version {zip_python} functions/video_splitting functions/pipeline_common" in lint
    assert f"mypy --python-version {IMAGE_PYTHON} functions/face_recognizer functions/pipeline_common" in lint
