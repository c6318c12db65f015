"""Decide, on real frames, which of MTCNN's networks may run in int8; write tools/mtcnn_int8.json.

    python -m tools.calibrate_mtcnn [--course ../shared/data/cse546/test_case_2] [--out tools/mtcnn_int8.json]

MTCNN's weights are the real ones everywhere (they ship in the facenet-pytorch wheel), so this
decision is made once, here, where real frames are: the course workload (when its folder is
present) and scikit-image's pictures. The frames themselves never enter the project: the record
holds only what was derived from them (each calibrated tensor's min and max, the figures).

1. Frames: every frame of each distinct course video (test_case_2 reuses 8 clips; duplicates are
   recognised by content), JPEG-encoded as the splitter encodes (mjpeg -q:v 2), and the test
   pictures astronaut, camera, pair (two faces), chelsea and coffee (none).
2. Calibration: float32 detection runs on every 8th frame of each clip and on the test pictures,
   and each network's inputs there give its tensors' ranges (tools/quantize.ranges: QDQ, uint8
   activations, int8 per-channel weights; the output layers and the element-wise ops of PReLU stay
   float).
3. Agreement, on every frame and test picture, each network in int8 alone and all three together,
   against float32: the chosen (largest) face's box must keep IoU >= 0.98, the same face must be
   chosen, and no face may be lost or gained at the default thresholds. A network is kept in int8
   only if it passes on every one. As a yardstick the record also holds float32 against itself on
   the same frames with +-1 of noise on each pixel value.

The export (tools/export_models.py) builds the kept networks' int8 graphs from these ranges, the same
graphs byte for byte, so the image build needs no frames. Running this again reproduces the record.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from components.project import DEFAULT_TORCH_HOME, PROJECT_DIR
from face_recognizer import detection
from face_recognizer.onnx_models import GRAPHS, OnnxFaceModels, frame_rows
from tools import cli
from tools.export_models import MTCNN, MTCNN_RECORD

COURSE = PROJECT_DIR.parent / "shared" / "data" / "cse546" / "test_case_2"
TEST_PICTURES = ("astronaut", "camera", "pair", "chelsea", "coffee")
CALIBRATE_EVERY = 8  # every 8th frame of each clip calibrates; every frame is checked
MIN_IOU = 0.98
SAME_FACE_IOU = 0.5  # two boxes this alike are taken for the same face
# Left in float: the layers that give the outputs, and PReLU's element-wise parts (export_models
# writes PReLU as relu(x) + a*min(x, 0)); measured: quantising those too only lost agreement.
FLOAT_OPS = ("Relu", "Clip", "Mul", "Add")


@dataclass
class Frame:
    label: str
    load: Callable  # () -> PIL RGB image (frames are decoded when used: 500 at 1080p would not fit)
    calibrates: bool


def distinct_videos(folder: Path) -> list[Path]:
    seen: dict[str, Path] = {}
    for video in sorted(folder.glob("*.mp4")):
        seen.setdefault(hashlib.sha256(video.read_bytes()).hexdigest(), video)
    return list(seen.values())


def video_frames(video: Path, tmp: Path) -> list[Path]:
    """Every frame of `video` as the splitter encodes its JPEG."""
    from tools.ffmpeg import ffmpeg_exe
    from video_splitting.ffmpeg import JPEG_QSCALE

    out = tmp / video.stem
    out.mkdir()
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(video), "-fps_mode", "passthrough"]
        + ["-c:v", "mjpeg", "-q:v", str(JPEG_QSCALE), "-huffman", "default", str(out / "%04d.jpg")],
        check=True,
    )
    return sorted(out.glob("*.jpg"))


def frames(course: Path | None, tmp: Path) -> tuple[list[Frame], dict]:
    from PIL import Image

    from tools.samples import image

    found = []
    clips = distinct_videos(course) if course else []
    for video in clips:
        for index, jpeg in enumerate(video_frames(video, tmp)):
            load = lambda jpeg=jpeg: Image.open(jpeg).convert("RGB")  # noqa: E731
            found.append(Frame(f"{video.name} frame {index}", load, index % CALIBRATE_EVERY == 0))
    course_frames = len(found)
    for name in TEST_PICTURES:
        found.append(Frame(name, lambda name=name: Image.fromarray(image(name)), True))
    source = {
        "course_folder": str(course) if course else None,
        "course_videos": [{"name": v.name, "sha256": hashlib.sha256(v.read_bytes()).hexdigest()} for v in clips],
        "course_frames": course_frames,
        "test_pictures": list(TEST_PICTURES),
        "calibration_frames": sum(f.calibrates for f in found),
        "calibrate_every": CALIBRATE_EVERY,
    }
    return found, source


class Nets:
    """Detection's networks, each from float32 or int8 sessions, timed (CPU seconds) and optionally recorded."""

    def __init__(self, fp32: OnnxFaceModels, int8: dict | None = None, which: Iterable[str] = (), record=False):
        self.fp32, self.int8, self.which = fp32, int8 or {}, set(which)
        self.cpu = dict.fromkeys(MTCNN, 0.0)
        self.inputs: dict[str, list[np.ndarray]] | None = {n: [] for n in MTCNN} if record else None

    def _run(self, name: str, x: np.ndarray):
        if self.inputs is not None:
            self.inputs[name].append(x.copy())
        started = time.process_time()
        out = self.int8[name].run(None, {"image": x}) if name in self.which else getattr(self.fp32, name)(x)
        self.cpu[name] += time.process_time() - started
        return out

    def pnet(self, x):
        return self._run("pnet", x)

    def rnet(self, x):
        return self._run("rnet", x)

    def onet(self, x):
        return self._run("onet", x)


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def unmatched(these, those) -> int:
    """How many boxes of `these` have no box of `those` of the same face (greedy, best overlap first)."""
    free = list(range(len(those)))
    missing = 0
    for box in these:
        overlaps = [(iou(box, those[j]), j) for j in free]
        best = max(overlaps, default=(0.0, -1))
        if best[0] >= SAME_FACE_IOU:
            free.remove(best[1])
        else:
            missing += 1
    return missing


