"""No function or layer on a deprecated Lambda runtime, and the function code checked against the
runtimes it runs on (ruff's per-file target version, mypy's python version in `make lint`).

Dates from the AWS Lambda runtimes page (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html):
the day each Python runtime is deprecated (after which Lambda blocks creating functions on it,
following a grace period).
"""

from __future__ import annotations

import datetime as dt
import tomllib

from components import topology
from components.project import PROJECT_DIR
from tests.infra.conftest import T_FUNCTION, T_LAYER
from tests.infra.test_image_contents import IMAGE_PYTHON

DEPRECATED_ON = {
    "python3.9": dt.date(2025, 12, 15),
    "python3.10": dt.date(2026, 6, 30),
    "python3.11": dt.date(2026, 6, 30),
    "python3.12": dt.date(2028, 10, 31),
    "python3.13": dt.date(2029, 6, 30),
    "python3.14": dt.date(2029, 6, 30),
}
# A runtime must have at least this long left, so a stack deployed now is not blocked within the year.
MARGIN = dt.timedelta(days=365)


def supported(runtime: str, today: dt.date | None = None) -> bool:
    return DEPRECATED_ON[runtime] - (today or dt.date.today()) > MARGIN


def test_no_function_or_layer_is_on_a_deprecated_runtime(program):
    runtimes = [f.get("runtime") for f in program.of(T_FUNCTION) if f.get("packageType") != topology.IMAGE]
    runtimes += [r for layer in program.of(T_LAYER) for r in layer.get("compatibleRuntimes")]
    assert runtimes and all(isinstance(r, str) for r in runtimes)
    assert [r for r in runtimes if not supported(r)] == []
    assert supported(f"python{IMAGE_PYTHON}")  # the recognizer image's base (docker/recognizer.Dockerfile)


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
