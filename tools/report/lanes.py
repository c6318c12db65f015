"""A video's timeline as SVG: one lane per person across the whole video, then the unknown faces and
the no-face stretches, each range a bar placed by its times, with its times and distance in a
<title> tooltip and a link to its row of the table (so every bar is reachable from the keyboard).

Colour is never the only cue: every lane is labelled with its name, and the unknown and no-face
lanes are hatched and dotted. Coordinates are in the SVG's own units (a 1000-wide viewBox), so
`x = LANE_X + t / duration * LANE_W` whatever the page's width; tests read them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

WIDTH = 1000
LANE_X = 180  # where the time axis starts: the lanes' names are to its left
LANE_W = WIDTH - LANE_X - 20
LANE_H = 28
GAP = 10
AXIS_H = 30
PALETTE = 6  # person lanes cycle through .lane-0 ... .lane-5 (report.css), each also labelled

PERSON, UNKNOWN, NO_FACE = "person", "unknown", "no-face"


@dataclass(frozen=True)
class Bar:
    start_s: float
    end_s: float
    tooltip: str  # plain text: escaped here
    anchor: str  # id of the table row it links to


@dataclass(frozen=True)
class Lane:
    label: str
    kind: str  # PERSON, UNKNOWN or NO_FACE
    bars: tuple[Bar, ...]


def x_of(t: float, duration_s: float) -> float:
    """Where time `t` falls on the axis, in the SVG's units."""
    if duration_s <= 0:
        return float(LANE_X)
    return LANE_X + max(0.0, min(t, duration_s)) / duration_s * LANE_W


def _ticks(duration_s: float) -> list[float]:
    """Round tick times: about five to ten of them."""
    if duration_s <= 0:
        return [0.0]
    step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 1e9) if duration_s / s <= 10)
    ticks, t = [], 0.0
    while t <= duration_s + 1e-9:
        ticks.append(round(t, 3))
        t += step
    return ticks


def _fill(kind: str, i: int) -> str:
    if kind == NO_FACE:
        return 'class="bar bar-none" fill="url(#hatch)"'
    if kind == UNKNOWN:
        return 'class="bar bar-unknown" fill="url(#dots)"'
    return f'class="bar lane-{i % PALETTE}"'


def svg(lanes: list[Lane], duration_s: float, *, title: str) -> str:
    """The lanes as one accessible SVG (role=img, its <title> and <desc> say what it shows)."""
    height = AXIS_H + len(lanes) * (LANE_H + GAP) + GAP
    parts = [
        f'<svg class="lanes" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="lanes-title lanes-desc" '
        f'data-duration="{duration_s:g}" data-lane-x="{LANE_X}" data-lane-w="{LANE_W}">',
        f'<title id="lanes-title">{escape(title)}</title>',
        f'<desc id="lanes-desc">{len(lanes)} lanes over {duration_s:g} s; the table below lists every range.</desc>',
        "<defs>",
        '<pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="8" height="8" class="hatch-bg"/><line x1="0" y1="0" x2="0" y2="8" class="hatch-line"/></pattern>',
        '<pattern id="dots" width="8" height="8" patternUnits="userSpaceOnUse">'
        '<rect width="8" height="8" class="dots-bg"/><circle cx="4" cy="4" r="2" class="dots-dot"/></pattern>',
        "</defs>",
    ]
    for t in _ticks(duration_s):
        x = x_of(t, duration_s)
        parts.append(
            f'<line class="tick" x1="{x:.2f}" y1="{AXIS_H - 6}" x2="{x:.2f}" y2="{height}"/>'
            f'<text class="tick-label" x="{x:.2f}" y="{AXIS_H - 10}" text-anchor="middle">{t:g} s</text>'
        )
    person = 0
    for n, lane in enumerate(lanes):
        y = AXIS_H + GAP + n * (LANE_H + GAP)
        parts.append(
            f'<g class="lane lane-kind-{lane.kind}" data-label="{escape(lane.label)}">'
            f'<text class="lane-label" x="{LANE_X - 8}" y="{y + LANE_H * 0.7:.1f}" text-anchor="end">'
            f"{escape(_short(lane.label))}</text>"
            f'<rect class="track" x="{LANE_X}" y="{y}" width="{LANE_W}" height="{LANE_H}"/>'
        )
        fill = _fill(lane.kind, person)
        for bar in lane.bars:
            x0, x1 = x_of(bar.start_s, duration_s), x_of(bar.end_s, duration_s)
            parts.append(
                f'<a href="#{escape(bar.anchor)}" class="bar-link">'
                f'<rect {fill} x="{x0:.2f}" y="{y}" width="{max(x1 - x0, 1.0):.2f}" height="{LANE_H}" '
                f'data-start="{bar.start_s:g}" data-end="{bar.end_s:g}">'
                f"<title>{escape(bar.tooltip)}</title></rect></a>"
            )
        parts.append("</g>")
        if lane.kind == PERSON:
            person += 1
    parts.append("</svg>")
    return "".join(parts)


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
