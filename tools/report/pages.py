"""The report's HTML pages, built from the report's model (tools/report/model.py) with the standard
library only: every piece of data (keys, names, reasons: anything a stack holds) goes through
html.escape, and every file name a page links to is one the report made (`video-3.html`,
`media/3/thumb-0.jpg`), never a key.
"""

from __future__ import annotations

from html import escape

from tools.report import lanes
from tools.report.assets import CSS_NAME, JS_NAME

NO_FACE, UNKNOWN = "no-face", "unknown"  # face_recognizer.recognizer's sentinels
STATUS_TEXT = {"answered": "✓ answered", "dead-lettered": "✗ dead-lettered", "pending": "… pending"}


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g} s"


def distance(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def page(title: str, body: str, *, script: bool = False) -> str:
    """A whole page: local stylesheet (and script), a skip link, the body in <main>."""
    js = f'<script src="{JS_NAME}" defer></script>' if script else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        # Nothing from elsewhere, ever: the browser itself refuses any request off this folder.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; img-src 'self'; "
        "style-src 'self'; script-src 'self'; connect-src 'none'; font-src 'none'; object-src 'none'\">"
        f"<title>{_e(title)}</title>"
        f'<link rel="stylesheet" href="{CSS_NAME}">{js}</head>'
        '<body><a class="skip" href="#main">Skip to content</a>'
        f'<main id="main">{body}</main></body></html>\n'
    )


def _status_cell(video: dict) -> str:
    status = video["status"]
    text = STATUS_TEXT.get(status, status)
    reason = f'<br><span class="meta">{_e(video.get("reason"))}</span>' if video.get("reason") else ""
    return f'<td class="status-{_e(status)}" data-label="status">{_e(text)}{reason}</td>'


def library_page(model: dict) -> str:
    """index.html: every video (status, answer, people, duration, database), every person with
    their videos, and a filter box."""
    videos = model["videos"]
    counts = {s: sum(1 for v in videos if v["status"] == s) for s in STATUS_TEXT}
    rows = []
    for v in videos:
        people = ", ".join(v.get("people") or []) or "-"
        words = " ".join([v["video"], v["status"], v.get("answer") or "", people, v.get("reason") or ""])
        rows.append(
            f'<tr data-filter="{_e(words)}"><td data-label="video"><a href="{_e(v["page"])}">{_e(v["video"])}</a></td>'
            f'{_status_cell(v)}<td data-label="answer">{_e(v.get("answer") or "-")}</td>'
            f'<td data-label="people">{_e(people)}</td>'
            f'<td class="num" data-label="duration">{_e(seconds(v.get("duration_s")))}</td>'
            f'<td class="wide" data-label="database">{_e(v.get("database") or "-")}</td></tr>'
        )
    by_person: dict[str, list[dict]] = {}
    for v in videos:
        for name in v.get("people") or []:
            by_person.setdefault(name, []).append(v)
    items = []
    for name in sorted(by_person, key=str.lower):
        links = ", ".join(f'<a href="{_e(v["page"])}">{_e(v["video"])}</a>' for v in by_person[name])
        words = " ".join([name, *(v["video"] for v in by_person[name])])
        n = len(by_person[name])
        plural = "video" if n == 1 else "videos"
        items.append(f'<li data-filter="{_e(words)}"><strong>{_e(name)}</strong> ({n} {plural}): {links}</li>')
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    body = (
        f"<h1>{_e(model.get('title') or 'Who appears when')}</h1>"
        f'<p class="meta">{len(videos)} videos ({_e(summary)}); analysis: {_e(model.get("analysis"))}; '
        f"stack: {_e(model.get('source'))}; made {_e(model.get('generated'))}.</p>"
        + (f'<p class="meta"><strong>{_e(model["warning"])}</strong></p>' if model.get("warning") else "")
        + '<form class="filter" role="search"><label for="filter">Filter videos and people</label>'
        '<input id="filter" type="search" placeholder="a name, a video, a status" autocomplete="off">'
        ' <span id="filter-count" class="meta" aria-live="polite"></span></form>'
        '<h2 id="videos">Videos</h2><div class="scroll"><table class="cards">'
        '<caption class="meta">Each video\'s status, answer, the people seen in it, its duration and '
        "the face database version that answered.</caption>"
        '<thead><tr><th scope="col">video</th><th scope="col">status</th><th scope="col">answer</th>'
        '<th scope="col">people</th><th scope="col" class="num">duration</th>'
        '<th scope="col" class="wide">database</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        '<h2 id="people">People</h2>'
        + (f'<ul class="people">{"".join(items)}</ul>' if items else "<p>Nobody recognised yet.</p>")
    )
    return page(model.get("title") or "Who appears when", body, script=True)


