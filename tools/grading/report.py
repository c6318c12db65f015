"""The report for people: one line per upload, the checks, the story, and the verdict line."""

from __future__ import annotations

import html

from components import topology
from tools import timelines
from tools.grading.checks import COURSE_DEADLINE_S
from tools.grading.records import BucketCheck, Report
from tools.grading.story import story_lines
from tools.text import printable


def format_table(report: Report) -> str:
    """The per-video table and a summary, for people."""
    lines = video_table(report)
    lines.append("")
    lines.extend(summary_lines(report))
    lines.extend(story_lines(report))
    lines.append(verdict(report))
    return "\n".join(printable(line) for line in lines)  # keys may hold control characters


def _mark(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[value]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def video_table(report: Report) -> list[str]:
    """One line per upload, under a header: its frame, result, expectation, latency (and timeline)."""
    table = table_rows(report)
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def markdown_cell(value: object) -> str:
    """A table cell's text for Markdown: pipes escaped, no line breaks, HTML's specials escaped."""
    text = " ".join(printable(str(value)).split())
    return html.escape(text, quote=False).replace("|", "\\|")


def markdown_table(report: Report) -> str:
    """The same table and summary as Markdown (GitHub's tables), for a CI step summary:
    `python -m tools.grade ... --markdown >> "$GITHUB_STEP_SUMMARY"`."""
    table = table_rows(report)
    lines = ["| " + " | ".join(markdown_cell(c) for c in table[0]) + " |"]
    lines.append("|" + "|".join(" --- " for _ in table[0]) + "|")
    lines.extend("| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in table[1:])
    lines.append("")
    summary = [*summary_lines(report), *story_lines(report), verdict(report)]
    lines.extend(f"- {markdown_cell(line.strip())}" for line in summary if line.strip())
    return "\n".join(lines)


def table_rows(report: Report) -> list[list[str]]:
    """The per-video table: a header row, then one row per upload (video_table, markdown_table)."""
    headers = ["video", "frame", "result", "expected", "ok", "frame s", "result s", "database"]
    timeline = report.get("analysis") == topology.TIMELINE
    if timeline:  # who appears when, and whether that is what the labels say
        headers[1] = "frames"
        headers += ["timeline", "as labelled"]
    notes = any(r.get("note") for r in report["videos"])
    if notes:
        headers.append("note")

    # A local run also records when it saw each object, finer than S3's whole-second LastModified.
    observed = report["latency_s"].get("observed")
    table = [headers]
    for r in report["videos"]:
        row = [
            r["video"],
            # timeline: the execution's Cleanup deletes a merged video's segments once its result is written
            r["frame"] if r["frame_present"] else ("(deleted)" if timeline and r["result"] else "(missing)"),
            r["result"] if r["result"] is not None else "(missing)",
            r["expected"] if r["expected"] is not None else "-",
            _mark(r["correct"]),
            _num(r.get("frame_seen_s") if observed else r["frame_latency_s"]),
            _num(r.get("result_seen_s") if observed else r["result_latency_s"]),
            r.get("face_db_version") or "-",
        ]
        if timeline:
            found, judged = r.get("timeline"), r.get("timeline_judged")
            row.append(timelines.describe(found) if found else "(missing)")
            row.append("-" if judged is None else _mark(judged["correct"]) + _differences(judged))
        if notes:
            row.append(r.get("note", ""))
        table.append([printable(cell) for cell in row])
    return table


def _detail(part: BucketCheck) -> str:
    bits = [f"{part['present']}/{part['expected']}"]
    if part["missing"]:
        bits.append(
            f"missing {len(part['missing'])}: {', '.join(part['missing'][:5])}"
            + (" …" if len(part["missing"]) > 5 else "")
        )
    if part["extra"]:
        bits.append(
            f"extra {len(part['extra'])}: {', '.join(part['extra'][:5])}" + (" …" if len(part["extra"]) > 5 else "")
        )
    return "; ".join(bits)


def summary_lines(report: Report) -> list[str]:
    """The bucket checks, the results and timelines as judged, the database versions, the latency."""
    timeline = report.get("analysis") == topology.TIMELINE
    c, s1, out = report["checks"], report["stage1"], report["output"]
    lines = []
    if timeline:
        lines.append(f"stage-1 only the uploads' segments: {_mark(c['stage1_exact'])} ({_detail(s1)})")
        lines.append(
            f"output exactly <stem>.txt and <stem>.json per upload: {_mark(c['output_exact'])} ({_detail(out)})"
        )
    else:
        lines.append(f"stage-1 exactly one <stem>.jpg per upload: {_mark(c['stage1_exact'])} ({_detail(s1)})")
        lines.append(f"output exactly one <stem>.txt per upload:  {_mark(c['output_exact'])} ({_detail(out)})")
    if report["judged"]:
        lines.append(f"results as expected: {_mark(c['results_correct'])} ({report['correct']}/{report['judged']})")
    else:
        lines.append("results as expected: - (no expectation given)")
    if timeline:
        if report.get("timelines_judged"):
            lines.append(
                f"timelines as labelled (within one sampling interval): {_mark(c.get('timelines_correct'))} "
                f"({report['timelines_correct']}/{report['timelines_judged']}); per person:"
            )
            lines.extend(timelines.score_lines(report.get("timeline_scores") or {}))
        else:
            lines.append("timelines as labelled: - (no labels given)")
    lines.extend(_version_and_latency_lines(report))
    return lines


def _version_and_latency_lines(report: Report) -> list[str]:
    lines = []
    answered: dict[str, int] = {}
    for r in report["videos"]:
        if r["result"] is not None:
            version = r.get("face_db_version") or "(not named)"
            answered[version] = answered.get(version, 0) + 1
    if answered:
        lines.append("face database versions that answered: " + ", ".join(f"{v} ({n})" for v, n in answered.items()))
    observed = report["latency_s"].get("observed")
    for figures in ([observed] if observed else []) + [report["latency_s"]]:
        per = figures["per_video"]
        lines.append(
            f"end to end (first upload → last result): {_num(figures['end_to_end'])} s"
            + (f"; per video p50 {per['p50']:.2f} s, max {per['max']:.2f} s" if per else "")
            + f"  [{figures['source']}]"
        )
    return lines


def _differences(judged: dict) -> str:
    bits = [f"missing {', '.join(judged['missing'])}"] if judged["missing"] else []
    bits += [f"extra {', '.join(judged['extra'])}"] if judged["extra"] else []
    bits += [
        f"{name} {t['covered_s']:g}/{t['labelled_s']:g} s labelled, {t['within_s']:g}/{t['found_s']:g} s found"
        for name, t in judged["times"].items()
        if abs(t["covered_s"] - t["labelled_s"]) > 1e-3 or abs(t["within_s"] - t["found_s"]) > 1e-3
    ]
    return f" ({'; '.join(bits)})" if bits else ""


# What each check means, for the verdict line.
CHECK_NAMES = {
    "uploads_present": "every upload in the input bucket",
    "stage1_exact": "stage-1 contents",
    "output_exact": "output contents",
    "results_correct": "results as expected",
    "results_distinct": "a result of its own for every upload",
    "within_deadline": f"every result within {COURSE_DEADLINE_S} s",
    "timelines_correct": "timelines as labelled",
}


def verdict(report: Report) -> str:
    """`PASSED: yes`, or `PASSED: NO (failed: ...)` naming each check that failed. The tools' exit
    status follows this line: 0 for yes, 1 for NO."""
    if report["passed"]:
        return "PASSED: yes"
    failed = [CHECK_NAMES[name] for name, ok in report["checks"].items() if ok is False]
    if not report["uploads"]:
        failed.insert(0, "no uploads to grade")
    if report.get("hint"):
        failed.append(report["hint"])
    return f"PASSED: NO (failed: {'; '.join(failed)})"
