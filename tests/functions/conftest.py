"""Fixtures the recognizer's tests share: the run's exported models, and the two sample people
enrolled with them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from face_recognizer.onnx_models import OnnxFaceModels
from face_recognizer.recognizer import decode_frame
from tools.demo import samples


@pytest.fixture(scope="module")
def models(model_dir: Path) -> OnnxFaceModels:
    return OnnxFaceModels.load(model_dir)


@pytest.fixture(scope="module")
def people_database_file(models: OnnxFaceModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two sample people, enrolled from their own pictures with the same (stand-in) weights,
    in the course's format."""
    folder = tmp_path_factory.mktemp("people-db")
    embeddings, names = [], []
    for sample, person in samples.PEOPLE.items():
        picture = samples.write_image(sample, folder / f"{sample}.png").read_bytes()
        embeddings.append(torch.from_numpy(models.embed(decode_frame(picture, sample))))
        names.append(person)
    torch.save([embeddings, names], folder / "db.pt")
    return folder / "db.pt"