def _lanes_of(video: dict) -> tuple[list[lanes.Lane], list[dict]]:
    """The SVG's lanes and the table's rows of one timeline: people first (seen most first), then
    the unknown faces, then the stretches without a face."""
    timeline = video["timeline"]
    thumbs = _thumbs_by_range(video)
    rows: list[dict] = []
    out: list[lanes.Lane] = []

    def add(label: str, kind: str, ranges: list[dict]) -> None:
        bars = []
        for r in ranges:
            anchor = f"r-{len(rows)}"
            row = {"label": label, "kind": kind, "anchor": anchor, **r}
            row["thumb"] = thumbs.get((kind, label if kind == lanes.PERSON else None, r.get("start_s")))
            rows.append(row)
            tip = f"{label}: {seconds(r['start_s'])} to {seconds(r['end_s'])}, {r.get('frames', '?')} frame(s)"
            if r.get("best_distance") is not None:
                tip += f"; best distance {distance(r['best_distance'])} at {seconds(r.get('best_at_s'))}"
            bars.append(lanes.Bar(float(r["start_s"]), float(r["end_s"]), tip, anchor))
        out.append(lanes.Lane(label, kind, tuple(bars)))

    for person in timeline.get("people", []):
        add(str(person["name"]), lanes.PERSON, person.get("ranges", []))
    unknown = (timeline.get("unknown") or {}).get("ranges", [])
    if unknown:
        add("unknown face", lanes.UNKNOWN, unknown)
    if timeline.get("no_face"):
        add("no face", lanes.NO_FACE, timeline["no_face"])
    return out, rows


def _thumbs_by_range(video: dict) -> dict[tuple, str]:
    """(kind, name, start_s) → the copied thumbnail's path, from faces.json's entries."""
    found = {}
    for face in (video.get("faces") or {}).get("faces", []):
        path = (video.get("thumbs") or {}).get(face.get("thumb"))
        if path:
            found[(face.get("kind"), face.get("name"), face.get("start_s"))] = path
    return found


def _thumb_img(path: str | None, alt: str) -> str:
    if not path:
        return '<span class="meta">(no picture)</span>'
    return f'<img class="thumb" src="{_e(path)}" alt="{_e(alt)}" width="64" loading="lazy">'


def _range_table(rows: list[dict]) -> str:
    cells = []
    for r in rows:
        who = r["label"]
        alt = f"{who}: best face, at {seconds(r.get('best_at_s'))}, distance {distance(r.get('best_distance'))}"
        picture = _thumb_img(r.get("thumb"), alt) if r["kind"] != lanes.NO_FACE else "-"
        cells.append(
            f'<tr id="{_e(r["anchor"])}"><th scope="row">{_e(who)}</th>'
            f'<td class="num">{_e(seconds(r["start_s"]))}</td><td class="num">{_e(seconds(r["end_s"]))}</td>'
            f'<td class="num wide">{_e(r.get("frames", "-"))}</td>'
            f'<td class="num">{_e(distance(r.get("best_distance")))}</td>'
            f'<td class="num wide">{_e(seconds(r.get("best_at_s")))}</td><td>{picture}</td></tr>'
        )
    return (
        '<div class="scroll"><table><caption class="meta">Every range: who, from, to, frames sampled, the '
        "best (smallest) distance to the database and when that face was seen.</caption>"
        '<thead><tr><th scope="col">who</th><th scope="col" class="num">from</th><th scope="col" class="num">to</th>'
        '<th scope="col" class="num wide">frames</th><th scope="col" class="num">best distance</th>'
        '<th scope="col" class="num wide">best at</th><th scope="col">face</th></tr></thead>'
        f"<tbody>{''.join(cells)}</tbody></table></div>"
    )


