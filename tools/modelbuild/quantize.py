"""Static int8 quantisation of the exported graphs, the one way this project does it.

ONNX Runtime's own tool (`onnxruntime.quantization.quantize_static`, pinned with onnxruntime):
QDQ format, activations uint8 (asymmetric), weights int8 per output channel, ranges by min/max
over calibration inputs. That is ONNX Runtime's recommended form for x86 CPUs with VNNI, where
its int8 kernels multiply uint8 by int8 and accumulate in 32 bits without saturating; on CPUs
without VNNI the same kernels add pairs of products in 16 bits, which can saturate
(`int8_sums_exact` tells which one a machine runs; bench/README.md has what this machine does).

`quantize(..., feeds=...)` calibrates and quantises in one go (the embedding network, whose
calibration set is made in the image build itself: calibration.py). Int8 MTCNN was measured and
rejected (bench/README.md).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

INT8_SUFFIX = ".int8.onnx"


class _Inputs:
    """An iterable of input feeds as onnxruntime's calibration reads them (a CalibrationDataReader:
    `get_next` until it gives None)."""

    def __init__(self, feeds: Iterable[Mapping[str, np.ndarray]]):
        self._feeds: Iterator[Mapping[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> Mapping[str, np.ndarray] | None:
        return next(self._feeds, None)


def _quantize_static(fp32: Path, int8: Path, *, reader: _Inputs | None, cache: Path, exclude: Iterable[str]) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # it logs advice ("consider pre-processing") as warnings
    try:
        quantize_static(
            str(fp32),
            str(int8),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=sorted(exclude),
            calibration_cache_path=cache,
        )
    finally:
        logging.getLogger().setLevel(quiet)


def quantize(fp32: Path, int8: Path, *, feeds: Iterable[Mapping[str, np.ndarray]], exclude: Iterable[str] = ()) -> None:
    """Write the int8 (QDQ) graph of `fp32` to `int8`, calibrated on `feeds` (min/max ranges)."""
    with tempfile.TemporaryDirectory(prefix="vfp-quant-") as tmp:
        _quantize_static(fp32, int8, reader=_Inputs(feeds), cache=Path(tmp) / "ranges.json", exclude=exclude)


def nodes_after(graph: Path, op_type: str) -> list[str]:
    """Names of the nodes from the first `op_type` node to the graph's outputs (what stays fp32
    when a network's last layers are left out of quantisation)."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    nodes = list(model.graph.node)
    start = next(i for i, n in enumerate(nodes) if n.op_type == op_type)
    tainted = set(nodes[start].output)
    found = [nodes[start].name]
    for node in nodes[start + 1 :]:
        if tainted & set(node.input):
            tainted |= set(node.output)
            found.append(node.name)
    return found


# -- which int8 kernels this CPU runs -----------------------------------------------------------------

CHECK_GRAPH = "int8_check.onnx"  # written beside int8 graphs; the function runs it at start


def write_int8_check(path: Path) -> None:
    """A one-node graph whose answer tells the CPU's int8 kernels apart (face_recognizer.onnx_models.
    int8_sums_exact runs it): uint8 255 times int8 127, summed over 64 terms. VNNI (vpdpbusd)
    accumulates in 32 bits and gives 255*127*64 = 2,072,640; the AVX2 path (vpmaddubsw) first adds
    pairs of products in 16 bits, which saturate at 32,767, and gives 32 * 32,767 = 1,048,544."""
    import onnx
    from onnx import TensorProto, helper

    from face_recognizer.onnx_models import INT8_CHECK_TERMS

    a = helper.make_tensor_value_info("a", TensorProto.UINT8, [None, INT8_CHECK_TERMS])
    b = helper.make_tensor_value_info("b", TensorProto.INT8, [INT8_CHECK_TERMS, None])
    y = helper.make_tensor_value_info("y", TensorProto.INT32, [None, None])
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "int8_check", [a, b], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def int8_sums_exact() -> bool:
    """Whether this machine's ONNX Runtime int8 kernels sum uint8 x int8 products exactly (VNNI)."""
    from face_recognizer.onnx_models import int8_sums_exact as run

    with tempfile.TemporaryDirectory(prefix="vfp-int8-") as tmp:
        path = Path(tmp) / CHECK_GRAPH
        write_int8_check(path)
        return run(path)
