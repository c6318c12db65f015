"""Export the recognizer's networks to ONNX: what the function runs, made from the weights it names.

    python -m tools.export_models --torch-home DIR --out DIR     (the image build runs this)

Reads facenet-pytorch's bundled MTCNN weights and `InceptionResnetV1(pretrained='vggface2')` from
TORCH_HOME, through the same loading code as the reference path (tools/reference_models.py), and
writes four graphs plus manifest.json (format, source checkpoint and its SHA-256, whether it is the
untrained stand-in, versions). `ensure_exported` caches an export per checkpoint content under
TORCH_HOME/onnx/, so the local stack and tests re-export only when the weights change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

from face_recognition import onnx_models
from face_recognition.faces import FAST_MIN_FACE, IMAGE_SIZE
from tools import cli, weights

OPSET = 17


def sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def export(torch_home: Path, out: Path, *, source_sha256: str | None = None) -> Path:
    """Write the graphs and manifest for the weights in `torch_home` into `out` (made atomically).

    source_sha256: the checkpoint's digest when the caller has already computed it.
    """
    import torch

    from tools.reference_models import FaceModels

    torch_home = Path(torch_home)
    models = FaceModels.load(torch_home, fast=True)  # folded batch norm, no classifier: see tools/reference_models.py
    staging = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    graphs = {
        "pnet": (models.mtcnn.pnet, torch.zeros(1, 3, 60, 80), ["reg", "prob"], {"image": {2: "height", 3: "width"}}),
        "rnet": (models.mtcnn.rnet, torch.zeros(2, 3, 24, 24), ["reg", "prob"], {"image": {0: "boxes"}}),
        "onet": (models.mtcnn.onet, torch.zeros(2, 3, 48, 48), ["reg", "points", "prob"], {"image": {0: "boxes"}}),
        "embedder": (models.resnet, torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE), ["embedding"], None),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        for name, (net, example, outputs, dynamic) in graphs.items():
            inputs = ["face"] if name == "embedder" else ["image"]
            torch.onnx.export(
                net.eval(),
                (example,),
                str(staging / onnx_models.GRAPHS[name]),
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )
    checkpoint = weights.checkpoint_path(torch_home)
    manifest = {
        "format": onnx_models.FORMAT,
        "source": str(checkpoint),
        "source_sha256": source_sha256 or sha256(checkpoint),
        "untrained": weights.is_untrained(torch_home),
        "min_face_size": FAST_MIN_FACE,
        "opset": OPSET,
        "torch": torch.__version__.split("+")[0],
    }
    (staging / onnx_models.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    verify(models, staging)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staging, out)
    except OSError:  # another process finished the same export first: theirs is as good
        shutil.rmtree(staging, ignore_errors=True)
        if not (out / onnx_models.MANIFEST).is_file():
            raise
    return out


class ExportError(RuntimeError):
    """The exported graphs do not compute what the PyTorch networks compute."""


def verify(models, folder: Path) -> None:
    """Load the export with the function's own runtime and hold it to the PyTorch networks."""
    import numpy as np
    import torch

    from face_recognition.faces import Face

    runtime = onnx_models.OnnxFaceModels.load(folder)
    generator = torch.Generator().manual_seed(0)
    crop = torch.rand(3, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 2 - 1
    ours = runtime.embed_face(Face(box=(0, 0, 1, 1), probability=1.0, faces=1, crop=crop.numpy()))
    theirs = models.embed_face(Face(box=(0, 0, 1, 1), probability=1.0, faces=1, crop=crop)).numpy()
    cosine = float((ours * theirs).sum() / (np.linalg.norm(ours) * np.linalg.norm(theirs)))
    if not cosine > 0.9999:
        raise ExportError(f"{folder}: the exported embedding network disagrees with PyTorch (cosine {cosine:.6f})")
    level = torch.rand(1, 3, 57, 91, generator=generator) * 2 - 1
    with torch.inference_mode():
        expected = models.mtcnn.pnet(level)
    for name, got, want in zip(("reg", "prob"), runtime.pnet(level.numpy()), expected, strict=True):
        if got.shape != tuple(want.shape) or not np.allclose(got, want.numpy(), atol=1e-4):
            raise ExportError(f"{folder}: the exported P-Net's {name} disagrees with PyTorch")


def ensure_exported(torch_home: Path) -> Path:
    """The export of the weights now in `torch_home`, made once per checkpoint content."""
    torch_home = Path(torch_home)
    checkpoint = weights.checkpoint_path(torch_home)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"no vggface2 weights at {checkpoint}")
    digest = sha256(checkpoint)
    out = torch_home / "onnx" / digest[:16]
    manifest = out / onnx_models.MANIFEST
    if manifest.is_file():
        try:
            if json.loads(manifest.read_text(encoding="utf-8")).get("format") == onnx_models.FORMAT:
                return out
        except ValueError:
            pass
    return export(torch_home, out, source_sha256=digest)


def main(argv=None) -> int:
    parser = cli.parser("python -m tools.export_models", __doc__)
    parser.add_argument(
        "--torch-home",
        type=Path,
        default=os.environ.get("TORCH_HOME"),
        required="TORCH_HOME" not in os.environ,
        help="folder holding checkpoints/20180402-114759-vggface2.pt (default: $TORCH_HOME)",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write the graphs and manifest.json into")
    args = parser.parse_args(argv)
    if not weights.have_weights(args.torch_home):
        print(f"export_models: no vggface2 weights at {weights.checkpoint_path(args.torch_home)}", file=sys.stderr)
        return 2
    out = export(args.torch_home, args.out)
    print(f"exported {', '.join(onnx_models.GRAPHS.values())} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
