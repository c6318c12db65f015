"""What each video should give: the course's rule, or labels from a JSON file (tools/timelines.py)."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools import timelines

COURSE_NAMES = ["Trump", "Biden", "Bean", "Depp", "Diesel", "Floki", "Freeman", "Obama"]
_TRAILING_NUMBER = re.compile(r"(\d+)$")

Expectation = Callable[[str], str | None]


def _stem_name(key: str) -> str:
    return posixpath.splitext(posixpath.basename(key))[0]


def course_expectation(key: str) -> str | None:
    """The course's expected name for `test_NN.mp4` (NN % 8); None for a key without a number."""
    match = _TRAILING_NUMBER.search(_stem_name(key))
    return COURSE_NAMES[int(match.group(1)) % len(COURSE_NAMES)] if match else None


class MappingExpectation:
    """Labels from a mapping {video: label}, looked up by the video's key, then its file name, then
    its stem. Called, it gives the text answer the label expects; `label` gives the whole label, which
    in timeline mode also says who appears (and when: tools/timelines.py)."""

    def __init__(self, mapping: dict[str, Any]):
        for video, value in mapping.items():
            timelines.check_label(value, str(video))
        self.mapping = mapping
        self.label = timelines.lookup_in(mapping)

    def __call__(self, key: str) -> str | None:
        return timelines.answer_of(self.label(key))


def mapping_expectation(mapping: dict[str, Any]) -> MappingExpectation:
    return MappingExpectation(mapping)


def timeline_labels(expect: Expectation | None, key: str) -> timelines.Labels | None:
    """Who a video should show (and when, if labelled): from its whole label, or its expected name."""
    if expect is None:
        return None
    if isinstance(expect, MappingExpectation):
        return timelines.labels_of(expect.label(key), key)
    return timelines.labels_of(expect(key), key)


def load_expectation(spec: str | None) -> Expectation | None:
    """`course`, a JSON file {video: name}, or None (results are reported, not judged)."""
    if spec is None:
        return None
    if spec == "course":
        return course_expectation
    path = Path(spec)
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--expect {spec}: neither 'course' nor a readable JSON file ({exc})") from None
    if not isinstance(mapping, dict):
        raise ValueError(f"--expect {spec}: expected a JSON object {{video: name}}")
    try:
        return mapping_expectation(mapping)
    except timelines.LabelError as exc:
        raise ValueError(f"--expect {spec}: {exc}") from None
