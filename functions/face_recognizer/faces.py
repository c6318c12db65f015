"""What both model runtimes share: the course's detection settings, the chosen face, the crop.

The course's recognition semantics, so its database (made with the real vggface2 weights) stays
valid: `MTCNN(image_size=240, margin=0, min_face_size=20)` with facenet-pytorch's other defaults
(post_process=True, i.e. fixed_image_standardization; select_largest=True) and
`InceptionResnetV1(pretrained='vggface2').eval()` embedding the crop.

When a frame holds several faces the one with the LARGEST box is embedded (MTCNN's select_largest,
the course's behaviour: its Diesel clip shows two faces and expects "Diesel").

Faces smaller than FAST_MIN_FACE (≈ 40 px) are not searched for: that skips MTCNN's two finest
pyramid scales, the costly ones, while every scale that remains is exactly the course's (same scale
values, same full-resolution pixels), so every face of that size or larger gets the very box the
course code finds. `tools/reference_models.FaceModels.load(fast=False)` keeps the course's 20 px.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from face_recognizer.detection import FACTOR as PYRAMID_FACTOR  # facenet-pytorch's default scale step

IMAGE_SIZE = 240  # the course's crop size (the database was made from 240x240 crops)
MARGIN = 0
COURSE_MIN_FACE = 20  # px; the course's MTCNN(min_face_size=20)
SKIPPED_SCALES = 2
FAST_MIN_FACE = COURSE_MIN_FACE / PYRAMID_FACTOR**SKIPPED_SCALES  # ≈ 39.8 px, see above


class ModelError(RuntimeError):
    """The models cannot be loaded; the message names the file or setting at fault."""


@dataclass(frozen=True)
class Face:
    """The chosen face of a frame."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the frame's pixels
    probability: float
    faces: int  # how many faces MTCNN found in the frame
    crop: Any  # (3, 240, 240) standardised as MTCNN(post_process=True)


@dataclass(frozen=True)
class Analysis:
    embedding: Any | None  # (1, 512); None when no face was found
    box: tuple[float, float, float, float] | None
    probability: float | None
    faces: int


class FaceFinder(Protocol):
    """What recognition needs of a model runtime (onnx_models.OnnxFaceModels; tools/reference_models.FaceModels)."""

    untrained: bool

    def find_face(self, image: Image.Image) -> Face | None: ...

    def embed_face(self, face: Face) -> Any: ...


class Analyses(ABC):
    """`analyse` and `embed` for a runtime that has `find_face` and `embed_face`."""

    @abstractmethod
    def find_face(self, image: Image.Image) -> Face | None: ...

    @abstractmethod
    def embed_face(self, face: Face) -> Any: ...

    def analyse(self, image: Image.Image) -> Analysis:
        face = self.find_face(image)
        if face is None:
            return Analysis(embedding=None, box=None, probability=None, faces=0)
        return Analysis(embedding=self.embed_face(face), box=face.box, probability=face.probability, faces=face.faces)

    def embed(self, image: Image.Image) -> Any:
        """The (1, 512) embedding of the face recognition would choose in `image`; None when no face.

        The enrolment tool builds databases with this, so enrolled faces and recognised faces go
        through the same detection, choice, crop and network.
        """
        return self.analyse(image).embedding


def crop_face(image: Image.Image, box: Sequence[float]) -> np.ndarray:
    """The (3, 240, 240) float32 crop facenet-pytorch's MTCNN.extract makes of a PIL frame (margin 0):
    the box truncated to whole pixels inside the frame, resized bilinearly, then standardised."""
    width, height = image.size
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    bounds = (int(max(x1, 0)), int(max(y1, 0)), int(min(x2, width)), int(min(y2, height)))
    face = image.crop(bounds).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    pixels = np.asarray(face, dtype=np.float32).transpose(2, 0, 1)
    return np.ascontiguousarray((pixels - np.float32(127.5)) / np.float32(128.0))


def rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")
