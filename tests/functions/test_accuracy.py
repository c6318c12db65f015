"""The fast paths must not move the answer.

Reference: stock facenet-pytorch exactly as the course used it — MTCNN(image_size=240, margin=0,
min_face_size=20) called on the frame, InceptionResnetV1(pretrained='vggface2').eval() on
`face.unsqueeze(0)`. Fast paths: what the function runs, OnnxFaceModels (the exported graphs on
ONNX Runtime, MTCNN's steps in NumPy over an integral image, fewer pyramid scales, one detection,
folded batch norm), and the PyTorch FaceModels.load() it is exported from. All read the same
weights. On the sample faces and, when ../shared/data/cse546 is present, on the course's frames,
each must choose a box with IoU >= 0.9 against the reference's and give an embedding with cosine
similarity >= 0.99.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.stats import iou
from components.project import PROJECT_DIR
from face_recognizer.onnx_models import OnnxFaceModels
from tools.demo import samples
from tools.modelbuild.ffmpeg import run_ffmpeg
from tools.modelbuild.reference_models import FaceModels

# Whole stacks, subprocesses, model loads or an 80 MB layer: `make test-fast` leaves these out.
pytestmark = pytest.mark.slow

COURSE = PROJECT_DIR / ".." / "shared" / "data" / "cse546" / "test_case_2"
COURSE_CLIPS = [f"test_{i:02d}.mp4" for i in range(8)]  # the 8 distinct clips; the other 92 reuse them
MIN_IOU, MIN_COSINE = 0.9, 0.99


class CourseReference:
    """The course's recognition code path, built from stock facenet-pytorch objects."""

    def __init__(self, torch_home: Path):
        from facenet_pytorch import MTCNN, InceptionResnetV1

        saved = os.environ.get("TORCH_HOME")
        os.environ["TORCH_HOME"] = str(torch_home)
        try:
            self.mtcnn = MTCNN(image_size=240, margin=0, min_face_size=20)
            self.resnet = InceptionResnetV1(pretrained="vggface2").eval()
        finally:
            if saved is None:
                os.environ.pop("TORCH_HOME")
            else:
                os.environ["TORCH_HOME"] = saved
        self._answers: dict[str, tuple] = {}

    def answer(self, name: str, image: Image.Image) -> tuple:
        """(box, embedding) for the named image, computed once: three fast paths are held to it."""
        if name not in self._answers:
            self._answers[name] = (self.box(image), self.embedding(image))
        return self._answers[name]

    def box(self, image):
        boxes, probs, points = self.mtcnn.detect(image, landmarks=True)
        if boxes is None:
            return None
        chosen, _, _ = self.mtcnn.select_boxes(boxes, probs, points, image, method=self.mtcnn.selection_method)
        return np.asarray(chosen[0], dtype=np.float64)

    def embedding(self, image):
        face = self.mtcnn(image)
        if face is None:
            return None
        with torch.no_grad():
            return self.resnet(face.unsqueeze(0))


def course_frames(folder: Path) -> dict[str, Image.Image]:
    frames = {}
    for clip in COURSE_CLIPS:
        jpg = folder / clip.replace(".mp4", ".jpg")
        run_ffmpeg("-i", str(COURSE / clip), "-frames:v", "1", str(jpg))
        frames[clip] = Image.open(jpg).convert("RGB")
    return frames


@pytest.fixture(scope="module")
def reference(torch_home):
    return CourseReference(torch_home)


@pytest.fixture(scope="module")
def fast(torch_home):
    return FaceModels.load(torch_home)


@pytest.fixture(scope="module")
def onnx(model_dir):
    return OnnxFaceModels.load(model_dir)


@pytest.fixture(scope="module")
def exact(torch_home):
    return FaceModels.load(torch_home, fast=False)


SAMPLE_FACES = ["astronaut", "camera", "pair"]


def images(tmp_path_factory) -> dict[str, Image.Image]:
    found = {name: Image.fromarray(samples.image(name)) for name in SAMPLE_FACES}
    if COURSE.is_dir():
        found.update(course_frames(tmp_path_factory.mktemp("course")))
    return found


@pytest.fixture(scope="module")
def test_images(tmp_path_factory):
    return images(tmp_path_factory)


def check(models: FaceModels, reference: CourseReference, name: str, image: Image.Image) -> tuple[float, float]:
    ref_box, ref_embedding = reference.answer(name, image)
    assert ref_box is not None and ref_embedding is not None, f"{name}: the reference finds no face"
    analysis = models.analyse(image)
    assert analysis.embedding is not None and analysis.box is not None, f"{name}: the fast path lost the face"
    overlap = iou(analysis.box, ref_box)
    cosine = torch.nn.functional.cosine_similarity(torch.as_tensor(analysis.embedding), ref_embedding).item()
    assert overlap >= MIN_IOU, f"{name}: box {analysis.box} vs reference {ref_box.tolist()}, IoU {overlap:.3f}"
    assert cosine >= MIN_COSINE, f"{name}: embedding cosine similarity {cosine:.5f}"
    return overlap, cosine


def test_fast_path_keeps_the_box_and_the_embedding(fast, reference, test_images):
    for name, image in test_images.items():
        check(fast, reference, name, image)


def test_function_runtime_keeps_the_box_and_the_embedding(onnx, reference, test_images):
    for name, image in test_images.items():
        overlap, cosine = check(onnx, reference, name, image)
        # Same weights, same pixels, same steps: in practice the very box (not just IoU >= 0.9).
        assert overlap > 0.999, name


def test_function_runtime_counts_the_faces_the_reference_finds(onnx, reference):
    pair = Image.fromarray(samples.image("pair"))
    boxes, _ = reference.mtcnn.detect(pair)
    assert onnx.analyse(pair).faces == len(boxes) == 2


def test_fast_paths_keep_every_sample_face_and_find_none_where_there_is_none(fast, onnx, reference):
    for name in ("chelsea", "coffee"):
        image = Image.fromarray(samples.image(name))
        assert reference.box(image) is None and fast.analyse(image).faces == 0 and onnx.analyse(image).faces == 0


def test_course_exact_path_is_the_reference(exact, reference, test_images):
    for name, image in test_images.items():
        overlap, cosine = check(exact, reference, name, image)
        assert overlap == 1.0 and cosine > 0.9999, name


def test_course_frames_are_covered_when_present(test_images):
    if not COURSE.is_dir():
        pytest.skip(f"{COURSE} not present: only the sample faces were checked")
    assert set(COURSE_CLIPS) <= set(test_images)
