"""Fixtures the recognizer's tests share: the run's exported models, loaded once a module (the two
sample people's database is the run's: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from face_recognizer.onnx_models import OnnxFaceModels


@pytest.fixture(scope="module")
def models(model_dir: Path) -> OnnxFaceModels:
    return OnnxFaceModels.load(model_dir)
