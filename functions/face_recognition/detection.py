"""MTCNN's detection pipeline in NumPy, around any runner of its three networks.

The same steps and constants as facenet-pytorch 2.6's `detect_face` for one image (scale pyramid,
P-Net proposals with per-scale and global non-maximum suppression, R-Net and O-Net refinement,
box regression, squaring and clipping), so a given set of network weights finds the same boxes.
What differs is only how the work is done, because that is where the time went (bench/, README
Performance):

- Area resampling. facenet-pytorch resizes the whole frame once per pyramid scale and every
  candidate crop one at a time with `interpolate(mode="area")` (adaptive average pooling); that
  was about half of detection. Here one integer integral image of the frame answers every window
  sum of every scale and every crop with four lookups. Window bounds follow adaptive pooling's
  rule, and the sums of 8-bit pixels are exact integers, so the resampled values are the same
  numbers (to float32 rounding of one division).
- No torch: the networks are whatever `nets` runs (ONNX Runtime in the function), so the function
  does not import torch at all.

Detection semantics: faces smaller than `min_face_size` pixels are not searched for; when several
faces are found they are ordered largest box first (MTCNN's select_largest, the course's choice).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np

THRESHOLDS = (0.6, 0.7, 0.7)   # facenet-pytorch MTCNN defaults, P/R/O-Net
FACTOR = 0.709                 # pyramid scale step (its default)
CELL = 12                      # P-Net's receptive field
STRIDE = 2


class Nets(Protocol):
    """The three MTCNN networks on float32 NCHW batches (pixels already scaled to about ±1)."""

    def pnet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...          # reg (1,4,h,w), prob (1,2,h,w)

    def rnet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...          # reg (N,4), prob (N,2)

    def onet(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...  # reg, points (N,10), prob


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray    # (N, 4) float32 x1, y1, x2, y2, largest first
    probs: np.ndarray    # (N,)
    points: np.ndarray   # (N, 5, 2) landmarks

    def __len__(self) -> int:
        return len(self.boxes)


class IntegralImage:
    """Window means of an 8-bit HxWx3 image by adaptive average pooling's bounds, from one integral image."""

    def __init__(self, pixels: np.ndarray):
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 image, got {pixels.dtype} {pixels.shape}")
        h, w, _ = pixels.shape
        self.height, self.width = h, w
        # Exact integer sums; int32 holds them for any frame up to ~8 megapixels. Laid out
        # (row, channel, column) so both running sums walk contiguous memory: along each row in
        # one call, then down the rows one row at a time (numpy's cumsum along the outer axis, or
        # with the channels innermost, measured 2-3x slower at 720p).
        dtype = np.int32 if 255 * h * w < 2**31 else np.int64
        table = np.zeros((h + 1, 3, w + 1), dtype=dtype)
        inner = table[1:, :, 1:]
        inner[...] = pixels.transpose(0, 2, 1)
        np.cumsum(inner, axis=2, out=inner)
        for i in range(2, h + 1):
            np.add(table[i], table[i - 1], out=table[i])
        self._flat = table.reshape(-1)
        self._row = 3 * (w + 1)
        self._channel = np.arange(3)[None, :, None, None] * (w + 1)

    def resample(self, y0: np.ndarray, y1: np.ndarray, x0: np.ndarray, x1: np.ndarray,
                 out_h: int, out_w: int) -> np.ndarray:
        """(N, 3, out_h, out_w) float32: each region [y0:y1, x0:x1) area-resampled to out_h x out_w."""
        ys, ye = _bins(y0, y1, out_h)   # (N, out_h)
        xs, xe = _bins(x0, x1, out_w)   # (N, out_w)
        rows_s = (ys * self._row)[:, None, :, None] + self._channel
        rows_e = (ye * self._row)[:, None, :, None] + self._channel
        cols_s = xs[:, None, None, :]
        cols_e = xe[:, None, None, :]
        t = self._flat
        sums = (np.take(t, rows_e + cols_e) - np.take(t, rows_s + cols_e)
                - np.take(t, rows_e + cols_s) + np.take(t, rows_s + cols_s))
        counts = (ye - ys)[:, None, :, None] * (xe - xs)[:, None, None, :]
        # Exact integer sums over small counts: one float32 division, as the pooling's own average.
        return np.divide(sums, counts, dtype=np.float32)

    def whole(self, out_h: int, out_w: int) -> np.ndarray:
        one = np.array([0])
        return self.resample(one, np.array([self.height]), one, np.array([self.width]), out_h, out_w)


def _bins(start: np.ndarray, end: np.ndarray, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive pooling's window bounds: [floor(i*n/out), ceil((i+1)*n/out)) within each region."""
    n = (end - start)[:, None]
    i = np.arange(out)[None, :]
    lo = (i * n) // out
    hi = -((-(i + 1) * n) // out)
    return start[:, None] + lo, start[:, None] + hi


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x - np.float32(127.5)) * np.float32(0.0078125)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by IoU suppression, highest score first (torchvision.ops.nms's rule)."""
    return _suppress(boxes, scores, extent=0,
                     keeps=lambda inter, top, rest: ~(inter / (top + rest - inter) > threshold))


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """O-Net's final suppression: overlap over the smaller box, +1 pixel areas (MTCNN's 'Min')."""
    return _suppress(boxes, scores, extent=1,
                     keeps=lambda inter, top, rest: inter / np.minimum(top, rest) <= threshold)


def _suppress(boxes: np.ndarray, scores: np.ndarray, *, extent: int, keeps) -> np.ndarray:
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
    ys, xs = np.nonzero(score >= threshold)   # row-major, as torch's nonzero
    if ys.size == 0:
        return np.zeros((0, 9), dtype=np.float32)
    cells = np.stack([xs, ys], axis=1).astype(np.float32)
    q1 = np.floor((STRIDE * cells + 1) / np.float32(scale))
    q2 = np.floor((STRIDE * cells + CELL) / np.float32(scale))
    return np.concatenate([q1, q2, score[ys, xs][:, None], reg[0][:, ys, xs].T], axis=1).astype(np.float32)


def detect(pixels: np.ndarray, nets: Nets, min_face_size: float) -> Optional[Detections]:
    """Every face in an HxWx3 uint8 RGB frame, largest first; None when there is none."""
    integral = IntegralImage(pixels)
    h, w = integral.height, integral.width

    # Stage 1: P-Net over the pyramid.
    found = []
    for scale in pyramid(h, w, min_face_size):
        level = _normalise(integral.whole(int(h * scale + 1), int(w * scale + 1)))
        reg, prob = nets.pnet(level)
        boxes = _proposals(reg, prob, scale, THRESHOLDS[0])
        if len(boxes):
            found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
    if not found:
        return None
    boxes = np.concatenate(found)
    boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
    regw = boxes[:, 2] - boxes[:, 0]
    regh = boxes[:, 3] - boxes[:, 1]
    boxes = np.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
                      boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh, boxes[:, 4]], axis=1)
    boxes = _square(boxes)

    # Stage 2: R-Net refines and rejects.
    crops, valid = _crops(integral, boxes, 24)
    if not len(valid):
        return None
    reg, prob = nets.rnet(crops)
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
    reg, points, prob = nets.onet(crops)
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

