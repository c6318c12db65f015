"""analysis: timeline: follow faces between consecutive samples so a face that stays on screen is not
embedded at every sample (issue 20, cost per video-hour).

Detection still runs on every sample and gives the boxes; each box is matched to the previous
sample's tracks by box overlap (greedy, highest IoU first). A matched face reuses its track's result
(name, distance, embedding); a face is embedded again when its track is new, changed (overlap under
MIN_IOU, area grown or shrunk past MAX_AREA_RATIO since the track's embedding, detection probability
dropped by more than MAX_PROBABILITY_DROP) or old (`max_age_s` since its embedding; 0 turns tracking
off). Pure Python, generic in what a track carries. Why these numbers: functions/README.md (Tracking).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Box = tuple[float, float, float, float]  # x1, y1, x2, y2
T = TypeVar("T")

MIN_IOU = 0.5  # PASCAL VOC's "same object" overlap
MAX_AREA_RATIO = 1.5  # the box's area against the area it had when its track was embedded, either way
MAX_PROBABILITY_DROP = 0.05  # below the embedded sample's detection probability by more: a changed face
_CLOCK_SLACK_S = 1e-3  # sample times carry ffmpeg's millisecond rounding


def area(box: Box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0 when either is empty."""
    inter = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def greedy_pairs(previous: Sequence[Box], current: Sequence[Box], min_iou: float = MIN_IOU) -> dict[int, int]:
    """current index → previous index, each used at most once, highest overlap first (ties to the
    lower indices: the larger boxes, as detection orders them), only pairs at or over `min_iou`."""
    scored = sorted(
        ((iou(p, c), j, i) for i, p in enumerate(previous) for j, c in enumerate(current)),
        key=lambda s: (-s[0], s[1], s[2]),
    )
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for overlap, j, i in scored:
        if overlap < min_iou or overlap <= 0:
            break
        if j not in pairs and i not in used:
            pairs[j] = i
            used.add(i)
    return pairs


@dataclass(frozen=True)
class Track(Generic[T]):
    box: Box  # in the latest sample
    embedded_box: Box  # when `value` was computed
    embedded_probability: float
    embedded_t: float
    value: T


class Tracker(Generic[T]):
    """The tracks of one sequence of samples (one video, or one segment of it), in time order."""

    def __init__(self, max_age_s: float) -> None:
        if not max_age_s >= 0:
            raise ValueError(f"max_age_s={max_age_s!r}: a track's age limit is 0 (off) or more seconds")
        self.max_age_s = max_age_s
        self._tracks: list[Track[T]] = []
        self.reused = 0  # faces given their track's value so far
        self.computed = 0  # faces computed so far

    def continues(self, track: Track[T], t: float, box: Box, probability: float) -> bool:
        """Whether `box` at `t`, matched to `track` by overlap, may keep the track's value."""
        if t - track.embedded_t >= self.max_age_s - _CLOCK_SLACK_S:
            return False
        before, now = area(track.embedded_box), area(box)
        if before <= 0 or now <= 0 or max(before, now) > MAX_AREA_RATIO * min(before, now):
            return False
        return probability >= track.embedded_probability - MAX_PROBABILITY_DROP

    def step(self, t: float, found: Sequence[tuple[Box, float]], compute: Callable[[int], T]) -> list[tuple[T, bool]]:
        """Each found (box, probability) of the sample at `t`: its value and whether it was reused
        from a track (False: `compute(index)` made it). The found faces become the tracks."""
        pairs = greedy_pairs([track.box for track in self._tracks], [box for box, _ in found])
        out: list[tuple[T, bool]] = []
        tracks: list[Track[T]] = []
        for j, (box, probability) in enumerate(found):
            track = self._tracks[pairs[j]] if j in pairs else None
            if track is not None and self.continues(track, t, box, probability):
                tracks.append(Track(box, track.embedded_box, track.embedded_probability, track.embedded_t, track.value))
                out.append((track.value, True))
                self.reused += 1
            else:
                value = compute(j)
                tracks.append(Track(box, box, probability, t, value))
                out.append((value, False))
                self.computed += 1
        self._tracks = tracks
        return out
