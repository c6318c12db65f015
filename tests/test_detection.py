"""detection.py's pieces against the facenet-pytorch / torchvision operations they replace."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from facenet_pytorch.models.utils import detect_face as fp

from face_recognition import detection


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
    assert all(b / a == pytest.approx(0.709) for a, b in zip(scales, scales[1:]))
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
