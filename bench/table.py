"""The benchmark's table for people: one section per benchmark that ran."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.command_run import CommandFigures
    from bench.stack_run import StackFigures


def table(results: dict) -> str:
    lines = []
    core = results.get("core")
    if core:
        lines.extend(core_lines(core))
    precisions = results.get("precisions")
    if core and precisions:
        lines.extend(precision_table(core, precisions))
    largest = results.get("largest_frame")
    if largest:
        lines.extend(largest_frame_lines(largest))
    live = results.get("live_database")
    if live:
        lines.extend(live_database_lines(live))
    timeline = results.get("timeline")
    if timeline:
        lines.extend(timeline_lines(timeline))
    for arch, r in results.get("stack", {}).items():
        lines.extend(stack_lines(arch, r))
    command = results.get("command")
    if command:
        lines.extend(command_lines(command))
    return "\n".join(lines)


def command_lines(c: CommandFigures) -> list[str]:
    """The local stack's fixed cost, as `python -m local run` pays it (medians over the runs)."""
    m = c["median"]
    return [
        f"python -m local run, {c['videos']} videos, median of {len(c['runs'])}: command → stack up {m['ready_s']} s, "
        f"first upload → last outcome {m['outcomes_s']} s, last outcome → exit {m['exit_s']} s, "
        f"in all {m['total_s']} s (exit codes {', '.join(str(r['exit_code']) for r in c['runs'])})"
    ]


def core_lines(core: dict) -> list[str]:
    """Each function alone: warm latency per stage, CPU time, cold start, peak memory."""
    lines = []
    lines.append("each function alone, warm, one at a time (ms)")
    width = max(len(name) for name in core)
    lines.append(f"  {'function':<{width}} {'stage':<8} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8}")
    for name, r in core.items():
        for stage, st in r["warm_ms"].items():
            lines.append(
                f"  {name:<{width}} {stage:<8} {st['n']:>4} {st['p50_ms']:>8.1f} {st['p95_ms']:>8.1f} "
                f"{st['max_ms']:>8.1f}"
            )
    lines.append("")
    lines.append("CPU time per object, warm (ms; the function's process, plus ffmpeg's for the splitter: ")
    lines.append("  what its own work cost, which other load on a shared machine moves far less than wall time)")
    for name, r in core.items():
        cpu = r.get("warm_cpu_ms") or {}
        parts = ", ".join(f"{stage} {st['p50_ms']:.1f}/{st['p95_ms']:.1f}" for stage, st in cpu.items())
        lines.append(f"  {name:<{width}} p50/p95: {parts}")
    lines.append("")
    lines.append("cold start: new interpreter → first result (ms)")
    for name, r in core.items():
        parts = ", ".join(f"{k} {v:.0f}" for k, v in r["cold_start_ms"].items() if k != "total")
        lines.append(f"  {name:<{width}} {r['cold_start_ms']['total']:>7.0f}  = {parts}")
    lines.append("")
    lines.append("peak resident memory of the function's process (MB)")
    for name, r in core.items():
        threads = f", {r['threads'] or 'default'} thread(s)" if "threads" in r else ""
        child = f", ffmpeg's own peak {r['children_peak_rss_mb']:.0f}" if r.get("children_peak_rss_mb") else ""
        lines.append(
            f"  {name:<{width}} {r['peak_rss_mb']:>7.0f}  (after imports {r['rss_after_imports_mb']:.0f}"
            f"{threads}{child})"
        )
    lines.append("")
    return lines


def largest_frame_lines(largest: dict) -> list[str]:
    lines = []
    frame, split, rec = largest["frame"], largest["video-splitting"], largest["face-recognition"]
    lines.append(
        f"peak memory on the largest frame the pipeline accepts ({frame['width']}x{frame['height']}), "
        "each function alone, fresh interpreter (MB)"
    )
    lines.append(
        f"  video-splitting   {split['peak_rss_mb']:>5.0f} + ffmpeg {split['ffmpeg_peak_rss_mb']:.0f} "
        f"= {split['peak_rss_mb'] + split['ffmpeg_peak_rss_mb']:.0f} of {split['memory_mb']}  "
        f"(ffmpeg {split['stages_ms'].get('ffmpeg', 0):.0f} ms)"
    )
    lines.append(
        f"  face-recognition  {rec['peak_rss_mb']:>5.0f} of {rec['memory_mb']}  "
        f"(decode {rec['stages_ms'].get('decode', 0):.0f} ms, detect {rec['stages_ms'].get('detect', 0):.0f} ms)"
    )
    lines.append("")
    return lines


def live_database_lines(live: dict) -> list[str]:
    lines = []
    lines.append("live face database: the recognizer's look for a new version (ms; S3 on moto, loopback)")
    for what, st in live.items():
        lines.append(f"  {what:<32} {st['n']:>4} {st['p50_ms']:>8.1f} {st['p95_ms']:>8.1f} {st['max_ms']:>8.1f}")
    lines.append("")
    return lines


