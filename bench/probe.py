"""One function measured in a fresh interpreter, so its cold start is real: phases, warm latency, memory.

    python -m bench.probe SPEC.json SPAWNED_AT     → one JSON object on stdout

Run by bench/__main__.py; the SPEC fields and what is measured how: bench/README.md, How it measures.
"""

from __future__ import annotations

import time

T_MAIN = time.time()  # before any other import: what follows is the interpreter's own start-up

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# typing.TYPE_CHECKING without importing typing: the probe times the function's own imports, so it imports
# nothing ahead of them that they need. Type checkers treat any TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from typing import Any

    from PIL import Image

    from face_recognizer.facedb import FaceDatabase
    from face_recognizer.faces import Face
    from face_recognizer.onnx_models import OnnxFaceModels
    from face_recognizer.recognizer import Recognition
    from face_recognizer.service import RecognitionService
    from tools.modelbuild.reference_models import FaceModels
    from video_splitting.service import SplittingService


def vm(field: str) -> float:
    """VmRSS / VmHWM of this process, in MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def children_peak() -> float:
    """The peak resident memory of the largest child process this one ran (the splitter's ffmpeg), MB."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


class Laps(logging.Handler):
    """Keeps the `ms` field of every log line the function writes per object."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict] = []
        self.frames: list[int] = []  # analysis timeline: the frames each object held (1 otherwise)

    def emit(self, record: logging.LogRecord) -> None:
        logged = getattr(record, "fields", {})
        if logged.get("ms"):
            self.records.append(logged["ms"])
            self.frames.append(int(logged.get("frames") or 1))


class Phases:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def __call__(self, name: str) -> AbstractContextManager[None]:
        phases = self

        class _Lap:
            def __enter__(self) -> None:
                self.t = time.perf_counter()

            def __exit__(self, *exc: object) -> None:
                phases.ms[name] = round((time.perf_counter() - self.t) * 1000, 1)

        return _Lap()


def recognizer(spec: dict, phase: Phases) -> tuple[RecognitionService, Laps, float, dict[str, Any]]:
    """The function as deployed (runtime "onnx"), or the PyTorch paths it replaced, for comparison:
    "torch" (facenet-pytorch with the same detection shortcuts) and "torch-exact" (the course's)."""
    runtime = spec.get("runtime", "onnx")
    with phase("imports"):
        import boto3  # noqa: F401

        if runtime == "onnx":
            import onnxruntime  # noqa: F401
        else:
            import facenet_pytorch
            import torch
        from face_recognizer import config, facedb, service
        from face_recognizer import recognizer as rec
        from face_recognizer.faces import IMAGE_SIZE, MARGIN
    rss_after_imports = vm("VmRSS")
    with phase("settings"):
        cfg = config.RecognizerConfig.from_env()
    if cfg.face_db_path is None:
        raise SystemExit("the benchmark runs the recognizer with a database file (faceDatabase: a path)")
    with phase("database"):
        database = facedb.FaceDatabase.load(cfg.face_db_path)
    loaded: OnnxFaceModels | FaceModels
    if runtime == "onnx":
        from face_recognizer.onnx_models import OnnxFaceModels

        with phase("models"):  # ONNX Runtime sessions over the exported graphs
            loaded = OnnxFaceModels.load(cfg.model_dir, cfg.threads, precision=cfg.precision)
        extra = {
            "threads": cfg.threads,
            "runtime": runtime,
            "precision": loaded.precision,
            "agreement": loaded.agreement,
            "int8_sums_exact": loaded.int8_sums_exact,
        }
    else:
        from tools.modelbuild.reference_models import FaceModels

        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        with phase("network_construction"):
            # The same two networks without weights, to separate building them from reading weights.
            facenet_pytorch.InceptionResnetV1()
            facenet_pytorch.MTCNN(image_size=IMAGE_SIZE, margin=MARGIN)
        with phase("construction_and_weights"):
            loaded = FaceModels.load(spec["torch_home"], cfg.threads, fast=runtime == "torch")
        phase.ms["weights"] = round(phase.ms.pop("construction_and_weights") - phase.ms["network_construction"], 1)
        extra = {"threads": torch.get_num_threads(), "runtime": runtime}
    with phase("warm_up"):
        loaded.warm_up()
    with phase("clients"):
        svc = service.RecognitionService(
            rec.Recognizer(loaded, database, cfg.distance_threshold),
            cfg.output_bucket,
            analysis=cfg.analysis,
            max_frames=cfg.max_frames,
        )
    laps = Laps()
    svc.log.addHandler(laps)
    return svc, laps, rss_after_imports, extra


class Answers:
    """Each recognised object's answer, kept by wrapping the recognizer (the probe's own instrument),
    and the CPU time its detection and embedding took (process time: what the function's own code
    spent, whatever else the machine runs; its log's `ms` are wall time)."""

    def __init__(self, svc: RecognitionService) -> None:
        self.by_key: dict[str, dict] = {}
        self.recording = False
        self.cpu_ms: dict[str, float] = {}
        self._embedding = None
        recognizer, models = svc.recognizer, svc.recognizer.models
        find, embed, recognise = models.find_face, models.embed_face, recognizer.recognise_bytes

        def find_face(image: Image.Image) -> Face | None:
            started = time.process_time()
            try:
                return find(image)
            finally:
                self.cpu_ms["detect"] = (time.process_time() - started) * 1000

        def embed_face(face: Face) -> Any:
            started = time.process_time()
            self._embedding = embed(face)
            self.cpu_ms["embed"] = (time.process_time() - started) * 1000
            return self._embedding

        def recognise_bytes(data: bytes, source: str, database: FaceDatabase | None = None) -> Recognition:
            self._embedding = None
            result = recognise(data, source, database)
            if self.recording:
                embedding = None if self._embedding is None else [float(v) for v in self._embedding.reshape(-1)]
                self.by_key[source] = {
                    "name": result.name,
                    "faces": result.faces,
                    "box": None if result.box is None else [float(v) for v in result.box],
                    "embedding": embedding,
                }
            return result

        models.find_face = find_face
        models.embed_face = embed_face
        recognizer.recognise_bytes = recognise_bytes  # type: ignore[method-assign]  # the probe's instrument


def cpu_now() -> tuple[float, float]:
    """(this process's, its finished children's) CPU seconds."""
    return time.process_time(), (lambda r: r.ru_utime + r.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN))


def splitter(spec: dict, phase: Phases) -> tuple[SplittingService, Laps, float, dict[str, Any]]:
    with phase("imports"):
        import boto3  # noqa: F401

        from video_splitting import service as split
    rss_after_imports = vm("VmRSS")
    with phase("start"):  # settings, `ffmpeg -version`, the S3 client
        svc = split.start()
    laps = Laps()
    svc.log.addHandler(laps)
    return svc, laps, rss_after_imports, {}


def main(spec_path: str, spawned_at: float) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    os.environ.update(spec["env"])
    from pipeline_common.events import S3Object

    phase = Phases()
    phase.ms["interpreter"] = round((T_MAIN - spawned_at) * 1000, 1)
    recognition: RecognitionService | None = None
    process: Callable[[S3Object], object]
    if spec["function"] == "recognizer":
        recognition, laps, rss_after_imports, extra = recognizer(spec, phase)
        # analysis timeline: the recognizer's objects are frames objects
        process = recognition.timeline if recognition.analysis == "timeline" else recognition.process
    else:
        split, laps, rss_after_imports, extra = splitter(spec, phase)
        process = split.process  # the splitter's process() takes both kinds of video
    objects = [S3Object(bucket, key) for bucket, key in spec["objects"]]
    with phase("first_invocation"):
        process(objects[0])
    cold_total_ms = round((time.time() - spawned_at) * 1000, 1)
    cold_stages = laps.records[-1] if laps.records else {}
    laps.records.clear()
    laps.frames.clear()
    answers = Answers(recognition) if recognition is not None else None
    cpu: list[dict] = []
    for repeat in range(spec["repeats"]):
        if answers is not None:
            answers.recording = repeat == 0
        for obj in objects:
            own, children = cpu_now()
            process(obj)
            own_after, children_after = cpu_now()
            record = {"total": (own_after - own + children_after - children) * 1000}
            if answers is not None:
                record.update(answers.cpu_ms)
                answers.cpu_ms.clear()
            else:
                record["ffmpeg"] = (children_after - children) * 1000
            cpu.append(record)
    json.dump(
        {
            "cold_start_ms": {"total": cold_total_ms, **phase.ms},
            "cold_invocation_stages_ms": cold_stages,
            "warm_stages_ms": laps.records,
            "warm_cpu_ms": cpu,
            "warm_frames": laps.frames,
            "rss_after_imports_mb": rss_after_imports,
            "peak_rss_mb": vm("VmHWM"),
            "children_peak_rss_mb": children_peak(),
            **({"answers": answers.by_key} if answers is not None else {}),
            **extra,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
