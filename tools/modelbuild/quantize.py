"""Static int8 quantisation of the exported graphs, the one way this project does it.

ONNX Runtime's own tool (`onnxruntime.quantization.quantize_static`, pinned with onnxruntime):
QDQ format, activations uint8 (asymmetric), weights int8 per output channel, ranges by min/max
over calibration inputs. That is ONNX Runtime's recommended form for x86 CPUs with VNNI, where
its int8 kernels multiply uint8 by int8 and accumulate in 32 bits without saturating; on CPUs
without VNNI the same kernels add pairs of products in 16 bits, which can saturate
(`int8_sums_exact` tells which one a machine runs; bench/README.md has what this machine does).

Two ways in:
- `ranges`: run calibration inputs through a graph and keep each tensor's (min, max); these
  numbers, not the inputs, are what tools/mtcnn_int8.json records (calibration data never enters
  the project), and `quantize(..., ranges=...)` rebuilds the same int8 graph from them, byte for
  byte, anywhere the same onnxruntime and the same fp32 graph are.
- `quantize(..., inputs=...)`: calibrate and quantise in one go (the embedding network, whose
  calibration set is made in the image build itself: tools/calibration.py).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

INT8_SUFFIX = ".int8.onnx"
Ranges = dict[str, list[float]]  # tensor name -> [min, max] as float32 values


class _Inputs:
    """An iterable of input feeds as onnxruntime's calibration reads them (a CalibrationDataReader:
    `get_next` until it gives None)."""

    def __init__(self, feeds: Iterable[Mapping[str, np.ndarray]]):
        self._feeds: Iterator[Mapping[str, np.ndarray]] = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)


def _quantize_static(fp32: Path, int8: Path, *, reader, cache: Path, exclude: Iterable[str]) -> None:
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


def ranges(fp32: Path, feeds: Iterable[Mapping[str, np.ndarray]], *, exclude: Iterable[str] = ()) -> Ranges:
    """Every calibrated tensor's [min, max] over the feeds (the graph's own input names)."""
    with tempfile.TemporaryDirectory(prefix="vfp-quant-") as tmp:
        cache = Path(tmp) / "ranges.json"
        _quantize_static(fp32, Path(tmp) / "scratch.onnx", reader=_Inputs(feeds), cache=cache, exclude=exclude)
        data = json.loads(cache.read_text(encoding="utf-8"))["data"]
    return {
        name: [float(np.float32(t["lowest"]["data"][0])), float(np.float32(t["highest"]["data"][0]))]
        for name, t in sorted(data.items())
    }


def quantize(
    fp32: Path,
    int8: Path,
    *,
    ranges: Ranges | None = None,
    feeds: Iterable[Mapping[str, np.ndarray]] | None = None,
    exclude: Iterable[str] = (),
) -> None:
    """Write the int8 (QDQ) graph of `fp32` to `int8`, from recorded `ranges` or by calibrating on `feeds`."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorsData, save_tensors_data

    if (ranges is None) == (feeds is None):
        raise ValueError("quantize: give either ranges or feeds")
    with tempfile.TemporaryDirectory(prefix="vfp-quant-") as tmp:
        cache = Path(tmp) / "ranges.json"
        reader = None
        if ranges is not None:
            data = {name: (np.float32(lo), np.float32(hi)) for name, (lo, hi) in ranges.items()}
            save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), cache)
        else:
            reader = _Inputs(feeds or ())
        _quantize_static(fp32, int8, reader=reader, cache=cache, exclude=exclude)


def missing_tensors(graph: Path, recorded: Ranges) -> list[str]:
    """Recorded tensor names the graph does not have (a record made from a different export)."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    names = {i.name for i in model.graph.input} | {o for n in model.graph.node for o in n.output}
    return sorted(set(recorded) - names)


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


def heads(graph: Path, *, also: Iterable[str] = ()) -> list[str]:
    """The nodes that produce a graph output (through a Softmax to the layer before it), and every
    node whose type is in `also`: what MTCNN's quantisation leaves in float."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    producer = {o: n for n in model.graph.node for o in n.output}
    found = []
    for output in model.graph.output:
        node = producer[output.name]
        found.append(node.name)
        if node.op_type == "Softmax":
            found.append(producer[node.input[0]].name)
    also = set(also)
    found += [n.name for n in model.graph.node if n.op_type in also]
    return sorted(set(found))


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
