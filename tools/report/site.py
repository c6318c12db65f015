"""Writing a report: its pages, stylesheet, script and model into a folder (from a model, or read from a stack)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.report import assets, pages


def write(model: dict, out_dir: Path) -> Path:
    """The pages of `model` (tools/report/model.py) into out_dir, with the stylesheet, the script
    and model.json (what the pages were made from); the path of index.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / assets.CSS_NAME).write_text(assets.CSS, encoding="utf-8")
    (out_dir / assets.JS_NAME).write_text(assets.JS, encoding="utf-8")
    for video in model["videos"]:
        (out_dir / video["page"]).write_text(pages.video_page(video, model), encoding="utf-8")
    index = out_dir / "index.html"
    index.write_text(pages.library_page(model), encoding="utf-8")
    (out_dir / "model.json").write_text(json.dumps(model, indent=1), encoding="utf-8")
    return index


def from_stack(
    s3: Any, buckets: Any, library: str | None, grade_report: Any, out_dir: Path, *, source: str = ""
) -> Path:
    """Read what a graded stack holds (tools.grade's report with its dead letters; `library`: its
    library bucket, with report.json and thumbnails) and write the report."""
    from tools.report import model

    return write(model.build(s3, buckets, library, grade_report, out_dir, source=source), out_dir)
