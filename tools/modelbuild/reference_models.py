"""The reference runtime: MTCNN and InceptionResnetV1 in PyTorch, as facenet-pytorch runs them.

The function itself runs the ONNX export of these networks (onnx_models.py, no torch at run time);
this module is what that export is made from (tools/modelbuild/export_models.py) and checked against, and
the PyTorch paths (this one's fast default and the course's exact one) that tests and the
benchmark compare the function with.
Recognition semantics (which face, which crop, which settings) are in faces.py.

What the default (fast) load changes, and why the answer does not move (tests/functions/test_accuracy.py):
- min_face_size ≈ 39.8 px instead of 20 (faces.py: it skips the two costliest pyramid scales).
  A plain downscaled copy was measured and rejected: its boxes drift (IoU down to 0.83 on the
  course frames) and on the Diesel frame it picks the other face.
- Detection runs once (detect → select → extract), where the course ran MTCNN twice per frame.
- The embedding network runs with batch norm folded into the preceding convolutions, in
  channels-last layout, under torch.inference_mode(), and without its unused 8631-way classifier.
  This is the same arithmetic reordered (cosine similarity to the stock network ≥ 0.9999).
The course's exact path: `FaceModels.load(..., fast=False)`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from face_recognizer.faces import COURSE_MIN_FACE, FAST_MIN_FACE, IMAGE_SIZE, MARGIN, Analyses, Face, ModelError, rgb

from . import weights

if TYPE_CHECKING:
    from facenet_pytorch import MTCNN, InceptionResnetV1


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


class FaceModels(Analyses):
    """MTCNN + InceptionResnetV1(pretrained='vggface2'), ready to find and embed faces."""

    def __init__(
        self, mtcnn: MTCNN, resnet: InceptionResnetV1, *, fast: bool, untrained: bool, checkpoint: Path
    ) -> None:
        self.mtcnn = mtcnn
        self.resnet = resnet
        self.fast = fast
        self.untrained = untrained
        self.checkpoint = checkpoint

    @classmethod
    def load(
        cls,
        torch_home: str | Path | None = None,
        threads: int | None = None,
        *,
        fast: bool = True,
        warm_up: bool = False,
    ) -> FaceModels:
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
        checkpoint = weights.checkpoint_path(home)
        if not checkpoint.is_file():
            raise ModelError(
                f"vggface2 weights not found at {checkpoint} (TORCH_HOME={home}); the image "
                "bakes them in at build time, tests write a stand-in with tools/modelbuild/weights.py"
            )

        from facenet_pytorch import MTCNN, InceptionResnetV1

        try:
            with _torch_home(home):
                resnet = InceptionResnetV1(pretrained="vggface2")
        except Exception as exc:  # a truncated or foreign file: say which one
            raise ModelError(
                f"vggface2 weights at {checkpoint} could not be loaded: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from exc
        resnet.eval()
        if fast:
            # classify=False never reaches the 8631-way classifier the checkpoint carries.
            del resnet.logits
            resnet = _fold_batchnorm(resnet).to(memory_format=torch.channels_last)
        resnet.requires_grad_(False)

        mtcnn = MTCNN(image_size=IMAGE_SIZE, margin=MARGIN, min_face_size=FAST_MIN_FACE if fast else COURSE_MIN_FACE)
        mtcnn.eval()
        mtcnn.requires_grad_(False)
        models = cls(mtcnn, resnet, fast=fast, untrained=weights.is_untrained(home), checkpoint=checkpoint)
        if warm_up:
            models.warm_up()
        return models

    def warm_up(self) -> None:
        with torch.inference_mode():
            self._embed_crop(torch.zeros(3, IMAGE_SIZE, IMAGE_SIZE))
            self.mtcnn.detect(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE)))

    # -- the pipeline ------------------------------------------------------------------------

    def find_face(self, image: Image.Image) -> Face | None:
        """Detect once, choose the largest face, crop it from the frame at full resolution."""
        image = rgb(image)
        mtcnn = self.mtcnn
        with torch.inference_mode():
            boxes, probs, points = mtcnn.detect(image, landmarks=True)
            if boxes is None:
                return None
            faces = len(boxes)
            # The same selection MTCNN.forward makes (largest box), then its own extraction code.
            chosen, prob, _ = mtcnn.select_boxes(boxes, probs, points, image, method=mtcnn.selection_method)
            crop = mtcnn.extract(image, chosen, None)
        x1, y1, x2, y2 = (float(v) for v in np.asarray(chosen[0], dtype=np.float64))
        box = (x1, y1, x2, y2)
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
