"""face_recognizer.tracking: which faces of a sample keep their track's match and which are embedded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from face_recognizer.tracking import MAX_AREA_RATIO, MIN_IOU, Box, Tracker, greedy_pairs, iou


def box(x: float, y: float, w: float = 100.0, h: float = 100.0) -> Box:
    return (x, y, x + w, y + h)


class Counter:
    """`compute` for a tracker: a fresh label per call, so reuse shows as a repeated label."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, i: int) -> str:
        self.calls += 1
        return f"embedding-{self.calls}"


def labels(out: list[tuple[str, bool]]) -> list[str]:
    return [value for value, _ in out]


def test_iou_of_known_boxes():
    assert iou(box(0, 0), box(0, 0)) == 1.0
    assert iou(box(0, 0), box(200, 0)) == 0.0
    assert iou(box(0, 0), box(50, 0)) == pytest.approx(50 * 100 / (2 * 100 * 100 - 50 * 100))  # 1/3
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


coords = st.floats(0, 1000, allow_nan=False)
sizes = st.floats(1, 500, allow_nan=False)
boxes = st.builds(box, coords, coords, sizes, sizes)


@given(boxes, boxes)
def test_iou_is_symmetric_and_within_0_and_1(a, b):
    assert 0.0 <= iou(a, b) <= 1.0 + 1e-9
    assert iou(a, b) == pytest.approx(iou(b, a))


@given(st.lists(boxes, max_size=6), st.lists(boxes, max_size=6))
def test_greedy_pairs_use_each_box_once_and_only_overlapping_pairs(previous, current):
    pairs = greedy_pairs(previous, current)
    assert len(set(pairs.values())) == len(pairs)
    assert all(iou(previous[i], current[j]) >= MIN_IOU for j, i in pairs.items())


def test_greedy_pairs_take_the_highest_overlap_first():
    previous = [box(0, 0), box(60, 0)]
    current = [box(55, 0)]  # overlaps both, the second far more
    assert greedy_pairs(previous, current) == {0: 1}


def test_a_still_face_is_embedded_once_per_age_limit():
    tracker: Tracker[str] = Tracker(max_age_s=5)
    compute = Counter()
    seen = [labels(tracker.step(float(t), [(box(10, 10), 0.99)], compute)) for t in range(12)]
    # embedded at 0, 5 and 10 s; the samples between reuse the track's value
    assert [s[0] for s in seen] == ["embedding-1"] * 5 + ["embedding-2"] * 5 + ["embedding-3"] * 2
    assert compute.calls == 3 and (tracker.computed, tracker.reused) == (3, 9)


def test_age_zero_is_tracking_off():
    tracker: Tracker[str] = Tracker(max_age_s=0)
    compute = Counter()
    for t in range(4):
        [(_, reused)] = tracker.step(float(t), [(box(10, 10), 0.99)], compute)
        assert not reused
    assert compute.calls == 4


def test_a_moving_face_is_followed_while_its_boxes_overlap():
    tracker: Tracker[str] = Tracker(max_age_s=60)
    compute = Counter()
    for t in range(5):  # 20 px a sample on a 100 px face: IoU 0.67
        tracker.step(float(t), [(box(20.0 * t, 0), 0.99)], compute)
    assert compute.calls == 1
    tracker.step(5.0, [(box(200, 0), 0.99)], compute)  # a jump of 120 px: a new track
    assert compute.calls == 2


@pytest.mark.parametrize(
    "later, why",
    [
        ((box(10, 10, 130, 130), 0.99), "grown past MAX_AREA_RATIO (1.44x area is within, 1.69x is not)"),
        ((box(10, 10, 76, 76), 0.99), "shrunk past MAX_AREA_RATIO"),
        ((box(10, 10), 0.90), "detection probability dropped"),
        ((box(60, 10), 0.99), "overlap under MIN_IOU (0.25)"),
    ],
)
def test_a_changed_face_is_embedded_again(later, why):
    tracker: Tracker[str] = Tracker(max_age_s=60)
    compute = Counter()
    tracker.step(0.0, [(box(10, 10), 0.99)], compute)
    [(value, reused)] = tracker.step(1.0, [later], compute)
    assert not reused and value == "embedding-2", why


def test_area_within_the_ratio_keeps_the_track():
    tracker: Tracker[str] = Tracker(max_age_s=60)
    compute = Counter()
    tracker.step(0.0, [(box(10, 10), 0.99)], compute)
    side = 100 * MAX_AREA_RATIO**0.5 - 1  # just within, and overlapping by 1/ratio
    [(_, reused)] = tracker.step(1.0, [(box(10, 10, side, side), 0.97)], compute)
    assert reused


def test_area_drift_is_measured_against_the_embedded_box_not_the_last_one():
    tracker: Tracker[str] = Tracker(max_age_s=60)
    compute = Counter()
    for t, side in enumerate([100, 110, 121, 133]):  # +10% a sample: each step small, 1.77x in all
        tracker.step(float(t), [(box(0, 0, side, side), 0.99)], compute)
    assert compute.calls == 2  # at 0 s, and at 3 s when the area passed 1.5x the embedded one


def test_two_faces_keep_their_own_tracks_and_a_third_is_new():
    tracker: Tracker[str] = Tracker(max_age_s=60)
    compute = Counter()
    first = labels(tracker.step(0.0, [(box(0, 0), 0.99), (box(300, 0), 0.99)], compute))
    # the same two faces, listed the other way round, slightly moved, and a newcomer
    second = tracker.step(1.0, [(box(305, 0), 0.99), (box(5, 0), 0.99), (box(600, 0), 0.99)], compute)
    assert labels(second) == [first[1], first[0], "embedding-3"]
    assert [reused for _, reused in second] == [True, True, False]


def test_a_face_missing_from_one_sample_starts_a_new_track():
    tracker: Tracker[str] = Tracker(max_age_s=60)
    compute = Counter()
    tracker.step(0.0, [(box(0, 0), 0.99)], compute)
    tracker.step(1.0, [], compute)
    [(value, reused)] = tracker.step(2.0, [(box(0, 0), 0.99)], compute)
    assert (value, reused) == ("embedding-2", False)


faces = st.lists(st.tuples(boxes, st.floats(0.5, 1.0)), max_size=4)


@given(st.lists(faces, min_size=1, max_size=8), st.floats(0, 10))
def test_every_face_gets_a_value_and_reuse_never_outlives_the_age_limit(samples, max_age_s):
    tracker: Tracker[str] = Tracker(max_age_s=max_age_s)
    compute = Counter()
    made_at: dict[str, float] = {}
    for t, found in enumerate(samples):
        out = tracker.step(float(t), found, lambda i: compute(i))
        assert len(out) == len(found)
        for value, reused in out:
            if reused:
                assert value in made_at and t - made_at[value] < max_age_s
            else:
                made_at[value] = float(t)
    assert tracker.computed + tracker.reused == sum(len(f) for f in samples) and tracker.computed == compute.calls


def test_a_negative_age_is_refused():
    with pytest.raises(ValueError, match="max_age_s"):
        Tracker(max_age_s=-1)
