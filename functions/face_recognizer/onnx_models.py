"""The function's models at run time: MTCNN and InceptionResnetV1 as ONNX graphs, no torch.

tools/export_models.py writes the four graphs from the same weights the course code loads
(facenet-pytorch's bundled MTCNN weights and `InceptionResnetV1(pretrained='vggface2')`, batch norm
folded into the convolutions and the unused 8631-way classifier left out); the image build runs it,
and the local stack runs it on the weights it is given. Here ONNX Runtime runs them and detection.py
does MTCNN's steps in between, so a cold start imports NumPy, Pillow and ONNX Runtime instead of
torch and torchvision (measured in bench/, bench/README.md). tests/functions/test_accuracy.py holds this
path to stock facenet-pytorch's boxes and embeddings.

Precision: each network's graph is float32 or int8 (static QDQ quantisation), as the manifest says;
the export decides which (tools/export_models.py: the embedding network's int8 graph only after it
passed its agreement gate, MTCNN's networks always float32) and records
the agreement figures, which the function logs at start.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from face_recognizer import detection
from face_recognizer.config import PRECISIONS
from face_recognizer.facedb import EMBEDDING_SIZE
from face_recognizer.faces import FAST_MIN_FACE, IMAGE_SIZE, Analyses, Face, ModelError, crop_face, rgb

MANIFEST = "manifest.json"
GRAPHS = {"pnet": "pnet.onnx", "rnet": "rnet.onnx", "onet": "onet.onnx", "embedder": "inception_resnet_v1.onnx"}
# manifest["format"]: bumped when the graphs' inputs or outputs, or the manifest's layout, change.
# 2: "graphs" (each network's file) and "precision" (fp32 or int8 each), "agreement" figures.
FORMAT = 2
# The int8 check (tools/quantize.write_int8_check): a graph beside int8 graphs whose answer says
# whether this CPU's int8 kernels sum exactly (VNNI), as where the int8 graphs were checked.
INT8_CHECK_GRAPH = "int8_check.onnx"
INT8_CHECK_TERMS = 64
INT8_CHECK_EXACT = 255 * 127 * INT8_CHECK_TERMS


class OnnxFaceModels(Analyses):
    """Finds, chooses, crops and embeds faces with the exported graphs."""

    def __init__(self, sessions: dict, manifest: dict, model_dir: Path, int8_sums_exact: bool | None = None):
        self._sessions = sessions
        self.manifest = manifest
        self.model_dir = model_dir
        self.untrained = bool(manifest.get("untrained"))
        self.checkpoint = manifest.get("source", str(model_dir))
        self.min_face_size = float(manifest.get("min_face_size", FAST_MIN_FACE))
        self.precision: dict[str, str] = dict(manifest["precision"])  # network -> fp32 | int8
        self.agreement: dict = dict(manifest.get("agreement") or {})  # int8 network -> its figures
        # None without int8 graphs; else whether this CPU sums int8 products exactly (see INT8_CHECK_GRAPH)
        self.int8_sums_exact = int8_sums_exact

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        threads: int | None = None,
        *,
        precision: str | None = None,
        warm_up: bool = False,
    ) -> OnnxFaceModels:
        """Open the graphs in `model_dir` (tools/export_models.py's output).

        threads: intra-op threads per graph (None: ONNX Runtime's default, one per core).
        precision: the embedding network's precision the caller was deployed for (MODEL_PRECISION);
        a folder exported for the other one is refused. None: whatever the folder holds.
        warm_up: run each graph once so the first request does not pay for kernel set-up.
        """
        model_dir = Path(model_dir)
        manifest_path = model_dir / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(
                f"no exported models at {model_dir} ({MANIFEST} is missing): "
                "tools/export_models.py writes them from the vggface2 weights"
            ) from None
        except (OSError, ValueError) as exc:
            raise ModelError(f"{manifest_path}: unreadable ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ModelError(
                f"{manifest_path}: format {manifest.get('format') if isinstance(manifest, dict) else '?'}"
                f", this code reads format {FORMAT}; export the models again"
            )
        graphs, precisions = _graphs(manifest, manifest_path)
        if precision is not None and precisions["embedder"] != precision:
            raise ModelError(
                f"MODEL_PRECISION={precision}, but the embedding network in {model_dir} is "
                f"{precisions['embedder']} ({MANIFEST}); export the models with that precision "
                "(the image build does it from the recognizerPrecision setting)"
            )

        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        # No spin-waiting between runs: detection alternates short graph runs with NumPy work on the
        # same cores, and spinning pool threads starved it (measured: 2-thread detection slower than 1).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: its warnings are about graph rewrites, not our data
        sessions = {}
        for name, file in graphs.items():
            path = model_dir / file
            if not path.is_file():
                raise ModelError(f"exported model {path} is missing; export the models again")
            try:
                sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # ONNX Runtime raises its own types for a truncated or foreign file
                raise ModelError(
                    f"exported model {path} could not be loaded: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                ) from None
        exact = None
        if "int8" in precisions.values():
            check = model_dir / INT8_CHECK_GRAPH
            if not check.is_file():
                raise ModelError(f"{check} is missing beside the int8 graphs; export the models again")
            exact = int8_sums_exact(check)
        models = cls(sessions, manifest, model_dir, exact)
        if warm_up:
            models.warm_up()
        return models

    # -- the three MTCNN networks, for detection.detect ----------------------------------------

    def pnet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reg, prob = self._sessions["pnet"].run(None, {"image": x})
        return reg, prob

    def rnet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reg, prob = self._sessions["rnet"].run(None, {"image": x})
        return reg, prob

    def onet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        reg, points, prob = self._sessions["onet"].run(None, {"image": x})
        return reg, points, prob

    # -- the pipeline ----------------------------------------------------------------------------

    def warm_up(self) -> None:
        self._embed_crop(np.zeros((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32))
        blank = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        detection.detect(blank, self, self.min_face_size)
        # R-Net and O-Net only run when P-Net proposes something: give each one batch.
        self.rnet(np.zeros((1, 3, 24, 24), dtype=np.float32))
        self.onet(np.zeros((1, 3, 48, 48), dtype=np.float32))

    def find_face(self, image: Image.Image) -> Face | None:
        """Detect once, choose the largest face, crop it from the frame at full resolution."""
        image = rgb(image)
        found = detection.detect(frame_rows(image), self, self.min_face_size)
        if found is None:
            return None
        x1, y1, x2, y2 = (float(v) for v in found.boxes[0])
        box = (x1, y1, x2, y2)
        return Face(box=box, probability=float(found.probs[0]), faces=len(found), crop=crop_face(image, box))

    def detect_faces(self, image: Image.Image) -> list[tuple[tuple[float, float, float, float], float]]:
        """analysis: timeline: EVERY face of the frame as (box, probability), largest first; the
        caller crops and embeds them one at a time (face_recognizer.timeline)."""
        found = detection.detect(frame_rows(rgb(image)), self, self.min_face_size)
        if found is None:
            return []
        return [
            ((float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(p))
            for b, p in zip(found.boxes, found.probs, strict=True)
        ]

    def _embed_crop(self, crop: np.ndarray) -> np.ndarray:
        [embedding] = self._sessions["embedder"].run(None, {"face": crop[None]})
        return embedding

    def embed_face(self, face: Face) -> np.ndarray:
        """The (1, 512) embedding of a chosen face."""
        embedding = self._embed_crop(face.crop)
        if embedding.shape != (1, EMBEDDING_SIZE):
            raise ModelError(
                f"{self.model_dir}: the embedding graph gave {embedding.shape}, expected (1, {EMBEDDING_SIZE})"
            )
        return embedding


def _graphs(manifest: dict, path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Each network's file and precision from a manifest, checked."""
    graphs, precision = manifest.get("graphs"), manifest.get("precision")
    if (
        not isinstance(graphs, dict)
        or not isinstance(precision, dict)
        or set(graphs) != set(GRAPHS)
        or set(precision) != set(GRAPHS)
        or not all(isinstance(f, str) and f and "/" not in f and "\\" not in f for f in graphs.values())
        or not all(p in PRECISIONS for p in precision.values())
    ):
        raise ModelError(
            f"{path}: its graphs or precisions are not those of {', '.join(GRAPHS)}; export the models again"
        )
    return graphs, precision


def int8_sums_exact(check_graph: Path) -> bool:
    """Run the int8 check graph (INT8_CHECK_GRAPH): True when this CPU's int8 kernels sum exactly."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(check_graph), options, providers=["CPUExecutionProvider"])
    a = np.full((1, INT8_CHECK_TERMS), 255, dtype=np.uint8)
    b = np.full((INT8_CHECK_TERMS, 1), 127, dtype=np.int8)
    [y] = session.run(None, {"a": a, "b": b})
    return int(y[0, 0]) == INT8_CHECK_EXACT


def frame_rows(image: Image.Image) -> detection.IntegralImage:
    """Detection's view of an RGB frame, read from the image a band of rows at a time, so a large
    frame is never copied whole beside the decoded image (detection.IntegralImage)."""
    width, height = image.size

    def rows(a: int, b: int) -> np.ndarray:
        if a == 0 and b == height:
            return np.asarray(image)
        return np.asarray(image.crop((0, a, width, b)))

    return detection.IntegralImage.from_rows(rows, height, width)
