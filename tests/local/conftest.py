"""Fixtures the local stack's tests share."""

from pathlib import Path

import pytest

from tools import enroll
from tools.demo import samples


@pytest.fixture(scope="session")
def face_db(tmp_path_factory, model_dir) -> Path:
    """Collins and the cameraman, enrolled from stills with the models exported from the stand-in
    weights (tools.enroll), once a run: tests read it and never write it."""
    folder = tmp_path_factory.mktemp("faces")
    for image, person in samples.PEOPLE.items():
        samples.write_image(image, folder / person / f"{image}.png")
    models = enroll.load_models(model_dir)
    embeddings, names, _ = enroll.enroll(enroll.from_folders(folder), models)
    return enroll.save_database(folder / "face_db.pt", embeddings, names)
