"""The two networks, loaded once per process: MTCNN finds the face, InceptionResnetV1 embeds it.

Recognition semantics are the course's, so its database (made with the real vggface2 weights) stays
valid: `MTCNN(image_size=240, margin=0, min_face_size=20)` with facenet-pytorch's other defaults
(post_process=True, i.e. fixed_image_standardization; select_largest=True) and
`InceptionResnetV1(pretrained='vggface2').eval()` embedding `face.unsqueeze(0)`.

When a frame holds several faces the one with the LARGEST box is embedded (MTCNN's
select_largest, the course's behaviour: its Diesel clip shows two faces and expects "Diesel").

What the fast path changes, and why the answer does not move (tests/test_accuracy.py checks it):
- Detection skips MTCNN's two finest pyramid scales by asking for faces of at least
  20 / 0.709**2 ≈ 39.8 px instead of 20 px. The remaining scales are exactly the course's (same
  scale values, same full-resolution pixels), so every face of that size or larger gets the very
  box the course code would find; only faces smaller than ~40 px in the frame go undetected.
  Those two scales are the costly ones (the first resizes a 1280x720 frame to 768x432 for P-Net).
  A plain downscaled copy was measured and rejected: its boxes drift (IoU down to 0.83 on the
  course frames) and on the Diesel frame it picks the other face.
- Detection runs once (detect → select → extract), where the course ran MTCNN twice per frame.
- The embedding network runs with batch norm folded into the preceding convolutions, in
  channels-last layout, under torch.inference_mode(), and without its unused 8631-way classifier.
  This is the same arithmetic reordered (cosine similarity to the stock network ≥ 0.9999).
The course's exact path stays available: `FaceModels.load(..., fast=False)`.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np
import torch
from PIL import Image

IMAGE_SIZE = 240          # the course's crop size (the database was made from 240x240 crops)
MARGIN = 0
COURSE_MIN_FACE = 20      # px; the course's MTCNN(min_face_size=20)
PYRAMID_FACTOR = 0.709    # facenet-pytorch's default scale step
SKIPPED_SCALES = 2
FAST_MIN_FACE = COURSE_MIN_FACE / PYRAMID_FACTOR ** SKIPPED_SCALES  # ≈ 39.8 px, see the module doc

VGGFACE2_CHECKPOINT = Path("checkpoints") / "20180402-114759-vggface2.pt"
# tools/weights.py leaves this file next to a stand-in (untrained) checkpoint.
UNTRAINED_MARKER = Path("checkpoints") / "UNTRAINED"


class ModelError(RuntimeError):
    """The models cannot be loaded; the message names the file or setting at fault."""


@dataclass(frozen=True)
class Face:
    """The chosen face of a frame."""
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the frame's pixels
    probability: float
    faces: int                               # how many faces MTCNN found in the frame
    crop: torch.Tensor                       # (3, 240, 240), standardised as MTCNN(post_process=True)


@dataclass(frozen=True)
class Analysis:
    embedding: Optional[torch.Tensor]        # (1, 512); None when no face was found
    box: Optional[tuple[float, float, float, float]]
    probability: Optional[float]
    faces: int


def default_torch_home() -> Path:
    """Where facenet-pytorch looks for weights when TORCH_HOME is not given (its own rule)."""
    from facenet_pytorch.models.inception_resnet_v1 import get_torch_home

    return Path(get_torch_home())


@contextlib.contextmanager
def _torch_home(path: Path) -> Iterator[None]:
    # facenet-pytorch reads TORCH_HOME from the environment when it loads the weights.
    saved = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TORCH_HOME", None)
        else:
            os.environ["TORCH_HOME"] = saved


def _fold_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Fold each BasicConv2d's eval-mode batch norm into its convolution (same result, one op less)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(conv, bn)
            module.bn = torch.nn.Identity()
    return model


class FaceModels:
    """MTCNN + InceptionResnetV1(pretrained='vggface2'), ready to find and embed faces."""

    def __init__(self, mtcnn, resnet, *, fast: bool, untrained: bool, checkpoint: Path):
        self.mtcnn = mtcnn
        self.resnet = resnet
        self.fast = fast
        self.untrained = untrained
        self.checkpoint = checkpoint

    @classmethod
    def load(cls, torch_home: Union[str, Path, None] = None, threads: Optional[int] = None, *,
             fast: bool = True, warm_up: bool = False) -> "FaceModels":
        """Load both networks.

        torch_home: folder holding checkpoints/20180402-114759-vggface2.pt (None: facenet-pytorch's
        default). The weights must be there already: a function must not download at run time.
        threads: torch intra-op threads (None: leave torch's default).
        fast: the measured fast path (see the module doc); False is the course's exact path.
        warm_up: run each network once on a blank input so the first request does not pay for
        oneDNN's kernel set-up (on Lambda that cost then falls in the init phase).
        """
        if threads is not None:
            torch.set_num_threads(int(threads))
        home = Path(torch_home) if torch_home is not None else default_torch_home()
        checkpoint = home / VGGFACE2_CHECKPOINT
        if not checkpoint.is_file():
            raise ModelError(f"vggface2 weights not found at {checkpoint} (TORCH_HOME={home}); the image "
                             "bakes them in at build time, tests write a stand-in with tools/weights.py")

        from facenet_pytorch import MTCNN, InceptionResnetV1

        try:
            with _torch_home(home):
                resnet = InceptionResnetV1(pretrained="vggface2")
        except Exception as exc:  # a truncated or foreign file: say which one
            raise ModelError(f"vggface2 weights at {checkpoint} could not be loaded: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        resnet.eval()
        if fast:
            # classify=False never reaches the 8631-way classifier the checkpoint carries.
            del resnet.logits
            resnet = _fold_batchnorm(resnet).to(memory_format=torch.channels_last)
        resnet.requires_grad_(False)

        mtcnn = MTCNN(image_size=IMAGE_SIZE, margin=MARGIN,
                      min_face_size=FAST_MIN_FACE if fast else COURSE_MIN_FACE)
        mtcnn.eval()
        mtcnn.requires_grad_(False)
        models = cls(mtcnn, resnet, fast=fast, untrained=(home / UNTRAINED_MARKER).is_file(),
                     checkpoint=checkpoint)
        if warm_up:
            models.warm_up()
        return models

    def warm_up(self) -> None:
        with torch.inference_mode():
            self._embed_crop(torch.zeros(3, IMAGE_SIZE, IMAGE_SIZE))
            self.mtcnn.detect(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE)))

    # -- the pipeline ------------------------------------------------------------------------

    def find_face(self, image: Image.Image) -> Optional[Face]:
        """Detect once, choose the largest face, crop it from the frame at full resolution."""
        image = _rgb(image)
        mtcnn = self.mtcnn
        with torch.inference_mode():
            boxes, probs, points = mtcnn.detect(image, landmarks=True)
            if boxes is None:
                return None
            faces = len(boxes)
            # The same selection MTCNN.forward makes (largest box), then its own extraction code.
            chosen, prob, _ = mtcnn.select_boxes(boxes, probs, points, image, method=mtcnn.selection_method)
            crop = mtcnn.extract(image, chosen, None)
        box = tuple(float(v) for v in np.asarray(chosen[0], dtype=np.float64))
        return Face(box=box, probability=float(prob), faces=faces, crop=crop)

    def _embed_crop(self, crop: torch.Tensor) -> torch.Tensor:
        batch = crop.unsqueeze(0)
        if self.fast:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return self.resnet(batch)

    def embed_face(self, face: Face) -> torch.Tensor:
        """The (1, 512) embedding of a chosen face."""
        with torch.inference_mode():
            embedding = self._embed_crop(face.crop)
        return embedding.clone()  # an ordinary tensor: callers may save it or use it with autograd on

    def analyse(self, image: Image.Image) -> Analysis:
        face = self.find_face(image)
        if face is None:
            return Analysis(embedding=None, box=None, probability=None, faces=0)
        return Analysis(embedding=self.embed_face(face), box=face.box, probability=face.probability,
                        faces=face.faces)

    def embed(self, image: Image.Image) -> Optional[torch.Tensor]:
        """The (1, 512) embedding of the face recognition would choose in `image`; None when no face.

        The enrolment tool builds databases with this, so enrolled faces and recognised faces go
        through the same detection, choice, crop and network.
        """
        return self.analyse(image).embedding


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")
