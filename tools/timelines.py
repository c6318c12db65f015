"""Timelines (analysis: timeline) judged against labels: which people a video shows, and optionally when.

Times match within one sampling interval, because that is as exact as a timeline can be. The label
format and the recall/precision it prints: tools/README.md (grade, Timelines).
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable, Iterable
from typing import Any

from face_recognizer.recognizer import NO_FACE, UNKNOWN

Ranges = list[tuple[float, float]]
Labels = dict[str, Ranges | None]  # person → their labelled time ranges (None: present, times not labelled)


class LabelError(ValueError):
    """A label is not one of the shapes above; the message names the video."""


def _ranges(value: Any, where: str) -> Ranges | None:
    if value is None:
        return None
    try:
        ranges = [(float(a), float(b)) for a, b in value]
    except (TypeError, ValueError):
        raise LabelError(f"{where}: time ranges must be [[start, end], ...] in seconds, got {value!r}") from None
    if any(not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b) for a, b in ranges):
        raise LabelError(f"{where}: each range must have 0 <= start < end, got {value!r}")
    return ranges


def _people(value: Any, where: str) -> Labels:
    if isinstance(value, str):
        return {} if value in (NO_FACE, UNKNOWN) else {value: None}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {name: None for name in value if name not in (NO_FACE, UNKNOWN)}
    if isinstance(value, dict):
        return {str(name): _ranges(r, f"{where}, {name}") for name, r in value.items()}
    raise LabelError(f"{where}: people must be a name, a list of names or {{name: ranges}}, got {value!r}")


def answer_of(value: Any) -> str | None:
    """The text answer a label expects, if it says."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("answer"), str):
        return value["answer"]
    return None


def labels_of(value: Any, where: str = "label") -> Labels | None:
    """The people (and times) a label expects; None when it says nothing about them."""
    if value is None:
        return None
    if isinstance(value, dict):
        unknown = set(value) - {"answer", "people"}
        if unknown:
            raise LabelError(f"{where}: a label object has `answer` and `people`, not {', '.join(sorted(unknown))}")
        if "people" not in value:
            return labels_of(value.get("answer"), where)
        return _people(value["people"], where)
    return _people(value, where)


def check_label(value: Any, where: str) -> None:
    labels_of(value, where)
    if isinstance(value, dict) and "answer" in value and not isinstance(value["answer"], str):
        raise LabelError(f"{where}: `answer` must be a name, got {value['answer']!r}")


# -- intervals -----------------------------------------------------------------------------------


def _union(ranges: Iterable[tuple[float, float]]) -> Ranges:
    merged: Ranges = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _length(ranges: Ranges) -> float:
    return sum(b - a for a, b in _union(ranges))


def _overlap(a: Ranges, b: Ranges) -> float:
    total = 0.0
    for x0, x1 in _union(a):
        for y0, y1 in _union(b):
            total += max(0.0, min(x1, y1) - max(x0, y0))
    return total


def _widen(ranges: Ranges, by: float) -> Ranges:
    return [(max(0.0, a - by), b + by) for a, b in ranges]


# -- one video -----------------------------------------------------------------------------------


def summary(document: dict) -> dict:
    """What a `<stem>.json` says, in short: the answer, each person's ranges, the no-face ranges."""
    return {
        "answer": document.get("answer"),
        "frames": document.get("frames_analysed"),
        "frames_without_face": document.get("frames_without_face"),
        "interval_s": document.get("interval_s"),
        "people": {p["name"]: [(r["start_s"], r["end_s"]) for r in p["ranges"]] for p in document.get("people", [])},
        "no_face": [(r["start_s"], r["end_s"]) for r in document.get("no_face", [])],
        "unknown": [(r["start_s"], r["end_s"]) for r in (document.get("unknown") or {}).get("ranges", [])],
        "database": (document.get("database") or {}).get("version"),
    }


