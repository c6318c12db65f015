"""Export the recognizer's networks to ONNX: what the function runs, made from the weights it names.

    python -m tools.export_models --torch-home DIR --out DIR [--precision int8 --db FACE_DB]
    python -m modelbuild.export_models ...      (the image build runs this, from its copy of the package)

Nothing is written unless every graph computes what PyTorch does, and an int8 embedder only past its
agreement gate; the manifest, the gate and the cache: tools/README.md (export_models).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import fcntl
import hashlib
import json
import os
import shutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from face_recognizer import onnx_models
from face_recognizer.config import PRECISIONS
from face_recognizer.faces import FAST_MIN_FACE, IMAGE_SIZE

from . import weights

if TYPE_CHECKING:
    import torch

OPSET = 17
MTCNN = ("pnet", "rnet", "onet")
GATE_MIN_COSINE = 0.99
FACES_PER_RUN = 16  # the gate's and its calibration's batch


class ExportError(RuntimeError):
    """The exported graphs do not compute what the PyTorch networks compute."""


class GateError(ExportError):
    """The int8 embedding network does not agree with float32 well enough; nothing was written."""


def sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def int8_file(name: str) -> str:
    from .quantize import INT8_SUFFIX

    return onnx_models.GRAPHS[name].removesuffix(".onnx") + INT8_SUFFIX


# -- MTCNN's PReLU, as ONNX Runtime runs it fast ------------------------------------------------------


def _prelu_as_relu(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of an MTCNN network whose PReLUs compute relu(x) + a * min(x, 0).

    The same numbers to the bit (for x > 0: x + a*0 = x; for x <= 0: 0 + a*x), but ONNX Runtime
    1.32's PRelu kernel takes ~5 ns an element where Relu, Clip, Mul and Add together take ~0.7:
    each network ~30 % faster on a large input, detection 11 % (6 ms a course frame; bench/README.md).
    verify() holds the export to PyTorch.
    """
    import torch

    class ReluPlusNegativePart(torch.nn.Module):
        def __init__(self, prelu: torch.nn.PReLU):
            super().__init__()
            self.slope = torch.nn.Parameter(prelu.weight.detach().clone(), requires_grad=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            slope = self.slope.view(1, -1, *([1] * (x.dim() - 2)))
            return torch.relu(x) + slope * torch.clamp(x, max=0.0)

    net = copy.deepcopy(net)
    for name, module in list(net.named_modules()):
        if isinstance(module, torch.nn.PReLU):
            net.set_submodule(name, ReluPlusNegativePart(module))
    return net


# -- the export ---------------------------------------------------------------------------------------


def export(
    torch_home: Path,
    out: Path,
    *,
    precision: str = "fp32",
    database: Path | None = None,
    people: Path | None = None,
    source_sha256: str | None = None,
) -> Path:
    """Write the graphs and manifest for the weights in `torch_home` into `out` (made atomically).

    precision: the embedding network's, fp32 or int8 (int8 only through `gate_embedder`).
    database, people: for the gate's nearest-entry check (the face database; pictures of its people).
    source_sha256: the checkpoint's digest when the caller has already computed it.
    """
    import torch

    from .reference_models import FaceModels

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    torch_home = Path(torch_home)
    models = FaceModels.load(torch_home, fast=True)  # folded batch norm, no classifier: reference_models.py
    staging = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        graphs = {
            "pnet": (
                models.mtcnn.pnet,
                torch.zeros(1, 3, 60, 80),
                ["reg", "prob"],
                {"image": {2: "height", 3: "width"}},
            ),
            "rnet": (models.mtcnn.rnet, torch.zeros(2, 3, 24, 24), ["reg", "prob"], {"image": {0: "boxes"}}),
            "onet": (models.mtcnn.onet, torch.zeros(2, 3, 48, 48), ["reg", "points", "prob"], {"image": {0: "boxes"}}),
            # a batch axis: the function embeds one face a run, the gate and its calibration many
            "embedder": (
                models.resnet,
                torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE),
                ["embedding"],
                {"face": {0: "faces"}, "embedding": {0: "faces"}},
            ),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            for name, (net, example, outputs, dynamic) in graphs.items():
                inputs = ["face"] if name == "embedder" else ["image"]
                torch.onnx.export(
                    _prelu_as_relu(net) if name in MTCNN else net.eval(),
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
            "graphs": dict(onnx_models.GRAPHS),
            "precision": dict.fromkeys(onnx_models.GRAPHS, "fp32"),
            "agreement": {},
            "source": str(checkpoint),
            "source_sha256": source_sha256 or sha256(checkpoint),
            "untrained": weights.is_untrained(torch_home),
            "min_face_size": FAST_MIN_FACE,
            "opset": OPSET,
            "torch": torch.__version__.split("+")[0],
        }
        write_manifest(staging, manifest)
        verify(models, staging)
        if precision == "int8":
            _int8(staging, manifest, database, people)
            write_manifest(staging, manifest)
            onnx_models.OnnxFaceModels.load(staging)  # what the function will open, opened
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staging, out)
        except OSError:  # another process finished the same export first: theirs is as good
            if not (out / onnx_models.MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def write_manifest(folder: Path, manifest: dict) -> None:
    (folder / onnx_models.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _int8(staging: Path, manifest: dict, database: Path | None, people: Path | None) -> None:
    """Replace the embedding graph in `staging` by its int8 graph, recording what it agreed to."""
    import onnxruntime

    from . import quantize

    manifest["agreement"]["embedder"] = gate_embedder(staging, database=database, people=people)
    (staging / onnx_models.GRAPHS["embedder"]).unlink()  # the image ships only what runs
    manifest["graphs"]["embedder"] = int8_file("embedder")
    manifest["precision"]["embedder"] = "int8"
    quantize.write_int8_check(staging / onnx_models.INT8_CHECK_GRAPH)
    manifest["int8_built_on"] = {
        "onnxruntime": onnxruntime.__version__,
        "int8_sums_exact": onnx_models.int8_sums_exact(staging / onnx_models.INT8_CHECK_GRAPH),
    }


def gate_embedder(staging: Path, *, database: Path | None = None, people: Path | None = None) -> dict:
    """Quantise the embedding network in `staging` and hold it to float32 on the gate's faces.

    Writes the int8 graph beside the float32 one and returns the agreement figures; GateError
    (naming the faces that fail) when any face's cosine is under GATE_MIN_COSINE or any face of a
    person the database names changes its nearest entry.
    """
    from face_recognizer.facedb import FaceDatabase

    from . import calibration, quantize

    runtime = onnx_models.OnnxFaceModels.load(staging, 1)  # float32: detection crops the named faces
    shippable = calibration.gate_faces(runtime)
    faces = shippable + (calibration.people_faces(runtime, people) if people else [])
    db = FaceDatabase.load(database) if database is not None else None
    if db is not None:  # before the minutes of quantising and embedding
        unknown = sorted({str(f.person) for f in faces[len(shippable) :]} - set(db.names))
        if unknown:
            raise ExportError(f"--people: {', '.join(map(str, unknown))} not in the face database {database}")
    fp32 = staging / onnx_models.GRAPHS["embedder"]
    int8 = staging / int8_file("embedder")
    quantize.quantize(
        fp32,
        int8,
        feeds=({"face": batch} for batch in _batches(calibration.calibrating(shippable))),
        # The embedding's last layers (pooling, the 512-wide projection and the normalisation) stay
        # float: a few hundred thousand multiplications, where an int8 rounding would hit every face.
        exclude=quantize.nodes_after(fp32, "GlobalAveragePool"),
    )
    reference, candidate = _embeddings(fp32, faces), _embeddings(int8, faces)
    cosines = np.sum(reference * candidate, axis=1) / (
        np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    )
    low = [(float(c), f.label) for c, f in zip(cosines, faces, strict=True) if not c >= GATE_MIN_COSINE]
    figures: dict = {
        "gate": f"cosine >= {GATE_MIN_COSINE} on every face; nearest database entry unchanged for every face "
        "of a person the database names",
        "calibration_set": calibration.DESCRIPTION,
        "faces": len(faces),
        "faces_given_with_people": len(faces) - len(shippable),
        "calibrated_on": len(calibration.calibrating(shippable)),
        "min_cosine": round(float(cosines.min()), 6),
        "mean_cosine": round(float(cosines.mean()), 6),
        # With the untrained stand-in the figures test the gate's mechanism, not the int8 network's accuracy.
        "weights_untrained": runtime.untrained,
    }
    changed: list[str] = []
    if db is not None and database is not None:
        theirs = [i for i, f in enumerate(faces) if f.person in set(db.names)]
        for i in theirs:
            before = int(np.argmin(np.linalg.norm(db.embeddings - reference[i], axis=1)))
            after = int(np.argmin(np.linalg.norm(db.embeddings - candidate[i], axis=1)))
            if before != after:
                changed.append(
                    f"{faces[i].label} ({db.names[before]} entry {before} -> {db.names[after]} entry {after})"
                )
        figures.update(
            database=str(database),
            database_sha256=sha256(Path(database)),
            people_faces=len(theirs),
            people=sorted({str(faces[i].person) for i in theirs}),
            nearest_entry_unchanged=len(theirs) - len(changed),
        )
    else:
        figures.update(database=None, people_faces=0, nearest_entry_unchanged=0)
    if low or changed:
        low.sort()
        reasons = []
        if low:
            reasons.append(
                f"{len(low)} of {len(faces)} faces under cosine {GATE_MIN_COSINE} "
                f"(lowest {low[0][0]:.4f}: {', '.join(label for _, label in low[:3])})"
            )
        if changed:
            reasons.append(f"the nearest database entry changed for {len(changed)}: {'; '.join(changed[:3])}")
        raise GateError(f"the int8 embedding network is refused: {' and '.join(reasons)}; nothing was written")
    return figures


def _batches(faces: Sequence[Any], size: int = FACES_PER_RUN) -> Iterator[np.ndarray]:
    """The faces' crops stacked `size` at a time: the same figures as one at a time, for less CPU
    time (bench/README.md)."""
    for start in range(0, len(faces), size):
        yield np.stack([f.crop for f in faces[start : start + size]])


def _embeddings(graph: Path, faces: Sequence[Any]) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    fixed = isinstance(session.get_inputs()[0].shape[0], int)  # an export made before the batch axis
    return np.concatenate([session.run(None, {"face": b})[0] for b in _batches(faces, 1 if fixed else FACES_PER_RUN)])


def verify(models: Any, folder: Path) -> None:
    """Load the export with the function's own runtime and hold it to the PyTorch networks."""
    import torch

    from face_recognizer.faces import Face

    runtime = onnx_models.OnnxFaceModels.load(folder)
    generator = torch.Generator().manual_seed(0)
    crop = torch.rand(3, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 2 - 1
    ours = runtime.embed_face(Face(box=(0, 0, 1, 1), probability=1.0, faces=1, crop=crop.numpy()))
    theirs = models.embed_face(Face(box=(0, 0, 1, 1), probability=1.0, faces=1, crop=crop)).numpy()
    cosine = float((ours * theirs).sum() / (np.linalg.norm(ours) * np.linalg.norm(theirs)))
    if not cosine > 0.9999:
        raise ExportError(f"{folder}: the exported embedding network disagrees with PyTorch (cosine {cosine:.6f})")
    inputs = {
        "pnet": torch.rand(1, 3, 57, 91, generator=generator),
        "rnet": torch.rand(5, 3, 24, 24, generator=generator),
        "onet": torch.rand(3, 3, 48, 48, generator=generator),
    }
    for net, x in inputs.items():
        x = x * 2 - 1
        with torch.inference_mode():
            expected = getattr(models.mtcnn, net)(x)
        for got, want in zip(getattr(runtime, net)(x.numpy()), expected, strict=True):
            if got.shape != tuple(want.shape) or not np.allclose(got, want.numpy(), atol=1e-4):
                raise ExportError(f"{folder}: the exported {net} disagrees with PyTorch")


# -- the cache ----------------------------------------------------------------------------------------


def ensure_exported(
    torch_home: Path,
    *,
    precision: str = "fp32",
    database: Path | None = None,
) -> Path:
    """The export of the weights now in `torch_home`, made once per checkpoint content and variant."""
    out, digest = _cache_entry(torch_home, precision, database)
    name = out.name
    manifest = out / onnx_models.MANIFEST
    # One exporter at a time per variant: another process (a second local stack, a parallel test
    # worker) may be reading the graphs that a concurrent export would replace. A finished export
    # (its manifest lands last, with the folder, in one rename) is read without waiting: an int8
    # export's minutes never hold up a float32 lookup.
    if _finished(manifest):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _finished(manifest):
            return out
        return export(torch_home, out, precision=precision, database=database, source_sha256=digest)


def cache_folder(torch_home: Path, *, precision: str = "fp32", database: Path | None = None) -> Path:
    """Where ensure_exported keeps the export of the weights now in `torch_home` for this variant:
    named by the checkpoint's content (and, for an int8 export gated on a database, the database's)."""
    return _cache_entry(torch_home, precision, database)[0]


def _cache_entry(torch_home: Path, precision: str, database: Path | None) -> tuple[Path, str]:
    """cache_folder's answer and the checkpoint's digest it is named by."""
    checkpoint = weights.checkpoint_path(Path(torch_home))
    if not checkpoint.is_file():
        raise FileNotFoundError(f"no vggface2 weights at {checkpoint}")
    digest = _checkpoint_digest(checkpoint)
    variant: dict = {"precision": precision}
    if precision == "int8" and database is not None:
        variant["database"] = sha256(Path(database))
    name = digest[:16]
    if variant != {"precision": "fp32"}:
        name += "-" + hashlib.sha256(json.dumps(variant, sort_keys=True).encode()).hexdigest()[:8]
    return Path(torch_home) / "onnx" / name, digest


def _checkpoint_digest(checkpoint: Path) -> str:
    """The checkpoint's SHA-256, remembered beside it with its size and modification time: hashing
    112 MB was most of what a stack's start spent finding an export that was already made."""
    stat = checkpoint.stat()
    stamp = f"{stat.st_size} {stat.st_mtime_ns}"
    remembered = checkpoint.with_name(checkpoint.name + ".sha256")
    try:
        size_mtime, _, digest = remembered.read_text(encoding="ascii").strip().rpartition(" ")
        if size_mtime == stamp and len(digest) == 64:
            return digest
    except (OSError, ValueError):
        pass
    digest = sha256(checkpoint)
    with contextlib.suppress(OSError):  # a read-only folder: hashed again next time
        staged = remembered.with_name(f".{remembered.name}.{os.getpid()}")
        staged.write_text(f"{stamp} {digest}\n", encoding="ascii")
        os.replace(staged, remembered)
    return digest


def _finished(manifest: Path) -> bool:
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == onnx_models.FORMAT
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.export_models",
        description=(__doc__ or "").split("\n\n")[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--torch-home",
        type=Path,
        default=os.environ.get("TORCH_HOME"),
        required="TORCH_HOME" not in os.environ,
        help="folder holding checkpoints/20180402-114759-vggface2.pt (default: $TORCH_HOME)",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write the graphs and manifest.json into")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=PRECISIONS[0],
        help="the embedding network's precision (int8 only if it passes its agreement gate)",
    )
    parser.add_argument("--db", type=Path, help="the face database, for the gate's nearest-entry check")
    parser.add_argument(
        "--people", type=Path, help="pictures of the database's people (one sub-folder each), also gated"
    )
    args = parser.parse_args(argv)
    if not weights.have_weights(args.torch_home):
        print(f"export_models: no vggface2 weights at {weights.checkpoint_path(args.torch_home)}", file=sys.stderr)
        return 2
    if args.people and not args.db:
        parser.error("--people needs --db")
    try:
        out = export(args.torch_home, args.out, precision=args.precision, database=args.db, people=args.people)
    except GateError as error:
        print(f"export_models: {error}", file=sys.stderr)
        return 3
    manifest = json.loads((out / onnx_models.MANIFEST).read_text(encoding="utf-8"))
    print(f"exported {', '.join(manifest['graphs'].values())} to {out}")
    for name, figures in manifest["agreement"].items():
        print(f"  {name} int8 agreement: {json.dumps(figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