@dataclass
class Agreement:
    """How one way of detecting agrees with float32, over every frame."""

    frames: int = 0
    with_faces: int = 0
    ious: list[float] = field(default_factory=list)
    failing_frames: set[str] = field(default_factory=set)
    other_face_chosen: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    gained: list[str] = field(default_factory=list)
    low_iou: list[str] = field(default_factory=list)

    def add(self, label: str, reference, found) -> None:
        self.frames += 1
        ref = [] if reference is None else list(reference.boxes)
        got = [] if found is None else list(found.boxes)
        fails = False
        if unmatched(ref, got):
            self.lost.append(label)
            fails = True
        if unmatched(got, ref):
            self.gained.append(label)
            fails = True
        if ref:
            self.with_faces += 1
            overlap = iou(ref[0], got[0]) if got else 0.0
            self.ious.append(overlap)
            if overlap < SAME_FACE_IOU:
                self.other_face_chosen.append(label)
            if overlap < MIN_IOU:
                self.low_iou.append(f"{label} (IoU {overlap:.3f})")
                fails = True
        if fails:
            self.failing_frames.add(label)

    @property
    def failing(self) -> int:
        return len(self.failing_frames)

    @property
    def passes(self) -> bool:
        return self.failing == 0

    def figures(self) -> dict:
        ious = np.array(self.ious) if self.ious else np.array([1.0])
        return {
            "frames": self.frames,
            "frames_with_faces": self.with_faces,
            "chosen_box_iou": {
                "min": round(float(ious.min()), 4),
                "p1": round(float(np.percentile(ious, 1)), 4),
                "median": round(float(np.median(ious)), 4),
                "under_0.98": len(self.low_iou),
            },
            "other_face_chosen": len(self.other_face_chosen),
            "frames_losing_a_face": len(self.lost),
            "frames_gaining_a_face": len(self.gained),
            "frames_failing": self.failing,
            "passes": self.passes,
            "examples": (self.lost + self.gained + self.low_iou + self.other_face_chosen)[:6],
        }


def detect_all(frames: list[Frame], nets: Nets, min_face: float, perturb: Callable | None = None) -> tuple[list, float]:
    found = []
    started = time.process_time()
    for frame in frames:
        image = frame.load() if perturb is None else perturb(frame.load())
        found.append(detection.detect(frame_rows(image), nets, min_face))
    return found, time.process_time() - started


