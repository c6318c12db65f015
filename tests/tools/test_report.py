"""The HTML report's builders (tools/report) on recorded results, without a stack: every page
parses, hostile keys and names are escaped everywhere, the lanes sit where their times say, the
pages link only to files the report wrote, and nothing names another host. The model is read from a
stack over moto's S3 server here too: thumbnails copied under the report's own names, a report.json
naming anything but `thumb-<n>.jpg` is not followed. The browser's view: tests/local/test_report.py."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from pipeline_common import keys
from tools import grade
from tools.report import lanes, model, pages, site
from tools.target import Buckets

HOSTILE = '<script>alert("x")</script>&"\'.mp4'

# A timeline as face_recognizer.service writes it for the demo's sequence clip (recorded from a run,
# frames elided): Collins 0-3 s, no face 3-4 s, the cameraman 4-6 s.
TIMELINE = {
    "schema_version": 2,
    "video": "s3://vfp-dev-input/sequence_0.mp4",
    "analysis": "timeline",
    "sample_fps": 1.0,
    "answer": "Collins",
    "frames_analysed": 6,
    "frames_without_face": 1,
    "interval_s": 1.0,
    "last_frame_s": 5.0,
    "duration_s": 6.0,
    "people": [
        {
            "name": "Collins",
            "frames": 3,
            "ranges": [
                {
                    "start_s": 0.0,
                    "end_s": 3.0,
                    "frames": 3,
                    "best_distance": 0.0021,
                    "best_at_s": 1.0,
                    "box": [1, 2, 3, 4],
                }
            ],
        },
        {
            "name": "Cameraman",
            "frames": 2,
            "ranges": [
                {
                    "start_s": 4.0,
                    "end_s": 6.0,
                    "frames": 2,
                    "best_distance": 0.0105,
                    "best_at_s": 4.0,
                    "box": [5, 6, 7, 8],
                }
            ],
        },
    ],
    "unknown": {"frames": 0, "ranges": []},
    "no_face": [{"start_s": 3.0, "end_s": 4.0, "frames": 1}],
    "database": {"version": "sha256-6206030c0c32"},
    "model": {"untrained": True},
}
FACES = {
    "schema_version": 1,
    "video": "sequence_0.mp4",
    "analysis": "timeline",
    "frame_size": [640, 360],
    "faces": [
        {
            "kind": "person",
            "name": "Collins",
            "start_s": 0.0,
            "end_s": 3.0,
            "t": 1.0,
            "box": [1, 2, 3, 4],
            "thumb": "thumb-0.jpg",
        },
        {
            "kind": "person",
            "name": "Cameraman",
            "start_s": 4.0,
            "end_s": 6.0,
            "t": 4.0,
            "box": [5, 6, 7, 8],
            "thumb": "thumb-1.jpg",
        },
    ],
}


def video(**over) -> dict:
    base = {
        "video": "sequence_0.mp4",
        "page": "video-0.html",
        "status": "answered",
        "reason": None,
        "answer": "Collins",
        "people": ["Collins", "Cameraman"],
        "duration_s": 6.0,
        "database": "sha256-6206030c0c32",
        "timeline": TIMELINE,
        "faces": FACES,
        "frame": None,
        "thumbs": {"thumb-0.jpg": "media/0/thumb-0.jpg", "thumb-1.jpg": "media/0/thumb-1.jpg"},
    }
    return {**base, **over}


def the_model(*videos: dict) -> dict:
    return {
        "title": "t",
        "generated": "now",
        "source": "test",
        "analysis": "timeline",
        "warning": None,
        "videos": list(videos),
    }


class Page(HTMLParser):
    """What a test needs of a page: every tag with its attributes, the text, and unclosed tags."""

    VOID = {"meta", "link", "img", "input", "br", "rect", "line", "circle", "image"}

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def test_the_library_page_lists_every_video_and_person_with_status_and_filter():
    dead = video(
        video="long.mp4",
        page="video-1.html",
        status="dead-lettered",
        reason="video-splitting-dlq: TooLong",
        answer=None,
        people=[],
        duration_s=None,
        timeline=None,
        faces=None,
        thumbs={},
    )
    waiting = video(video="later.mp4", page="video-2.html", status="pending", answer=None, people=[], timeline=None)
    html = pages.library_page(the_model(video(), dead, waiting))
    p = Page(html)
    assert p.open == []
    words = p.words
    for text in (
        "sequence_0.mp4",
        "long.mp4",
        "later.mp4",
        "Collins",
        "Cameraman",
        "✓ answered",
        "✗ dead-lettered",
        "video-splitting-dlq: TooLong",
        "… pending",
        "6 s",
        "sha256-6206030c0c32",
    ):
        assert text in words, text
    assert [a["href"] for a in p.all("a") if a["href"].startswith("video-")] == [
        "video-0.html",
        "video-1.html",
        "video-2.html",
        "video-0.html",
        "video-0.html",
    ]
    [box] = p.all("input")
    assert box["id"] == "filter" and any(a.get("for") == "filter" for a in p.all("label"))
    assert [a["src"] for a in p.all("script")] == ["report.js"]
    assert sum(1 for t, a in p.tags if "data-filter" in a) == 3 + 2  # every row, every person


def test_hostile_keys_and_names_are_escaped_everywhere():
    evil = video(video=HOSTILE, people=[HOSTILE], answer=HOSTILE, reason=HOSTILE, status="dead-lettered")
    timeline = json.loads(json.dumps(TIMELINE))
    timeline["people"][0]["name"] = HOSTILE
    evil["timeline"] = timeline
    for html in (pages.library_page(the_model(evil)), pages.video_page(evil, the_model(evil))):
        p = Page(html)
        assert p.open == []
        assert "<script>alert" not in html
        assert [a.get("src") for a in p.all("script")] in ([], ["report.js"])
        assert HOSTILE in p.words  # shown, as text


def test_lanes_sit_where_their_times_say_and_tell_by_label_and_pattern_not_colour_alone():
    html = pages.video_page(video(), the_model(video()))
    p = Page(html)
    assert p.open == []
    bars = [a for a in p.all("rect") if "data-start" in a]
    assert [(a["data-start"], a["data-end"]) for a in bars] == [("0", "3"), ("4", "6"), ("3", "4")]
    for a in bars:
        start, end = float(a["data-start"]), float(a["data-end"])
        assert float(a["x"]) == pytest.approx(lanes.LANE_X + start / 6.0 * lanes.LANE_W, abs=0.01)
        assert float(a["width"]) == pytest.approx((end - start) / 6.0 * lanes.LANE_W, abs=0.01)
    assert "url(#hatch)" in bars[2]["fill"]  # no face: hatched, and its lane says so
    labels = [a["data-label"] for a in p.all("g") if "data-label" in a]
    assert labels == ["Collins", "Cameraman", "no face"]
    words = p.words
    for text in ("Collins: 0 s to 3 s, 3 frame(s); best distance 0.002 at 1 s", "no face: 3 s to 4 s"):
        assert text in words  # the tooltips' text
    # the table says it all again, in text, each bar linking to its row
    rows = {a["id"] for a in p.all("tr") if "id" in a}
    assert {a["href"][1:] for a in p.all("a") if a["href"].startswith("#r-")} == rows == {"r-0", "r-1", "r-2"}
    imgs = p.all("img")
    assert [i["src"] for i in imgs] == ["media/0/thumb-0.jpg", "media/0/thumb-1.jpg"]
    assert all(i["alt"].startswith(("Collins: best face", "Cameraman: best face")) for i in imgs)


def test_a_first_frame_page_draws_the_box_over_the_frame():
    faces = {
        "analysis": "first-frame",
        "frame_size": [640, 360],
        "faces": [
            {
                "kind": "person",
                "name": "Collins",
                "t": 0.0,
                "box": [10, 20, 110, 150],
                "distance": 0.01,
                "thumb": "thumb-0.jpg",
            }
        ],
    }
    v = video(
        timeline=None,
        faces=faces,
        frame="media/0/frame.jpg",
        thumbs={"thumb-0.jpg": "media/0/thumb-0.jpg"},
        people=["Collins"],
        duration_s=None,
    )
    p = Page(pages.video_page(v, the_model(v)))
    [svg] = [a for a in p.all("svg") if a.get("class") == "frame"]
    assert svg["viewbox"] == "0 0 640 360" and "Collins in the box from (10, 20) to (110, 150)" in svg["aria-label"]
    [image] = p.all("image")
    assert image["href"] == "media/0/frame.jpg"
    [box] = [a for a in p.all("rect") if a.get("class") == "box"]
    assert (box["x"], box["y"], box["width"], box["height"]) == ("10.0", "20.0", "100.0", "130.0")
    assert [i["src"] for i in p.all("img")] == ["media/0/thumb-0.jpg"]


def test_nothing_on_any_page_names_another_host(tmp_path):
    index = site.write(the_model(video()), tmp_path)
    assert index == tmp_path / "index.html"
    for path in tmp_path.glob("*.html"):
        p = Page(path.read_text(encoding="utf-8"))
        for tag, attrs in p.tags:
            for name in ("href", "src"):
                value = attrs.get(name)
                if value is not None:
                    assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//", value), (path.name, tag, value)
    assert (tmp_path / "report.css").is_file() and (tmp_path / "report.js").is_file()
    assert "http" not in (tmp_path / "report.css").read_text() + (tmp_path / "report.js").read_text()


def test_durations_of_old_and_new_timelines():
    assert model.duration_of(TIMELINE) == 6.0
    old = {k: v for k, v in TIMELINE.items() if k not in ("duration_s", "schema_version")}
    assert model.duration_of(old) == 6.0 and model.duration_of(None) is None


def test_the_model_read_from_s3_copies_thumbnails_under_its_own_names(moto_s3, tmp_path):
    s3, buckets, library = moto_s3
    key = "dir/seq 0.mp4"
    prefix = keys.library_prefix(key)
    faces = json.loads(json.dumps(FACES))
    faces["faces"].append({**faces["faces"][0], "thumb": "../../etc/passwd"})  # never followed
    s3.put_object(Bucket=library, Key=keys.library_report_key(key), Body=json.dumps(faces).encode())
    for name in ("thumb-0.jpg", "thumb-1.jpg"):
        s3.put_object(Bucket=library, Key=prefix + name, Body=b"\xff\xd8jpeg")
    s3.put_object(Bucket=buckets.output, Key="dir/seq 0.json", Body=json.dumps(TIMELINE).encode())
    rows = [
        {"video": key, "result": "Collins", "face_db_version": "v1"},
        {"video": "gone.mp4", "result": None},
        {"video": "later.mp4", "result": None},
    ]
    graded = {"analysis": "timeline", "videos": rows, "dead_letters": {"videos": {"gone.mp4": "dlq: TooLong"}}}
    built = model.build(s3, buckets, library, graded, tmp_path)
    first, gone, later = built["videos"]
    assert first["thumbs"] == {"thumb-0.jpg": "media/0/thumb-0.jpg", "thumb-1.jpg": "media/0/thumb-1.jpg"}
    assert (tmp_path / "media/0/thumb-0.jpg").read_bytes() == b"\xff\xd8jpeg"
    assert first["people"] == ["Collins", "Cameraman"] and first["duration_s"] == 6.0
    assert (gone["status"], gone["reason"]) == ("dead-lettered", "dlq: TooLong")
    assert later["status"] == "pending"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "media/0/thumb-0.jpg",
        "media/0/thumb-1.jpg",
    ]
    assert built["warning"]  # untrained weights said


@pytest.fixture
def moto_s3(s3):
    buckets = Buckets("r-input", "r-stage-1", "r-output", "us-east-1", None)
    for name in ("r-input", "r-stage-1", "r-output", "r-library"):
        s3.create_bucket(Bucket=name)
    return s3, buckets, "r-library"


def test_grade_prints_its_table_as_markdown():
    rows = [
        {
            "video": "a|b.mp4",
            "uploaded": True,
            "frame": "a|b.jpg",
            "frame_present": True,
            "result_key": "a|b.txt",
            "result": "Collins",
            "expected": "Collins",
            "correct": True,
            "face_db_version": "v1",
            "frame_latency_s": 0.5,
            "result_latency_s": 1.25,
            "note": "",
        },
    ]
    graded: Any = {
        "videos": rows,
        "checks": {
            "uploads_present": True,
            "stage1_exact": True,
            "output_exact": True,
            "results_correct": True,
            "within_deadline": True,
        },
        "stage1": {"present": 1, "expected": 1, "missing": [], "extra": []},
        "output": {"present": 1, "expected": 1, "missing": [], "extra": []},
        "judged": 1,
        "correct": 1,
        "uploads": 1,
        "passed": True,
        "latency_s": {"end_to_end": 1.25, "per_video": None, "source": "S3"},
    }
    text = grade.markdown_table(graded)
    lines = text.splitlines()
    assert lines[0] == "| video | frame | result | expected | ok | frame s | result s | database |"
    assert lines[1] == "| --- | --- | --- | --- | --- | --- | --- | --- |"
    assert lines[2] == "| a\\|b.mp4 | a\\|b.jpg | Collins | Collins | yes | 0.50 | 1.25 | v1 |"
    assert lines[-1] == "- PASSED: yes"
    assert grade.format_table(graded).splitlines()[-1] == "PASSED: yes"


def test_report_cli_refuses_without_out(capsys):
    from tools.report.__main__ import main

    with pytest.raises(SystemExit) as stopped:
        main([])
    assert stopped.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_the_report_cli_reads_any_stack_by_its_flags(s3, moto_endpoint, tmp_path, capsys):
    """`python -m tools.report --out DIR` with the other tools' target flags, first-frame: the frame
    copied from stage-1 and drawn with the box report.json records (the library bucket from the prefix)."""
    from tools.report.__main__ import main

    for role in ("input", "stage-1", "output", "library"):
        s3.create_bucket(Bucket=f"cli-{role}")
    s3.put_object(Bucket="cli-input", Key="a <b>.mp4", Body=b"video")
    s3.put_object(Bucket="cli-input", Key="waiting.mp4", Body=b"video")
    s3.put_object(Bucket="cli-stage-1", Key="a <b>.jpg", Body=b"\xff\xd8frame")
    s3.put_object(Bucket="cli-output", Key="a <b>.txt", Body=b"Collins", Metadata={"face-db-version": "v7"})
    faces = {
        "analysis": "first-frame",
        "frame_size": [64, 48],
        "faces": [
            {
                "kind": "person",
                "name": "Collins",
                "t": 0.0,
                "box": [1, 2, 30, 40],
                "distance": 0.1,
                "thumb": "thumb-0.jpg",
            }
        ],
    }
    prefix = keys.library_prefix("a <b>.mp4")
    s3.put_object(Bucket="cli-library", Key=keys.library_report_key("a <b>.mp4"), Body=json.dumps(faces).encode())
    s3.put_object(Bucket="cli-library", Key=prefix + "thumb-0.jpg", Body=b"\xff\xd8thumb")
    out = tmp_path / "html"
    code = main(
        [
            "--out",
            str(out),
            "--name-prefix",
            "cli",
            "--endpoint-url",
            moto_endpoint,
            "--region",
            "us-east-1",
            "--analysis",
            "first-frame",
        ]
    )
    assert code == 0 and f"html report: {out / 'index.html'}" in capsys.readouterr().out
    built = json.loads((out / "model.json").read_text())
    first, waiting = built["videos"]
    assert (first["status"], first["answer"], first["database"]) == ("answered", "Collins", "v7")
    assert (out / first["frame"]).read_bytes() == b"\xff\xd8frame" and first["thumbs"] == {
        "thumb-0.jpg": "media/0/thumb-0.jpg"
    }
    assert waiting["status"] == "pending"
    page = Page((out / first["page"]).read_text())
    assert [a["href"] for a in page.all("image")] == ["media/0/frame.jpg"]
    assert "a <b>.mp4" in page.words