LEGEND = (
    '<ul class="legend" aria-label="legend"><li><svg width="24" height="16" aria-hidden="true">'
    '<rect width="24" height="16" class="lane-0"/></svg> a person (named at the lane\'s left)</li>'
    '<li><svg width="24" height="16" aria-hidden="true"><rect width="24" height="16" fill="url(#dots)"/></svg> '
    "dotted: faces nobody in the database is near</li>"
    '<li><svg width="24" height="16" aria-hidden="true"><rect width="24" height="16" fill="url(#hatch)"/></svg> '
    "hatched: no face in the frame</li></ul>"
)


def _timeline_section(video: dict) -> str:
    timeline = video["timeline"]
    lane_list, rows = _lanes_of(video)
    duration = video.get("duration_s") or 0.0
    graphic = lanes.svg(lane_list, duration, title=f"Who appears when in {video['video']}")
    facts = (
        f"{_e(timeline.get('frames_analysed'))} frames sampled every {_e(seconds(timeline.get('interval_s')))}; "
        f"{_e(timeline.get('frames_without_face'))} without a face. Each range ends where the next sample "
        "no longer showed it: times are good to one sampling interval."
    )
    return (
        '<h2 id="timeline">Timeline</h2>'
        f'<p class="meta">{facts}</p><div class="scroll">{graphic}</div>{LEGEND}'
        f'<h2 id="ranges">Ranges</h2>{_range_table(rows)}'
    )


def _first_frame_section(video: dict) -> str:
    faces = video.get("faces") or {}
    size = faces.get("frame_size")
    entries = faces.get("faces") or []
    frame = video.get("frame")
    out = ['<h2 id="frame">The first frame</h2>']
    if frame and size:
        w, h = (int(v) for v in size)
        font = max(12, round(max(w, h) / 24))  # the name's size, in the frame's pixels
        boxes = []
        for face in entries:
            x1, y1, x2, y2 = (float(v) for v in face["box"][:4])
            boxes.append(
                f'<rect class="box" x="{x1:.1f}" y="{y1:.1f}" width="{x2 - x1:.1f}" height="{y2 - y1:.1f}"/>'
                f'<text class="box-label" x="{x1:.1f}" y="{max(y1 - font / 3, font):.1f}" font-size="{font}">'
                f"{_e(face.get('name'))}</text>"
            )
        said = "; ".join(
            f"{face.get('name')} in the box from ({face['box'][0]:g}, {face['box'][1]:g}) to "
            f"({face['box'][2]:g}, {face['box'][3]:g})"
            for face in entries
        )
        desc = f"The video's first frame, {w}×{h}" + (f", with {said}." if said else ", no face found.")
        out.append(
            f'<figure><svg class="frame" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(desc)}">'
            f'<image href="{_e(frame)}" x="0" y="0" width="{w}" height="{h}"/>{"".join(boxes)}</svg>'
            f"<figcaption>{_e(desc)}</figcaption></figure>"
        )
    elif frame:
        out.append(f'<figure><img src="{_e(frame)}" alt="The video\'s first frame" class="frame"></figure>')
    else:
        out.append("<p>No frame to show.</p>")
    for face in entries:
        path = (video.get("thumbs") or {}).get(face.get("thumb"))
        alt = f"{face.get('name')}: the face that answered, distance {distance(face.get('distance'))}"
        count = face.get("faces_in_frame")
        among = f"; {_e(count)} face(s) in the frame" if count else ""
        out.append(
            f"<p>{_thumb_img(path, alt)} {_e(face.get('name'))}, distance {_e(distance(face.get('distance')))}"
            f"{among}</p>"
        )
    return "".join(out)


def video_page(video: dict, model: dict) -> str:
    """One video's page: its facts, then its timeline (lanes and table) or its first frame."""
    people = ", ".join(video.get("people") or []) or "-"
    facts = [
        ("status", STATUS_TEXT.get(video["status"], video["status"])),
        ("why", video.get("reason")),
        ("answer", video.get("answer") or "-"),
        ("people", people),
        ("duration", seconds(video.get("duration_s"))),
        ("database version", video.get("database") or "-"),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if v is not None)
    if video.get("timeline"):
        section = _timeline_section(video)
    elif video["status"] == "answered":
        section = _first_frame_section(video)
    else:
        section = "<p>No result yet, so nothing to draw.</p>"
    body = (
        '<p><a href="index.html">← All videos</a></p>'
        f'<h1>{_e(video["video"])}</h1><dl class="facts">{dl}</dl>{section}'
        '<p><a href="index.html">← All videos</a></p>'
    )
    return page(f"{video['video']}: who appears when", body)
