"""MTCNN's detection pipeline in NumPy, around any runner of its three networks.

The same steps and constants as facenet-pytorch 2.6's `detect_face`, so the same weights find the
same boxes; only how the work is done differs (integral-image resampling, no torch, bounded memory),
because that is where the time and memory went: docs/decisions/0001-mtcnn-detection-in-numpy.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

THRESHOLDS = (0.6, 0.7, 0.7)  # facenet-pytorch MTCNN defaults, P/R/O-Net
FACTOR = 0.709  # pyramid scale step (its default)
CELL = 12  # P-Net's receptive field
STRIDE = 2

# What detection may hold at once, whatever the frame (see the module's doc; bench/README.md).
TABLE_CACHE_BYTES = 64 << 20  # an integral table up to this (~5.5 megapixels) is built once and kept
BAND_BYTES = 16 << 20  # else it is built this many bytes of rows at a time, per stage
# ONNX Runtime keeps each session's largest working memory (its arena), so these bound what the
# networks hold: ~30 MB each, measured; larger pieces bought no speed at 720p or at 8K.
PNET_TILE_PIXELS = 1 << 17  # P-Net runs on bands of a pyramid level of about this many pixels
RNET_BATCH = 128  # crops per R-Net run
ONET_BATCH = 32  # crops per O-Net run
_INDEX_ELEMENTS = 1 << 20  # table lookups gathered per numpy call while resampling (8 MB of indices)

# One resampling request: y0, y1, x0, x1 (each (N,)), out_h, out_w.
Query = tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike, int, int]


class Nets(Protocol):
    """The three MTCNN networks on float32 NCHW batches (pixels already scaled to about ±1)."""

    def pnet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...  # reg (1,4,h,w), prob (1,2,h,w)

    def rnet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...  # reg (N,4), prob (N,2)

    def onet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...  # reg, points (N,10), prob


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2, largest first
    probs: np.ndarray  # (N,)
    points: np.ndarray  # (N, 5, 2) landmarks

    def __len__(self) -> int:
        return len(self.boxes)


class IntegralImage:
    """Window means of an 8-bit HxWx3 frame by adaptive average pooling's bounds, from its integral image.

    Table row r, channel c, column x holds the sum of channel c over the pixels [0:r, 0:x], so any
    window's sum is four table entries: T[ye,xe] - T[ys,xe] - T[ye,xs] + T[ys,xs].

    Exact in 32 bits at any frame size: the table is uint32 and wraps around, so each entry is the
    true sum modulo 2**32. A window sum is a difference of four entries, and modular arithmetic
    gives it modulo 2**32 too, hence exactly whenever the true sum is below 2**32, i.e. for any
    window under 2**32 / 255 ≈ 16.8 million pixels. Every window detection asks for is far
    smaller (a pyramid bin is at most (short side / 12 + 1)² pixels, ~231,000 for any frame within
    pipeline_common.limits; a crop bin is a 24th or 48th of a box each way), and `resample_all`
    refuses a larger one rather than give a wrong mean. int64 would double the table for nothing.

    Memory: the table is 12 bytes a pixel. A table up to `cache_bytes` (~5.5 megapixels by
    default: 1080p and 1440p frames) is built once and kept for all three stages, the fastest way.
    A larger one is never held whole: each `resample_all` builds it again band by band (`band_bytes`
    of rows at a time, from the frame's rows as `rows(a, b)` gives them), takes from each band the
    table rows its windows start and end on, and drops the band. Three passes over the frame (the
    pyramid, R-Net's crops, O-Net's crops) instead of one, for memory that no longer grows with the
    frame beyond the frame itself.
    """

    def __init__(self, pixels: np.ndarray, *, cache_bytes: int | None = None, band_bytes: int | None = None):
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 image, got {pixels.dtype} {pixels.shape}")
        h, w, _ = pixels.shape
        self._setup(lambda a, b: pixels[a:b], h, w, cache_bytes, band_bytes)

    @classmethod
    def from_rows(
        cls,
        rows: Callable[[int, int], np.ndarray],
        height: int,
        width: int,
        *,
        cache_bytes: int | None = None,
        band_bytes: int | None = None,
    ) -> IntegralImage:
        """Over a frame read a band at a time: rows(a, b) gives its pixel rows a..b-1, (b-a, width, 3) uint8."""
        self = cls.__new__(cls)
        self._setup(rows, height, width, cache_bytes, band_bytes)
        return self

    def _setup(
        self, rows: Callable[[int, int], np.ndarray], h: int, w: int, cache_bytes: int | None, band_bytes: int | None
    ) -> None:
        cache_bytes = TABLE_CACHE_BYTES if cache_bytes is None else cache_bytes
        band_bytes = BAND_BYTES if band_bytes is None else band_bytes
        self.height, self.width = h, w
        self._rows = rows
        self._row = 3 * (w + 1)  # table entries per table row
        row_bytes = 4 * self._row
        self._cached = (h + 1) * row_bytes <= cache_bytes
        self._band_rows = h + 1 if self._cached else max(2, band_bytes // row_bytes)
        self._table: np.ndarray | None = None
        self._channel = (np.arange(3) * (w + 1))[None, :, None]

    def resample(
        self, y0: np.ndarray, y1: np.ndarray, x0: np.ndarray, x1: np.ndarray, out_h: int, out_w: int
    ) -> np.ndarray:
        """(N, 3, out_h, out_w) float32: each region [y0:y1, x0:x1) area-resampled to out_h x out_w."""
        return self.resample_all([(y0, y1, x0, x1, out_h, out_w)])[0]

    def whole(self, out_h: int, out_w: int) -> np.ndarray:
        return self.resample(*_whole_frame(self.height, self.width), out_h, out_w)

    def resample_all(self, queries: Sequence[Query]) -> list[np.ndarray]:
        """`resample` for several (y0, y1, x0, x1, out_h, out_w) at once, in one pass over the frame."""
        plans = [_Windows(self, *q) for q in queries]
        last = max((p.last_row for p in plans), default=-1)
        for r0, band in self._bands(last):
            flat = band.reshape(-1)
            for plan in plans:
                plan.take(r0, r0 + len(band), flat)
        return [plan.result() for plan in plans]

    def _bands(self, last: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first table row, table rows) from row 0 until `last` is covered: the kept table, or bands."""
        if last < 0:
            return
        if self._cached:
            if self._table is None:
                self._table = np.empty((self.height + 1, 3, self.width + 1), dtype=np.uint32)
                self._fill(self._table, 0, None)
            yield 0, self._table
            return
        buffer = np.empty((self._band_rows, 3, self.width + 1), dtype=np.uint32)
        carry = None
        r0 = 0
        while r0 <= last:
            band = buffer[: min(self._band_rows, self.height + 1 - r0)]
            self._fill(band, r0, carry)
            yield r0, band
            carry = band[-1].copy()
            r0 += len(band)

    def _fill(self, band: np.ndarray, r0: int, carry: np.ndarray | None) -> None:
        """Table rows r0.. into `band`, given table row r0 - 1 (`carry`; None when r0 is 0)."""
        first = 0
        if r0 == 0:
            band[0] = 0  # table row 0: nothing above it
            first = 1
        n = len(band)
        if n == first:
            return
        pixels = self._rows(r0 + first - 1, r0 + n - 1)  # table row r adds pixel row r - 1
        if pixels.dtype != np.uint8 or pixels.shape != (n - first, self.width, 3):
            raise ValueError(
                f"frame rows {r0 + first - 1}..{r0 + n - 2}: expected {(n - first, self.width, 3)} "
                f"uint8, got {pixels.dtype} {pixels.shape}"
            )
        # Laid out (row, channel, column) so both running sums walk contiguous memory: along each
        # row in one call, then down the rows one row at a time (numpy's cumsum along the outer
        # axis, or with the channels innermost, measured 2-3x slower at 720p).
        inner = band[first:, :, 1:]
        band[first:, :, 0] = 0
        inner[...] = pixels.transpose(0, 2, 1)
        del pixels
        np.cumsum(inner, axis=2, dtype=np.uint32, out=inner)
        if first == 0:
            assert carry is not None, "a band after the first continues from the table row before it"
            np.add(band[0], carry, out=band[0])
        for i in range(first + 1, n):
            np.add(band[i], band[i - 1], out=band[i])


def _whole_frame(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    zero = np.array([0])
    return zero, np.array([height]), zero, np.array([width])


class _Windows:
    """One resampling request, answered band by band.

    Kept as (N * out_h, 3, out_w): one block per region and output row, so every write is a slice or
    a plain index on the first axis; `result` is the (N, 3, out_h, out_w) view of it. A request whose
    windows all lie in one band (all of them, when the table is kept) is summed there directly, four
    lookups a window. Otherwise each window's sum is the difference of two row differences,
    D(ye) - D(ys) with D(r) = T[r, xe] - T[r, xs]: D(ys) waits in the output itself (as uint32)
    until the band holding row ye comes by, and the mean then takes its place (as float32, the same
    4 bytes). Either way a request holds nothing but its output, whatever the frame's size.
    """

    def __init__(
        self,
        integral: IntegralImage,
        y0: ArrayLike,
        y1: ArrayLike,
        x0: ArrayLike,
        x1: ArrayLike,
        out_h: int,
        out_w: int,
    ) -> None:
        self.ys, self.ye = _bins(np.asarray(y0), np.asarray(y1), out_h)  # (N, out_h)
        self.xs, self.xe = _bins(np.asarray(x0), np.asarray(x1), out_w)  # (N, out_w)
        n = len(self.ys)
        if n and int((self.ye - self.ys).max()) * int((self.xe - self.xs).max()) * 255 >= 2**32:
            raise ValueError("a window this large has sums beyond 32 bits; see IntegralImage")
        self.shape = (n, out_h, 3, out_w)
        self.out = np.empty((n * out_h, 3, out_w), dtype=np.uint32)
        self.means = self.out.view(np.float32)
        self.row = integral._row
        self.channel = integral._channel
        self.step = max(1, _INDEX_ELEMENTS // (3 * out_w))  # windows' rows per numpy call
        self.first_row = int(self.ys.min()) if n else 0
        self.last_row = int(self.ye.max()) if n else -1
        self.done = n == 0
        # Sorted (rows, flat index) of starts and of ends, made when first needed.
        self.events: list[tuple[np.ndarray, np.ndarray]] | None = None

    def take(self, r0: int, r1: int, band: np.ndarray) -> None:
        """Use table rows r0..r1-1 (`band`, flat)."""
        if self.done or self.last_row < r0:
            return
        if self.events is None and r0 <= self.first_row and self.last_row < r1:
            for c in range(0, len(self.out), self.step):
                self._direct(c, min(c + self.step, len(self.out)), r0, band)
            self.done = True
            return
        if self.events is None:
            self.events = []
            for rows in (self.ys, self.ye):
                flat = rows.reshape(-1)
                order = np.argsort(flat, kind="stable")
                self.events.append((flat[order], order))
        for is_end, (rows, order) in enumerate(self.events):  # starts first: D(ys) must be there
            a, b = (int(v) for v in np.searchsorted(rows, (r0, r1)))
            for c in range(a, b, self.step):
                self._rows(is_end, rows[c : min(b, c + self.step)] - r0, order[c : min(b, c + self.step)], band)

    def _lookup(self, band: np.ndarray, rows: np.ndarray, k: np.ndarray) -> np.ndarray:
        """D(r) = T[r, xe] - T[r, xs] for table rows `rows` (within the band) of regions `k`: (M, 3, out_w)."""
        base = (rows * self.row)[:, None, None] + self.channel
        d = np.take(band, base + self.xe[k][:, None, :])
        d -= np.take(band, base + self.xs[k][:, None, :])  # modulo 2**32: see IntegralImage
        return d

    def _mean(self, sums: np.ndarray, k: np.ndarray, i: np.ndarray) -> np.ndarray:
        counts = ((self.ye - self.ys)[k, i][:, None] * (self.xe - self.xs)[k])[:, None, :]
        # Exact integer sums over small counts: one float32 division, as the pooling's own average.
        return np.divide(sums, counts, dtype=np.float32)

    def _direct(self, c0: int, c1: int, r0: int, band: np.ndarray) -> None:
        """Windows c0..c1-1 (flat: region * out_h + output row), whose rows all lie in this band."""
        k, i = np.divmod(np.arange(c0, c1), self.shape[1])
        sums = self._lookup(band, self.ye[k, i] - r0, k)
        sums -= self._lookup(band, self.ys[k, i] - r0, k)  # the window sums, exact
        self.means[c0:c1] = self._mean(sums, k, i)

    def _rows(self, is_end: int, rows: np.ndarray, flat: np.ndarray, band: np.ndarray) -> None:
        """Windows `flat` start (is_end 0) or end (1) on table rows `rows` of this band."""
        k, i = np.divmod(flat, self.shape[1])
        d = self._lookup(band, rows, k)
        if not is_end:
            self.out[flat] = d
            return
        d -= self.out[flat]  # the window sums, exact
        self.means[flat] = self._mean(d, k, i)

    def result(self) -> np.ndarray:
        return self.means.reshape(self.shape).transpose(0, 2, 1, 3)


def _bins(start: np.ndarray, end: np.ndarray, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive pooling's window bounds: [floor(i*n/out), ceil((i+1)*n/out)) within each region."""
    n = (end - start)[:, None]
    i = np.arange(out)[None, :]
    lo = (i * n) // out
    hi = -((-(i + 1) * n) // out)
    return start[:, None] + lo, start[:, None] + hi


def _normalise(x: np.ndarray) -> np.ndarray:
    """Pixels to about ±1, in place (the same two float32 operations as out of place)."""
    np.subtract(x, np.float32(127.5), out=x)
    np.multiply(x, np.float32(0.0078125), out=x)
    return x


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by IoU suppression, highest score first (torchvision.ops.nms's rule)."""
    return _suppress(
        boxes, scores, extent=0, keeps=lambda inter, top, rest: ~(inter / (top + rest - inter) > threshold)
    )


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """O-Net's final suppression: overlap over the smaller box, +1 pixel areas (MTCNN's 'Min')."""
    return _suppress(boxes, scores, extent=1, keeps=lambda inter, top, rest: inter / np.minimum(top, rest) <= threshold)


def _suppress(
    boxes: np.ndarray,
    scores: np.ndarray,
    *,
    extent: int,
    keeps: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Greedy suppression: take the best-scoring box, drop the rest it overlaps, repeat.

    extent: 0 for continuous coordinates, 1 when a box's edges are inclusive pixel indices.
    keeps(intersection, area of the taken box, areas of the others) → which others survive.
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    area = (x2 - x1 + extent) * (y2 - y1 + extent)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + extent)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + extent)
        order = rest[keeps(w * h, area[i], area[rest])]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Each box made square around its centre, on its longer side (MTCNN's rerec)."""
    boxes = boxes.copy()
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = np.maximum(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply R/O-Net's box regression (offsets in units of the +1-pixel box size)."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, 0] += reg[:, 0] * w
    boxes[:, 1] += reg[:, 1] * h
    boxes[:, 2] += reg[:, 2] * w
    boxes[:, 3] += reg[:, 3] * h
    return boxes


def _clip(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integer crop bounds, 1-based inclusive like MTCNN's pad(): y, ey, x, ex."""
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x = np.maximum(b[:, 0], 1)
    y = np.maximum(b[:, 1], 1)
    ex = np.minimum(b[:, 2], width)
    ey = np.minimum(b[:, 3], height)
    return y, ey, x, ex


def _crops(integral: IntegralImage, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised size x size crops of the boxes that still cover a pixel, and which boxes those are."""
    y, ey, x, ex = _clip(boxes, integral.width, integral.height)
    valid = np.flatnonzero((ey > y - 1) & (ex > x - 1))
    crops = integral.resample(y[valid] - 1, ey[valid], x[valid] - 1, ex[valid], size, size)
    return _normalise(crops), valid


def pyramid(height: int, width: int, min_face_size: float) -> list[float]:
    """The scales P-Net runs at: 12 px cells map to min_face_size, then shrink by FACTOR down to 12 px."""
    scale = 12.0 / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= FACTOR
        side *= FACTOR
    return scales


def _proposals(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """(N, 9) boxes x1, y1, x2, y2, score, reg0..3 for every P-Net cell above the threshold."""
    score = prob[0, 1]
    ys, xs = np.nonzero(score >= threshold)  # row-major, as torch's nonzero
    if ys.size == 0:
        return np.zeros((0, 9), dtype=np.float32)
    cells = np.stack([xs, ys], axis=1).astype(np.float32)
    q1 = np.floor((STRIDE * cells + 1) / np.float32(scale))
    q2 = np.floor((STRIDE * cells + CELL) / np.float32(scale))
    return np.concatenate([q1, q2, score[ys, xs][:, None], reg[0][:, ys, xs].T], axis=1).astype(np.float32)


def _pnet(nets: Nets, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P-Net over a (1, 3, H, W) level, in bands of rows when the level is large.

    P-Net is a 3x3 convolution, a 2x2 max-pool (stride 2, ceil mode), then two 3x3 convolutions and
    1x1 heads: output row i sees input rows [2i, 2i + 12) and nothing else. A band of output rows
    [i0, i1) is therefore P-Net over input rows [2*i0, 2*i1 + 10): an even start keeps the pooling
    windows where the whole level has them, and the last band runs to the level's end so the
    ceil-mode edge is the same too. ONNX Runtime gives each cell the same float32 value either way
    (tests/functions/test_detection.py); a band's activations are bounded where the whole of an 8K frame's
    first level took ~430 MB.
    """
    _, _, height, width = level.shape
    out_rows = -(-(height - 2) // 2) - 4
    band_rows = max(1, (PNET_TILE_PIXELS // width - (CELL - STRIDE)) // STRIDE)
    if out_rows <= band_rows:
        return nets.pnet(np.ascontiguousarray(level))
    regs, probs = [], []
    for i0 in range(0, out_rows, band_rows):
        i1 = min(i0 + band_rows, out_rows)
        end = STRIDE * i1 + CELL - STRIDE if i1 < out_rows else height
        reg, prob = nets.pnet(np.ascontiguousarray(level[:, :, STRIDE * i0 : end]))
        regs.append(reg)
        probs.append(prob)
    return np.concatenate(regs, axis=2), np.concatenate(probs, axis=2)


def _batched(net: Callable[[np.ndarray], Sequence[np.ndarray]], crops: np.ndarray, batch: int) -> list[np.ndarray]:
    """`net` over the crops, `batch` at a time (each crop's outputs do not depend on the others)."""
    if len(crops) <= batch:
        return list(net(np.ascontiguousarray(crops)))
    parts = [net(np.ascontiguousarray(crops[i : i + batch])) for i in range(0, len(crops), batch)]
    return [np.concatenate([part[k] for part in parts]) for k in range(len(parts[0]))]


def detect(frame: np.ndarray | IntegralImage, nets: Nets, min_face_size: float) -> Detections | None:
    """Every face in a frame, largest first; None when there is none.

    frame: an HxWx3 uint8 RGB array, or an IntegralImage over one (IntegralImage.from_rows reads
    a large frame a band at a time).
    """
    integral = frame if isinstance(frame, IntegralImage) else IntegralImage(frame)
    h, w = integral.height, integral.width

    # Stage 1: P-Net over the pyramid; every level resampled in one pass over the frame.
    scales = pyramid(h, w, min_face_size)
    levels = integral.resample_all([(*_whole_frame(h, w), int(h * scale + 1), int(w * scale + 1)) for scale in scales])
    found = []
    for scale in scales:
        reg, prob = _pnet(nets, _normalise(levels.pop(0)))
        boxes = _proposals(reg, prob, scale, THRESHOLDS[0])
        if len(boxes):
            found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
    if not found:
        return None
    boxes = np.concatenate(found)
    boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
    regw = boxes[:, 2] - boxes[:, 0]
    regh = boxes[:, 3] - boxes[:, 1]
    boxes = np.stack(
        [
            boxes[:, 0] + boxes[:, 5] * regw,
            boxes[:, 1] + boxes[:, 6] * regh,
            boxes[:, 2] + boxes[:, 7] * regw,
            boxes[:, 3] + boxes[:, 8] * regh,
            boxes[:, 4],
        ],
        axis=1,
    )
    boxes = _square(boxes)

    # Stage 2: R-Net refines and rejects.
    crops, valid = _crops(integral, boxes, 24)
    if not len(valid):
        return None
    reg, prob = _batched(nets.rnet, crops, RNET_BATCH)
    del crops
    keep = prob[:, 1] > THRESHOLDS[1]
    boxes = np.concatenate([boxes[valid][keep, :4], prob[keep, 1:2]], axis=1)
    reg = reg[keep]
    pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
    boxes = _square(_regress(boxes[pick], reg[pick]))
    if not len(boxes):
        return None

    # Stage 3: O-Net gives the final boxes, scores and landmarks.
    crops, valid = _crops(integral, boxes, 48)
    if not len(valid):
        return None
    reg, points, prob = _batched(nets.onet, crops, ONET_BATCH)
    del crops
    keep = prob[:, 1] > THRESHOLDS[2]
    boxes = np.concatenate([boxes[valid][keep, :4], prob[keep, 1:2]], axis=1)
    reg, points = reg[keep], points[keep]
    bw = boxes[:, 2:3] - boxes[:, 0:1] + 1
    bh = boxes[:, 3:4] - boxes[:, 1:2] + 1
    landmarks = np.stack([bw * points[:, :5] + boxes[:, 0:1] - 1, bh * points[:, 5:10] + boxes[:, 1:2] - 1], axis=2)
    boxes = _regress(boxes, reg)
    pick = nms_min(boxes[:, :4], boxes[:, 4], 0.7)
    boxes, landmarks = boxes[pick], landmarks[pick]
    if not len(boxes):
        return None

    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
    return Detections(boxes=boxes[order, :4], probs=boxes[order, 4], points=landmarks[order])
