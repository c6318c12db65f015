"""detection.py's pieces against the facenet-pytorch / torchvision operations they replace."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from facenet_pytorch.models.utils import detect_face as fp

from face_recognizer import detection


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, size=(181, 263, 3), dtype=np.uint8)


def reference_area(frame: np.ndarray, y0: int, y1: int, x0: int, x1: int, h: int, w: int) -> np.ndarray:
    region = torch.as_tensor(frame).permute(2, 0, 1).float()[None, :, y0:y1, x0:x1]
    return fp.imresample(region, (h, w)).numpy()


@pytest.mark.parametrize("size", [(91, 132), (64, 93), (12, 17), (181, 263), (200, 300)])
def test_whole_frame_resampling_matches_facenet_area_interpolation(frame, size):
    ours = detection.IntegralImage(frame).whole(*size)
    assert ours.shape == (1, 3, *size) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference_area(frame, 0, 181, 0, 263, *size), rtol=0, atol=1e-4)


def test_crop_resampling_matches_facenet_for_many_boxes_at_once(frame):
    rng = np.random.default_rng(4)
    y0 = rng.integers(0, 150, 30)
    x0 = rng.integers(0, 230, 30)
    y1 = np.minimum(y0 + rng.integers(1, 80, 30), 181)
    x1 = np.minimum(x0 + rng.integers(1, 80, 30), 263)
    for size in (24, 48):
        ours = detection.IntegralImage(frame).resample(y0, y1, x0, x1, size, size)
        for k in range(30):
            expected = reference_area(frame, y0[k], y1[k], x0[k], x1[k], size, size)[0]
            np.testing.assert_allclose(ours[k], expected, rtol=0, atol=1e-4)


def test_integral_image_refuses_anything_but_8_bit_rgb():
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        detection.IntegralImage(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        detection.IntegralImage(np.zeros((4, 4), dtype=np.uint8))


def random_boxes(rng, n):
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 60, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32)


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_nms_keeps_what_torchvision_keeps_in_the_same_order(threshold):
    rng = np.random.default_rng(5)
    for _ in range(20):
        boxes, scores = random_boxes(rng, 80)
        expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy()
        np.testing.assert_array_equal(detection.nms(boxes, scores, threshold), expected)


def test_min_nms_keeps_what_mtcnn_keeps():
    rng = np.random.default_rng(6)
    for _ in range(20):
        boxes, scores = random_boxes(rng, 60)
        expected = fp.nms_numpy(boxes, scores, 0.7, "Min")
        assert sorted(detection.nms_min(boxes, scores, 0.7).tolist()) == sorted(expected.tolist())


def test_pyramid_is_mtcnns():
    # facenet-pytorch's rule: start at 12/min_face, shrink by 0.709 while the short side stays >= 12 px.
    scales = detection.pyramid(720, 1280, 20)
    assert scales[0] == pytest.approx(0.6) and len(scales) == 11
    assert all(b / a == pytest.approx(0.709) for a, b in zip(scales, scales[1:], strict=False))
    assert 720 * scales[-1] >= 12 > 720 * scales[-1] * 0.709
    assert detection.pyramid(20, 20, 40) == []


def test_a_frame_with_nothing_to_find_gives_none():
    class NoFaces:
        def pnet(self, x):
            h, w = (x.shape[2] - 10) // 2 + 1, (x.shape[3] - 10) // 2 + 1
            return np.zeros((1, 4, h, w), np.float32), np.zeros((1, 2, h, w), np.float32)

        def rnet(self, x):
            raise AssertionError("R-Net must not run without proposals")

        onet = rnet

    assert detection.detect(np.zeros((120, 160, 3), np.uint8), NoFaces(), 20) is None


# -- bounded memory, same numbers (issue 9) ---------------------------------------------------------


def int64_means(frame: np.ndarray, y0: int, y1: int, x0: int, x1: int, h: int, w: int) -> np.ndarray:
    """(3, h, w): adaptive average pooling of a region from exact int64 sums, one bin at a time."""
    out = np.empty((3, h, w), dtype=np.float32)
    for i in range(h):
        ys, ye = y0 + (i * (y1 - y0)) // h, y0 + -(-((i + 1) * (y1 - y0)) // h)
        for j in range(w):
            xs, xe = x0 + (j * (x1 - x0)) // w, x0 + -(-((j + 1) * (x1 - x0)) // w)
            sums = frame[ys:ye, xs:xe].sum(axis=(0, 1), dtype=np.int64)
            out[:, i, j] = np.divide(sums, (ye - ys) * (xe - xs), dtype=np.float32)
    return out


@pytest.mark.slow
def test_the_uint32_table_is_exact_where_int32_overflowed_and_the_table_wraps():
    """An 18-megapixel bright frame: int32 overflowed above ~8.4 MP, and the uint32 table's own
    entries wrap around 2**32 here; every window sum must still be exact (modular arithmetic)."""
    h, w = 4096, 4400
    frame = np.random.default_rng(8).integers(240, 256, size=(h, w, 3), dtype=np.uint8)
    assert int(frame[..., 0].sum(dtype=np.int64)) > 2**32 > 255 * 8_400_000
    rng = np.random.default_rng(9)
    y0, x0 = rng.integers(0, h - 600, 12), rng.integers(0, w - 600, 12)
    side = rng.integers(24, 600, 12)
    boxes = (y0, y0 + side, x0, x0 + side)
    boxes[0][0], boxes[1][0], boxes[2][0], boxes[3][0] = h - 300, h, w - 300, w  # the wrapped corner
    for kept in (False, True):  # built band by band (the default at this size), or kept whole
        integral = detection.IntegralImage(frame, cache_bytes=(1 << 31) if kept else detection.TABLE_CACHE_BYTES)
        whole, crops = integral.resample_all([(*detection._whole_frame(h, w), 12, 13), (*boxes, 24, 24)])
        np.testing.assert_array_equal(whole[0], int64_means(frame, 0, h, 0, w, 12, 13))
        for k in range(12):
            np.testing.assert_array_equal(
                crops[k], int64_means(frame, boxes[0][k], boxes[1][k], boxes[2][k], boxes[3][k], 24, 24)
            )


def pyramid_and_crops(integral, h, w):
    rng = np.random.default_rng(10)
    y0, x0 = rng.integers(0, h - 40, 50), rng.integers(0, w - 40, 50)
    y1, x1 = np.minimum(y0 + rng.integers(1, 300, 50), h), np.minimum(x0 + rng.integers(1, 300, 50), w)
    levels = [(*detection._whole_frame(h, w), int(h * s + 1), int(w * s + 1)) for s in detection.pyramid(h, w, 20)]
    return integral.resample_all([*levels, (y0, y1, x0, x1, 24, 24), (y0, y1, x0, x1, 48, 48)])


def test_a_table_built_band_by_band_gives_the_kept_tables_numbers():
    h, w = 611, 803
    frame = np.random.default_rng(11).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    kept = pyramid_and_crops(detection.IntegralImage(frame), h, w)
    reads = []

    def rows(a, b):
        reads.append((a, b))
        return frame[a:b]

    for band_rows in (2, 7, 64):  # windows that start in one band and end several bands later
        banded = detection.IntegralImage.from_rows(rows, h, w, cache_bytes=0, band_bytes=band_rows * 12 * (w + 1))
        for ours, theirs in zip(pyramid_and_crops(banded, h, w), kept, strict=True):
            assert ours.shape == theirs.shape and ours.dtype == np.float32
            np.testing.assert_array_equal(ours, theirs)
    assert max(b - a for a, b in reads) <= 64  # never more of the frame at once than a band


@pytest.fixture(scope="module")
def nets(model_dir):
    from face_recognizer.onnx_models import OnnxFaceModels

    return OnnxFaceModels.load(model_dir, 1)


def test_pnet_in_bands_of_rows_gives_the_whole_levels_numbers(nets, monkeypatch):
    rng = np.random.default_rng(12)
    for height, width in ((12, 40), (13, 97), (120, 151), (241, 333), (300, 64)):
        level = rng.random((1, 3, height, width), dtype=np.float32) * 2 - 1
        reg, prob = nets.pnet(level)
        for pixels in (1, 40 * width, 100 * width):
            monkeypatch.setattr(detection, "PNET_TILE_PIXELS", pixels)
            banded = detection._pnet(nets, level)
            np.testing.assert_array_equal(banded[0], reg)
            np.testing.assert_array_equal(banded[1], prob)


def test_rnet_and_onet_in_batches_give_the_same_numbers(nets):
    rng = np.random.default_rng(13)
    for net, size in ((nets.rnet, 24), (nets.onet, 48)):
        crops = rng.random((70, 3, size, size), dtype=np.float32) * 2 - 1
        whole = net(crops)
        for batch in (1, 16, 69):
            for ours, theirs in zip(detection._batched(net, crops, batch), whole, strict=True):
                np.testing.assert_array_equal(ours, theirs)


def test_detection_with_tiny_memory_budgets_finds_exactly_the_same_faces(nets, monkeypatch):
    from PIL import Image

    from face_recognizer.onnx_models import frame_rows
    from tools.demo import samples

    image = Image.fromarray(samples.image("pair"))
    expected = detection.detect(np.asarray(image), nets, nets.min_face_size)
    assert expected is not None and len(expected) == 2
    for name, value in (
        ("TABLE_CACHE_BYTES", 0),
        ("BAND_BYTES", 1),
        ("PNET_TILE_PIXELS", 1),
        ("RNET_BATCH", 3),
        ("ONET_BATCH", 1),
    ):
        monkeypatch.setattr(detection, name, value)
    found = detection.detect(frame_rows(image), nets, nets.min_face_size)
    for field in ("boxes", "probs", "points"):
        np.testing.assert_array_equal(getattr(found, field), getattr(expected, field))