def timeline_lines(timeline: dict) -> list[str]:
    lines = []
    lines.append(
        f"analysis timeline, each function alone, warm (sampleFps {timeline['sample_fps']:g}, "
        f"maxFrames {timeline['max_frames']}; {timeline['videos']} videos; ms)"
    )
    lines.append(f"  {'function':<17} {'stage':<8} {'per video p50':>14} {'p95':>8} {'per frame p50':>14} {'p95':>8}")
    for name in ("video-splitting", "face-recognition"):
        r = timeline[name]
        for stage, st in r["per_video_ms"].items():
            fr = r["per_frame_ms"][stage]
            lines.append(
                f"  {name:<17} {stage:<8} {st['p50_ms']:>14.1f} {st['p95_ms']:>8.1f} {fr['p50_ms']:>14.1f} "
                f"{fr['p95_ms']:>8.1f}"
            )
        n = r["frames_per_video"]
        lines.append(
            f"  {name:<17} frames per video {n['min']}-{n['max']}; peak memory {r['peak_rss_mb']:.0f} MB"
            + (f" + ffmpeg {r['children_peak_rss_mb']:.0f}" if r.get("children_peak_rss_mb") else "")
        )
    cpu = timeline.get("cpu_per_video_hour")
    if cpu:
        sampling, per_frame = cpu["sampling_cpu_s"], cpu["recognition_cpu_s_per_frame"]
        lines.append(
            f"  one process, {cpu['frames']} frames of {Path(cpu['video']).name}: sampling {sampling:.2f} "
            f"CPU-s, recognition {per_frame:.3f} CPU-s a frame: "
            f"{cpu['cpu_s_per_video_hour']:.0f} CPU-s per video-hour (bench/timeline_cpu.py)"
            + (
                f"; tracking {cpu['tracking_s']:g} s: {cpu['faces_embedded']} of {cpu['faces']} faces embedded"
                if "faces_embedded" in cpu
                else ""
            )
        )
    big = timeline["largest_frames"]
    sp, rc = big["video-splitting"], big["face-recognition"]
    lines.append(
        f"  largest frames ({big['width']}x{big['height']}): splitter {sp['peak_rss_mb']:.0f} + ffmpeg "
        f"{sp['ffmpeg_peak_rss_mb']:.0f} of {sp['memory_mb']} MB; recognizer, {big['frames']} such frames in "
        f"one object, {rc['peak_rss_mb']:.0f} of {rc['memory_mb']} MB"
    )
    lines.append("")
    return lines


def stack_lines(arch: str, r: StackFigures) -> list[str]:
    lines = []
    lat = r["per_video_latency_s"]
    p50, slowest = (lat["p50"], lat["max"]) if lat else (None, None)
    lines.append(
        f"local stack, {arch}{' (provisioned)' if r['provisioned'] else ' (cold)'}: {r['videos']} videos "
        f"at once → {r['results']} results, {r['failed']} failed in {r['wall_s']} s "
        f"({r['videos_per_s']} videos/s); upload→result p50 {p50} s, max {slowest} s; "
        f"exact bucket contents: {'yes' if r['exact_bucket_contents'] else 'NO'}; "
        f"results as expected: {_yes(r['results_correct'])}"
    )
    for name, st in r["functions"].items():
        d = st.get("duration_ms") or {}
        lines.append(
            f"  {name:<17} {st['invocations']:>4} invocations, duration p50 {d.get('p50', 0):.0f} ms "
            f"max {d.get('max', 0):.0f} ms, {st['concurrency']} worker(s), "
            f"peak memory {st['max_memory_used_mb']:.0f} MB of {st['memory_mb']}"
        )
    return lines


def precision_table(core: dict, precisions: dict) -> list[str]:
    def pp(r: dict, stage: str, key: str = "warm_ms") -> str:
        st = r[key].get(stage) or {}
        return f"{st.get('p50_ms', 0):.1f}/{st.get('p95_ms', 0):.1f}"

    lines = ["the recognizer at each precision, alone, same frames, one run (ms p50/p95; wall, then CPU)"]
    lines.append(
        f"  {'precision':<28} {'frame':>12} {'detect':>12} {'embed':>12} {'cpu frame':>12} {'cpu detect':>12} "
        f"{'cpu embed':>12} {'cold start':>10} {'peak MB':>8}  answers vs fp32 in this run"
    )
    for label, name in precisions["rows"].items():
        r, a = core[name], precisions["this_run"][label]
        lines.append(
            f"  {label:<28} {pp(r, 'total'):>12} {pp(r, 'detect'):>12} {pp(r, 'embed'):>12} "
            f"{pp(r, 'total', 'warm_cpu_ms'):>12} {pp(r, 'detect', 'warm_cpu_ms'):>12} "
            f"{pp(r, 'embed', 'warm_cpu_ms'):>12} {r['cold_start_ms']['total']:>10.0f} {r['peak_rss_mb']:>8.0f}  "
            f"names {a['same_name']}/{a['frames']}, face counts {a['same_face_count']}/{a['frames']}, "
            f"box IoU min {a['chosen_box_iou_min']} ({a['chosen_box_iou_under_0.98']} under 0.98), "
            f"embedding cosine min {a['embedding_cosine_min']}"
        )
    lines.append("  what each int8 graph's export recorded (the embedding's gate):")
    for label, agreement in precisions["exported"].items():
        for network, figures in (agreement or {}).items():
            if network == "embedder":
                said = (
                    f"gate passed: cosine min {figures['min_cosine']} over {figures['faces']} faces, nearest entry "
                    f"unchanged {figures['nearest_entry_unchanged']}/{figures['people_faces']}"
                    + (" (untrained weights: the mechanism only)" if figures.get("weights_untrained") else "")
                )
            else:
                said = json.dumps(figures)
            lines.append(f"    {label:<28} {network:<8} {said}")
    exact = {core[name].get("int8_sums_exact") for name in precisions["rows"].values()} - {None}
    if exact:
        lines.append(
            "  int8 kernels here: "
            + ("exact 32-bit sums (VNNI)" if exact == {True} else "16-bit pair sums that saturate (no VNNI)")
        )
    lines.append("")
    return lines


def _yes(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "NO")