def judge(found: dict, labels: Labels) -> dict:
    """How one video's timeline (summary()) compares with its labels."""
    tolerance = float(found.get("interval_s") or 0.0)
    people = found["people"]
    times = {}
    for name, wanted in labels.items():
        if wanted is None or name not in people:
            continue
        got = people[name]
        times[name] = {
            "labelled_s": round(_length(wanted), 3),
            "found_s": round(_length(got), 3),
            "covered_s": round(_overlap(wanted, _widen(got, tolerance)), 3),
            "within_s": round(_overlap(got, _widen(wanted, tolerance)), 3),
        }
    missing = sorted(set(labels) - set(people))
    extra = sorted(set(people) - set(labels))
    on_time = all(
        math.isclose(t["covered_s"], t["labelled_s"], abs_tol=1e-3)
        and math.isclose(t["within_s"], t["found_s"], abs_tol=1e-3)
        for t in times.values()
    )
    return {"correct": not missing and not extra and on_time, "missing": missing, "extra": extra, "times": times}


def describe(found: dict) -> str:
    """`Collins 0-3 s, Cameraman 4-6 s; no face 3-4 s` for the table."""

    def spans(ranges: Ranges) -> str:
        return ", ".join(f"{a:g}-{b:g}" for a, b in ranges)

    parts = [f"{name} {spans(r)} s" for name, r in found["people"].items()]
    if found.get("unknown"):
        parts.append(f"unknown {spans(found['unknown'])} s")
    text = ", ".join(parts) or "nobody"
    if found.get("no_face"):
        text += f"; no face {spans(found['no_face'])} s"
    return text


# -- every video ---------------------------------------------------------------------------------


def scores(judged: list[tuple[dict, Labels]]) -> dict[str, dict]:
    """Per person over (timeline summary, labels) pairs: videos found in (recall, precision), and the
    labelled seconds where times are labelled."""
    out: dict[str, dict] = {}

    def person(name: str) -> dict:
        return out.setdefault(
            name, {"tp": 0, "fn": 0, "fp": 0, "labelled_s": 0.0, "covered_s": 0.0, "found_s": 0.0, "within_s": 0.0}
        )

    for found, labels in judged:
        people = found["people"]
        for name in set(labels) | set(people):
            p = person(name)
            if name in labels and name in people:
                p["tp"] += 1
            elif name in labels:
                p["fn"] += 1
            else:
                p["fp"] += 1
        for name, t in judge(found, labels)["times"].items():
            p = person(name)
            for k in ("labelled_s", "covered_s", "found_s", "within_s"):
                p[k] += t[k]
    for p in out.values():
        p["recall"] = p["tp"] / (p["tp"] + p["fn"]) if p["tp"] + p["fn"] else None
        p["precision"] = p["tp"] / (p["tp"] + p["fp"]) if p["tp"] + p["fp"] else None
        p["time_recall"] = p["covered_s"] / p["labelled_s"] if p["labelled_s"] else None
        p["time_precision"] = p["within_s"] / p["found_s"] if p["found_s"] else None
        for k in ("labelled_s", "covered_s", "found_s", "within_s"):
            p[k] = round(p[k], 3)
    return dict(sorted(out.items()))


def score_lines(per_person: dict[str, dict]) -> list[str]:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"

    lines = []
    for name, p in per_person.items():
        timed = (
            f"; seconds: recall {pct(p['time_recall'])}, precision {pct(p['time_precision'])}"
            if p["time_recall"] is not None or p["time_precision"] is not None
            else ""
        )
        lines.append(
            f"  {name}: videos recall {pct(p['recall'])} ({p['tp']}/{p['tp'] + p['fn']}), "
            f"precision {pct(p['precision'])} ({p['tp']}/{p['tp'] + p['fp']}){timed}"
        )
    return lines


LabelLookup = Callable[[str], Any]


def lookup_in(mapping: dict) -> LabelLookup:
    """A video's raw label in `mapping`: by its key, then its file name, then its stem."""

    def find(key: str) -> Any:
        for candidate in (key, posixpath.basename(key), posixpath.splitext(posixpath.basename(key))[0]):
            if candidate in mapping:
                return mapping[candidate]
        return None

    return find
