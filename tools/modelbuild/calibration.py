"""The int8 embedding gate's faces: real faces that ship with scikit-image, a PyPI package, so the
image build has them without any other download (and without the course's data).

- the 100 faces of scikit-image's `lfw_subset` (25x25 grey crops from Labeled Faces in the Wild,
  100 different photographs), each resized to the recognizer's 240x240 crop as `crop_face` resizes
  a face (bilinear), grey in all three channels;
- the astronaut (Eileen Collins) and the cameraman, found, chosen and cropped by the recognizer's
  own detection, and named (pictures.PEOPLE), so a database that holds them gets its
  nearest-entry check;
- each of these mirrored left to right: 204 faces in all.

Every other face calibrates the int8 graph; the gate checks all of them (tools/modelbuild/export_models.py).
A deployer's own pictures of the database's people can be added with `--people DIR`
(`people_faces`): the image build has none, so there the nearest-entry check covers only the two
named faces above, and only when the database names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_recognizer.faces import IMAGE_SIZE, FaceFinder

DESCRIPTION = (
    "scikit-image's lfw_subset (100 faces from Labeled Faces in the Wild, 25x25 grey, resized to 240x240) "
    "and its astronaut (Collins) and camera (Cameraman) faces cropped by the recognizer's detection; "
    "each also mirrored: 204 faces, every other one calibrating"
)
LFW_FACES = 100  # lfw_subset holds 100 faces, then 100 non-faces


@dataclass(frozen=True)
class GateFace:
    label: str
    person: str | None  # who it is, when known: the nearest-entry check applies to these
    crop: np.ndarray  # (3, 240, 240) float32, standardised as the function's crops


def _standardise(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> (3, H, W) float32, as faces.crop_face standardises a crop."""
    chw = pixels.astype(np.float32).transpose(2, 0, 1)
    return np.ascontiguousarray((chw - np.float32(127.5)) / np.float32(128.0))


def lfw_faces() -> list[GateFace]:
    from PIL import Image
    from skimage import data

    found = []
    for index, face in enumerate(data.lfw_subset()[:LFW_FACES]):
        grey = Image.fromarray(np.round(face * 255).astype(np.uint8)).convert("RGB")
        crop = grey.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
        found.append(GateFace(f"lfw_subset[{index}]", None, _standardise(np.asarray(crop))))
    return found


def named_faces(models: FaceFinder) -> list[GateFace]:
    """The sample people's faces as the recognizer would crop them."""
    from PIL import Image

    from .pictures import PEOPLE, image

    found = []
    for name, person in PEOPLE.items():
        face = models.find_face(Image.fromarray(image(name)))
        if face is None:
            raise RuntimeError(f"the recognizer's detection finds no face in scikit-image's {name}")
        found.append(GateFace(name, person, np.asarray(face.crop, dtype=np.float32)))
    return found


def mirrored(faces: list[GateFace]) -> list[GateFace]:
    return [GateFace(f"{f.label} mirrored", f.person, np.ascontiguousarray(f.crop[:, :, ::-1])) for f in faces]


def gate_faces(models: FaceFinder) -> list[GateFace]:
    """The shippable set, in a fixed order (see the module's doc)."""
    faces = lfw_faces() + named_faces(models)
    return faces + mirrored(faces)


def calibrating(faces: list[GateFace]) -> list[GateFace]:
    return faces[::2]


def people_faces(models: FaceFinder, folder: Path) -> list[GateFace]:
    """Pictures of the database's people, one sub-folder per person (as tools.enroll reads them; media.py)."""
    from .media import from_folders, pictures

    found = []
    for sample in from_folders(folder):
        for index, picture in enumerate(pictures(sample.path)):
            face = models.find_face(picture)
            if face is not None:
                label = f"{sample.path}" + (f" frame {index + 1}" if index else "")
                found.append(GateFace(label, sample.name, np.asarray(face.crop, dtype=np.float32)))
    return found