def calibrate(course: Path | None, torch_home: Path, *, progress=print) -> dict:
    """The record: ranges, exclusions, figures and decision per network (see the module's doc)."""
    import onnxruntime
    from PIL import Image

    from tools import quantize
    from tools.export_models import ensure_exported

    fp32_dir = ensure_exported(torch_home, mtcnn_int8=())
    fp32 = OnnxFaceModels.load(fp32_dir, 1)
    with tempfile.TemporaryDirectory(prefix="vfp-calibrate-") as folder:
        tmp = Path(folder)
        all_frames, source = frames(course, tmp)
        progress(f"[calibrate] {len(all_frames)} frames, {source['calibration_frames']} calibrating")
        recorder = Nets(fp32, record=True)
        for frame in all_frames:
            if frame.calibrates:
                detection.detect(frame_rows(frame.load()), recorder, fp32.min_face_size)
        assert recorder.inputs is not None
        networks: dict = {}
        sessions = {}
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        for name in MTCNN:
            graph = fp32_dir / GRAPHS[name]
            exclude = quantize.heads(graph, also=FLOAT_OPS)
            ranges = quantize.ranges(graph, ({"image": x} for x in recorder.inputs[name]), exclude=exclude)
            int8 = tmp / f"{name}.int8.onnx"
            quantize.quantize(graph, int8, ranges=ranges, exclude=exclude)
            sessions[name] = onnxruntime.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])
            networks[name] = {"exclude": exclude, "ranges": ranges}
        del recorder

        progress("[calibrate] float32 detection on every frame")
        reference_nets = Nets(fp32)
        reference, _ = detect_all(all_frames, reference_nets, fp32.min_face_size)

        def agreement(which: tuple[str, ...], perturb=None) -> tuple[Agreement, Nets]:
            nets = Nets(fp32, sessions, which)
            found, _ = detect_all(all_frames, nets, fp32.min_face_size, perturb)
            result = Agreement()
            for frame, ref, got in zip(all_frames, reference, found, strict=True):
                result.add(frame.label, ref, got)
            return result, nets

        per_frame = len(all_frames)
        for name in MTCNN:
            progress(f"[calibrate] {name} in int8")
            result, nets = agreement((name,))
            networks[name]["agreement"] = result.figures()
            networks[name]["cpu_ms_per_frame"] = {
                "fp32": round(reference_nets.cpu[name] / per_frame * 1000, 2),
                "int8": round(nets.cpu[name] / per_frame * 1000, 2),
            }
        progress("[calibrate] all three in int8")
        together, _ = agreement(MTCNN)
        rng = np.random.default_rng(0)

        def noise(image):
            pixels = np.asarray(image).astype(np.int16) + rng.integers(-1, 2, size=(image.height, image.width, 3))
            return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

        progress("[calibrate] yardstick: float32 against itself with +-1 noise")
        yardstick, _ = agreement((), noise)

    kept = [name for name in MTCNN if networks[name]["agreement"]["passes"]]
    for name in MTCNN:
        networks[name]["int8"] = name in kept
    if len(kept) > 1 and not together.passes:
        raise RuntimeError("more than one network passes alone: check their combination before keeping them")
    return {
        "about": "Which of MTCNN's networks run in int8, decided on real frames by "
        "`python -m tools.calibrate_mtcnn` (its doc); tools/export_models.py builds the kept ones from these ranges.",
        "criteria": {
            "chosen_box_iou_at_least": MIN_IOU,
            "same_face_chosen": f"IoU >= {SAME_FACE_IOU} with float32's chosen face",
            "faces_lost_or_gained": 0,
            "on": "every frame of every distinct course clip and every test picture",
        },
        "quantisation": "onnxruntime quantize_static: QDQ, uint8 activations (MinMax), int8 weights per channel; "
        f"float: the output layers and {', '.join(FLOAT_OPS)}",
        "onnxruntime": onnxruntime.__version__,
        "source": source,
        "kept_in_int8": kept,
        "all_three_in_int8": together.figures(),
        "yardstick_fp32_with_pixel_noise": yardstick.figures(),
        "networks": networks,
    }


def main(argv=None) -> int:
    parser = cli.parser("python -m tools.calibrate_mtcnn", __doc__)
    parser.add_argument(
        "--course",
        type=Path,
        default=COURSE if COURSE.is_dir() else None,
        help=f"folder of course videos (default: {COURSE} when present)",
    )
    parser.add_argument("--torch-home", type=Path, default=DEFAULT_TORCH_HOME)
    parser.add_argument("--out", type=Path, default=MTCNN_RECORD)
    args = parser.parse_args(argv)
    from tools import weights

    weights.prepare(args.torch_home)  # MTCNN's weights are facenet-pytorch's own either way
    record = calibrate(args.course, args.torch_home, progress=lambda line: print(line, file=sys.stderr))
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for name in MTCNN:
        a = record["networks"][name]["agreement"]
        print(
            f"{name}: {'int8' if record['networks'][name]['int8'] else 'fp32 (int8 refused)'}: "
            f"chosen-box IoU min {a['chosen_box_iou']['min']}, {a['frames_failing']} of {a['frames']} frames failing, "
            f"cpu ms/frame {record['networks'][name]['cpu_ms_per_frame']}"
        )
    print(f"record: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
