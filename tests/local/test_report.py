"""The HTML report in a real browser: the demo's videos through the embedded stack in timeline mode
(one stack for the module: a real moto server, real workers, ffmpeg, the ONNX graphs), the report
written as `python -m local run --analysis timeline --html DIR` writes it, then rendered by headless
Chromium over the DevTools protocol (tests/browser.py): every person and video named, the lanes at
the x of their labelled times, every thumbnail loaded, no request leaving the machine, no console
error, every link reached with Tab. A first-frame page is rendered too, from a recorded result.
Screenshots (light, and dark at phone width) go to out/report-screens/ to be looked at."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from components.project import OUT_DIR
from components.topology import TIMELINE
from local.__main__ import write_html
from local.session import run_videos
from local.stack import LocalStack, load_settings
from tests.browser import Chromium
from tools.demo import samples
from tools.grade import mapping_expectation
from tools.report import site

pytestmark = pytest.mark.slow

SCREENS = OUT_DIR / "report-screens"
STACK_FILE = """\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: vfp-html
  video-face-pipeline:maxRetryAttempts: "0"
  video-face-pipeline:sampleFps: "1"
  video-face-pipeline:maxFrames: "10"
"""
COLLINS, CAMERAMAN = samples.PEOPLE["astronaut"], samples.PEOPLE["camera"]
DAMAGED = "damaged <video>.mp4"  # the splitter refuses it: dead-lettered, as the report says


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, face_db, model_dir) -> tuple[Path, Any]:
    """The demo's videos (one of each person, the cat, the sequence) and one the splitter refuses,
    run through a timeline stack; the report's folder and the run's report."""
    videos = tmp_path_factory.mktemp("report-videos")
    labels = samples.make_sample_set(videos, copies=1)
    (videos / DAMAGED).write_bytes(b"not a video at all\n" * 64)
    stack_file = tmp_path_factory.mktemp("stack") / "Pulumi.html.yaml"
    stack_file.write_text(STACK_FILE)
    settings = load_settings(stack_file, db=face_db, analysis=TIMELINE)
    logs = tmp_path_factory.mktemp("logs")
    out = tmp_path_factory.mktemp("html")
    expect = mapping_expectation({k: "no-face" if v is None else v for k, v in labels.items()})
    with LocalStack(settings, model_dir=model_dir, concurrency=2, log_dir=logs, retry_delay_s=0.2) as stack:
        run = run_videos(stack, sorted(videos.glob("*.mp4")), expect=expect, timeout_s=300, progress=False)
        index = write_html(stack, run, out)
    assert index == out / "index.html"
    return out, run


@pytest.fixture(scope="module")
def browser():
    with Chromium() as b:
        b.open_page()
        yield b


def _text(b: Chromium) -> str:
    return b.evaluate("document.body.innerText")


def _thumbnails(b: Chromium) -> list[dict]:
    return b.evaluate(
        "[...document.images].map(i => ({src: i.getAttribute('src'), alt: i.alt, ok: i.complete && i.naturalWidth > 0,"
        " w: i.naturalWidth}))"
    )


def _tab_through(b: Chromium) -> tuple[set[str], set[str]]:
    """Every link on the page (numbered), and those Tab reached, in one pass round the page."""
    count = b.evaluate(
        "(() => { const links = [...document.querySelectorAll('a[href]')];"
        " links.forEach((a, i) => a.setAttribute('data-tab', String(i))); document.activeElement.blur();"
        " window.scrollTo(0, 0); return links.length; })()"
    )
    reached = set()
    for _ in range(count + 10):
        b.press_tab()
        at = b.evaluate(
            "(() => { const a = document.activeElement; const s = getComputedStyle(a);"
            " return [a.getAttribute('data-tab'), s.outlineStyle, (a.querySelector && a.querySelector('rect')"
            " ? getComputedStyle(a.querySelector('rect')).strokeWidth : '')]; })()"
        )
        if at[0] is not None:
            reached.add(at[0])
            assert at[1] != "none" or at[2] not in ("", "1px"), f"link {at[0]} shows no focus"
    return {str(i) for i in range(count)}, reached


def test_the_library_page_names_every_video_and_person_with_its_status(rendered, browser):
    out, run = rendered
    browser.navigate((out / "index.html").as_uri())
    text = _text(browser)
    for row in run["videos"]:
        assert row["video"] in text
    for person in (COLLINS, CAMERAMAN):
        assert person in text
    rows = browser.evaluate(
        "[...document.querySelectorAll('tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    by_video = {r[0]: r for r in rows}
    assert by_video[DAMAGED][1].startswith("✗ dead-lettered") and "video-splitting-dlq" in by_video[DAMAGED][1]
    assert by_video["sequence_0.mp4"][1:5] == ["✓ answered", COLLINS, f"{COLLINS}, {CAMERAMAN}", "6 s"]
    assert by_video["chelsea_0.mp4"][2:4] == ["no-face", "-"]
    # the filter box (the page's only script) hides what does not match, and shows it all again
    shown = browser.evaluate(
        "(() => { const f = document.getElementById('filter'); f.value = 'cameraman';"
        " f.dispatchEvent(new Event('input')); return [...document.querySelectorAll('tbody tr')]"
        ".filter(r => !r.hidden).map(r => r.cells[0].innerText); })()"
    )
    assert sorted(shown) == ["camera_0.mp4", "sequence_0.mp4"]
    browser.evaluate(
        "(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()"
    )
    browser.screenshot(SCREENS / "index.png", width=1100, height=700)
    browser.screenshot(SCREENS / "index-dark-phone.png", width=390, height=800, dark=True)
    links, reached = _tab_through(browser)
    assert links and reached == links


def test_the_sequence_page_draws_each_person_at_their_labelled_times_with_their_faces(rendered, browser):
    out, run = rendered
    model = json.loads((out / "model.json").read_text())
    page = next(v["page"] for v in model["videos"] if v["video"] == "sequence_0.mp4")
    browser.navigate((out / page).as_uri())
    text = _text(browser)
    assert all(name in text for name in (COLLINS, CAMERAMAN, "no face", "sequence_0.mp4"))
    # Where each labelled time is on screen: the tick drawn for it (its label says "3 s").
    ticks = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('svg.lanes .tick-label')].map(t => "
        "[t.textContent, (r => r.left + r.width / 2)(t.getBoundingClientRect())]))"
    )
    bars = browser.evaluate(
        "[...document.querySelectorAll('svg.lanes g.lane')].map(g => [g.dataset.label,"
        " [...g.querySelectorAll('rect.bar')].map(r => (b => [b.left, b.right])(r.getBoundingClientRect()))])"
    )
    lanes = dict(bars)
    labelled: Any = samples.SEQUENCE_LABEL["people"]
    for person, ranges in labelled.items():
        assert len(lanes[person]) == len(ranges)
        for (left, right), (start, end) in zip(lanes[person], ranges, strict=True):
            assert left == pytest.approx(ticks[f"{start:g} s"], abs=1.5), (person, start)
            assert right == pytest.approx(ticks[f"{end:g} s"], abs=1.5), (person, end)
    [(left, right)] = lanes["no face"]
    assert (left, right) == (pytest.approx(ticks["3 s"], abs=1.5), pytest.approx(ticks["4 s"], abs=1.5))
    # times and distances in the tooltips and, the same, in the table
    tips = browser.evaluate("[...document.querySelectorAll('svg.lanes rect.bar title')].map(t => t.textContent)")
    assert any(t.startswith(f"{COLLINS}: 0 s to 3 s, 3 frame(s); best distance") for t in tips)
    table = browser.evaluate(
        "[...document.querySelectorAll('tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    assert [row[:3] for row in table] == [[COLLINS, "0 s", "3 s"], [CAMERAMAN, "4 s", "6 s"], ["no face", "3 s", "4 s"]]
    thumbs = _thumbnails(browser)
    assert len(thumbs) == 2 and all(t["ok"] and t["w"] <= 96 for t in thumbs), thumbs
    assert [t["alt"].split(":")[0] for t in thumbs] == [COLLINS, CAMERAMAN]
    browser.screenshot(SCREENS / "sequence.png", width=1100, height=700)
    browser.screenshot(SCREENS / "sequence-dark-phone.png", width=390, height=800, dark=True)
    links, reached = _tab_through(browser)
    assert reached == links and len(links) >= 5  # two back links, a bar per range


def test_every_page_loads_every_picture_from_this_folder_only_without_an_error(rendered, browser):
    out, run = rendered
    pages = sorted(out.glob("*.html"))
    assert len(pages) == len(run["videos"]) + 1  # the library and one per video
    before = len(browser.requests())
    loaded = 0
    for page in pages:
        browser.navigate(page.as_uri())
        thumbs = _thumbnails(browser)
        assert all(t["ok"] for t in thumbs), (page.name, thumbs)
        loaded += len(thumbs)
        links, reached = _tab_through(browser)
        assert reached == links, page.name
    # a face per range with a face: Collins, the cameraman, and both again in the sequence
    model = json.loads((out / "model.json").read_text())
    assert loaded == sum(len(v["thumbs"]) for v in model["videos"]) == 4
    requests = browser.requests()[before:]
    assert requests and all(url.startswith("file://") for url in requests), [
        u for u in requests if not u.startswith("file://")
    ]
    assert browser.problems() == []
    print(f"{len(requests)} requests over {len(pages)} pages, every one file://; {loaded} thumbnails")


def test_a_first_frame_page_draws_the_face_box_over_the_frame(tmp_path, browser):
    """First-frame mode's page from a recorded result: the frame, the box the recognizer recorded
    in faces.json drawn where the face is."""
    frame = tmp_path / "media" / "0" / "frame.jpg"
    frame.parent.mkdir(parents=True)
    Image.new("RGB", (640, 360), (40, 90, 160)).save(frame)
    shutil.copy(frame, frame.with_name("thumb-0.jpg"))
    box = [100.0, 50.0, 260.0, 250.0]
    video = {
        "video": "astronaut_0.mp4",
        "page": "video-0.html",
        "status": "answered",
        "reason": None,
        "answer": COLLINS,
        "people": [COLLINS],
        "duration_s": None,
        "database": "v1",
        "timeline": None,
        "faces": {
            "analysis": "first-frame",
            "frame_size": [640, 360],
            "faces": [
                {"kind": "person", "name": COLLINS, "t": 0.0, "box": box, "distance": 0.01, "thumb": "thumb-0.jpg"}
            ],
        },
        "frame": "media/0/frame.jpg",
        "thumbs": {"thumb-0.jpg": "media/0/thumb-0.jpg"},
    }
    site.write({"title": "t", "analysis": "first-frame", "videos": [video]}, tmp_path)
    browser.navigate((tmp_path / "video-0.html").as_uri())
    where = browser.evaluate(
        "(() => { const s = document.querySelector('svg.frame').getBoundingClientRect();"
        " const b = document.querySelector('svg.frame rect.box').getBoundingClientRect();"
        " return [s.left, s.top, s.width, b.left, b.top, b.width, b.height]; })()"
    )
    sx, sy, width, bx, by, bw, bh = where
    scale = width / 640
    assert (bx - sx, by - sy) == (pytest.approx(100 * scale, abs=3), pytest.approx(50 * scale, abs=3))
    assert (bw, bh) == (pytest.approx(160 * scale, abs=4), pytest.approx(200 * scale, abs=4))
    assert all(t["ok"] for t in _thumbnails(browser))
    loaded = browser.evaluate(
        "new Promise(r => { const i = new window.Image(); i.onload = () => r(i.naturalWidth);"
        " i.onerror = () => r(0); i.src = document.querySelector('svg.frame image').getAttribute('href'); })"
    )
    assert loaded == 640
    browser.screenshot(SCREENS / "first-frame.png", width=1100, height=700)
