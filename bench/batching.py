"""Does batching a video's frames (or faces) through the networks help? `python -m bench.batching`

analysis: timeline sends every sampled frame of a video through the same loaded models. The
networks could take several at once: the embedder several face crops in one run, P-Net several
frames of the same size at one pyramid scale. This measures both on ONE intra-op thread (what the
recognizer's default 1024 MB gives it: topology.model_threads) against running them one at a time,
with the function's session options, on graphs exported from the same weights with a dynamic batch
axis (the function's own embedder graph has a fixed batch of one). Prints the best of `--repeat`
runs of each. The answer decides face_recognizer/timeline.py: one at a time (bench/README.md).
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from components.project import DEFAULT_TORCH_HOME
from tools import cli

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


def _session(path: Path, threads: int) -> InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()  # as face_recognizer/onnx_models.py opens the function's graphs
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _best_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def measure(torch_home: Path, *, threads: int = 1, repeat: int = 5) -> list[dict]:
    import numpy as np
    import torch

    from face_recognizer.faces import IMAGE_SIZE
    from tools.modelbuild.export_models import OPSET
    from tools.modelbuild.reference_models import FaceModels
    from tools.modelbuild.weights import prepare

    prepare(torch_home)
    models = FaceModels.load(torch_home, fast=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vfp-batching-") as folder:
        embedder, pnet = Path(folder) / "embedder.onnx", Path(folder) / "pnet.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                models.resnet.eval(),
                (torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE),),
                str(embedder),
                input_names=["face"],
                output_names=["embedding"],
                dynamic_axes={"face": {0: "faces"}},
                opset_version=OPSET,
                dynamo=False,
            )
            torch.onnx.export(
                models.mtcnn.pnet.eval(),
                (torch.zeros(1, 3, 60, 80),),
                str(pnet),
                input_names=["image"],
                output_names=["reg", "prob"],
                dynamic_axes={"image": {0: "frames", 2: "height", 3: "width"}},
                opset_version=OPSET,
                dynamo=False,
            )
        rng = np.random.default_rng(0)
        cases = [("embedder", embedder, "face crops", (IMAGE_SIZE, IMAGE_SIZE), n) for n in (2, 4, 8)]
        # P-Net's largest scale of a 720p frame (min face 40 px: 0.3) and a coarser one
        cases += [("P-Net", pnet, "frames at 384x216", (216, 384), n) for n in (4, 8)]
        cases += [("P-Net", pnet, "frames at 136x77", (77, 136), n) for n in (4, 8)]
        for network, path, what, (h, w), n in cases:
            session = _session(path, threads)
            name = session.get_inputs()[0].name
            x = rng.random((n, 3, h, w), dtype=np.float32)

            def singly(s: InferenceSession = session, k: str = name, x: np.ndarray = x) -> object:
                return [s.run(None, {k: x[i : i + 1]}) for i in range(len(x))]

            def together(s: InferenceSession = session, k: str = name, x: np.ndarray = x) -> object:
                return s.run(None, {k: x})

            one_at_a_time, batched = _best_ms(singly, repeat), _best_ms(together, repeat)
            rows.append(
                {
                    "network": network,
                    "inputs": f"{n} {what}",
                    "one_at_a_time_ms": round(one_at_a_time, 1),
                    "one_batch_ms": round(batched, 1),
                    "speed_up": round(one_at_a_time / batched, 2),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m bench.batching", __doc__)
    parser.add_argument("--torch-home", type=Path, default=DEFAULT_TORCH_HOME)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1, as deployed)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rows = measure(args.torch_home, threads=args.threads, repeat=args.repeat)
    print(f"batching through the networks, {args.threads} thread(s), best of {args.repeat} (ms)")
    for r in rows:
        print(
            f"  {r['network']:<9} {r['inputs']:<22} one at a time {r['one_at_a_time_ms']:>7.1f}  "
            f"one batch {r['one_batch_ms']:>7.1f}  ({r['speed_up']:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
