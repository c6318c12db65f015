"""The benchmark reports every figure it promises. Figures are printed, never asserted: this checks
that each one is there and is a measurement (positive, from real runs), not its size.

The whole benchmark takes minutes, so its table and the cost plan are checked on a recorded run
(tests/tools/data/bench-report.json: `python -m bench --copies 1 --repeat 1 --baseline --int8`, paths
made relative), and a small run of its core and one stack (`test_a_small_bench_run`) shows the code
still measures what the recording holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.table import table
from components.project import PROJECT_DIR

RECORDED = Path(__file__).parent / "data" / "bench-report.json"


def check_full_report(report: dict, printed: str) -> None:
    """Every section of a full run (--baseline --int8, every part) holds real measurements, and the
    table prints each."""
    assert report["machine"]["cpus"] >= 1 and report["machine"]["versions"]["onnxruntime"]
    # one video of each sample person, one without a face, the two-people clip
    assert report["inputs"]["count"] == 4 and report["inputs"]["untrained_weights"] is True
    core = report["core"]
    for name, stages in (
        ("video-splitting", {"download", "ffmpeg", "upload", "total"}),
        ("face-recognition", {"read", "decode", "detect", "embed", "match", "write", "total"}),
        ("face-recognition (PyTorch path)", {"detect", "embed", "total"}),
        ("face-recognition (course's exact path)", {"detect", "embed", "total"}),
    ):
        r = core[name]
        assert stages <= set(r["warm_ms"]), name
        assert r["warm_ms"]["total"]["n"] == 4 and r["warm_ms"]["total"]["p50_ms"] > 0
        assert r["cold_start_ms"]["total"] > r["cold_start_ms"]["imports"] > 0
        assert r["peak_rss_mb"] >= r["rss_after_imports_mb"] > 0
    cold = core["face-recognition"]["cold_start_ms"]
    assert {"interpreter", "imports", "database", "models", "warm_up", "first_invocation"} <= set(cold)
    assert core["face-recognition"]["runtime"] == "onnx"
    torch_cold = core["face-recognition (course's exact path)"]["cold_start_ms"]
    assert {"network_construction", "weights"} <= set(torch_cold)

    assert core["video-splitting"]["children_peak_rss_mb"] > 0  # ffmpeg's, beside the function's own
    assert core["video-splitting"]["warm_cpu_ms"]["ffmpeg"]["p50_ms"] > 0
    assert {"detect", "embed", "total"} <= set(core["face-recognition"]["warm_cpu_ms"])

    # --int8: the three precisions side by side from this run, each with its agreement figures
    precisions = report["precisions"]
    assert list(precisions["rows"]) == ["fp32", "int8 embedding"]  # int8 MTCNN was rejected: gone
    for label, name in precisions["rows"].items():
        r = core[name]
        assert r["warm_ms"]["total"]["n"] == 4 and r["cold_start_ms"]["total"] > 0 and r["peak_rss_mb"] > 0, label
        agreement = precisions["this_run"][label]
        assert agreement["frames"] == 4 and 0 <= agreement["same_name"] <= 4, label
        assert -1 <= agreement["embedding_cosine_min"] <= 1 and 0 <= agreement["chosen_box_iou_min"] <= 1, label
    assert core[precisions["rows"]["int8 embedding"]]["precision"]["embedder"] == "int8"
    assert precisions["this_run"]["fp32"]["chosen_box_iou_min"] == 1.0  # itself
    exported = precisions["exported"]["int8 embedding"]
    assert exported["embedder"]["min_cosine"] >= 0.99 and set(exported) == {"embedder"}
    assert "the recognizer at each precision" in printed

    largest = report["largest_frame"]  # each function alone on the largest frame the pipeline accepts
    assert largest["frame"]["pixels"] == largest["frame"]["width"] * largest["frame"]["height"] > 0
    for name, stage in (("video-splitting", "ffmpeg"), ("face-recognition", "detect")):
        r = largest[name]
        assert r["memory_mb"] > 0 and r["peak_rss_mb"] > 0 and r["stages_ms"][stage] > 0, name
    assert largest["video-splitting"]["ffmpeg_peak_rss_mb"] > 0 and largest["video-splitting"]["frame_bytes"] > 0
    assert "peak memory on the largest frame the pipeline accepts" in printed

    live = report["live_database"]  # what faceDatabase: live costs a frame: a look, and a reload
    assert live["unchanged_look"]["n"] == 50 and live["unchanged_look"]["p50_ms"] > 0
    reloads = [v for k, v in live.items() if k.startswith("reload (")]
    assert len(reloads) == 2 and all(r["n"] == 3 and r["p50_ms"] > 0 for r in reloads)
    assert "live face database: the recognizer's look for a new version" in printed

    timeline = report["timeline"]  # analysis timeline, each function alone: per video and per frame
    # the videos and the demo's two-people clip, always added
    assert timeline["sample_fps"] > 0 and timeline["max_frames"] > 0 and timeline["videos"] == 5
    for name, stages in (
        ("video-splitting", {"download", "ffmpeg", "upload", "total"}),
        ("face-recognition", {"read", "decode", "detect", "embed", "match", "write", "total"}),
    ):
        r = timeline[name]
        assert stages <= set(r["per_video_ms"]) and stages <= set(r["per_frame_ms"]), name
        assert r["per_video_ms"]["total"]["n"] == 5 and r["per_frame_ms"]["total"]["p50_ms"] > 0, name
        assert r["per_frame_ms"]["total"]["p50_ms"] <= r["per_video_ms"]["total"]["max_ms"], name
        assert 1 <= r["frames_per_video"]["min"] < r["frames_per_video"]["max"] <= timeline["max_frames"], name
        assert r["peak_rss_mb"] > 0, name
    big = timeline["largest_frames"]
    assert big["frames"] > 1 and big["width"] * big["height"] == largest["frame"]["pixels"]
    assert big["face-recognition"]["peak_rss_mb"] > 0 and big["face-recognition"]["stages_ms"]["detect"] > 0
    assert big["video-splitting"]["ffmpeg_peak_rss_mb"] > 0
    assert "analysis timeline, each function alone" in printed and "per frame p50" in printed

    for arch in ("event-driven", "direct-invocation"):
        run = report["stack"][arch]
        assert run["accounted_for"] and run["results"] == 4 and run["failed"] == 0, arch
        assert run["exact_bucket_contents"] and run["results_correct"], arch
        assert run["wall_s"] > 0 and run["videos_per_s"] > 0 and run["per_video_latency_s"]["n"] == 4
        for fn in run["functions"].values():
            assert fn["invocations"] == 4 and fn["max_memory_used_mb"] > 0

    assert "cold start" in printed and "local stack, direct-invocation" in printed

    # What the cost plan reads besides (bench/plan.py): each run's objects and log bytes, the image's size.
    for arch in ("event-driven", "direct-invocation"):
        run = report["stack"][arch]
        assert {b: o["count"] for b, o in run["objects"].items()} == {"input": 4, "stage-1": 4, "output": 4}
        assert all(o["bytes"] > 0 for o in run["objects"].values())
        assert all(n > 0 for n in run["log_bytes"].values()) and set(run["log_bytes"]) == set(run["functions"])
    image = report["image"]
    assert image["gzip_bytes"] > 0 and image["bytes"] > image["gzip_bytes"]
    assert image["parts_bytes"]["onnxruntime"] > 0 and image["parts_bytes"]["models"] > 0


def test_the_table_and_the_plan_from_a_recorded_run(tmp_path):
    report = json.loads(RECORDED.read_text())
    check_full_report(report, table(report))
    out = tmp_path / "bench.json"
    out.write_text(json.dumps(report))
    # The plan turns the report into its tables.
    planned = subprocess.run(
        [sys.executable, "-m", "bench.plan", "--bench", str(out), "--stack", "Pulumi.prod.yaml"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert planned.returncode == 0, planned.stderr
    assert "Cost per 1,000 videos" in planned.stdout and "What to change first" in planned.stdout


@pytest.mark.slow
def test_a_small_bench_run_measures_what_the_recording_holds(tmp_path, torch_home):
    """The core (both functions alone) and one stack run, for real: the same shape as the recording's."""
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--work", str(tmp_path / "work"), "--torch-home", str(torch_home)]
        + ["--copies", "1", "--repeat", "1", "--skip-largest-frame", "--skip-timeline"]
        + ["--architectures", "event-driven", "--command-runs", "1", "--out", str(out)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report, recorded = json.loads(out.read_text()), json.loads(RECORDED.read_text())
    assert report["inputs"]["count"] == recorded["inputs"]["count"] == 4
    for name in ("video-splitting", "face-recognition"):
        r, shape = report["core"][name], recorded["core"][name]
        assert set(r["warm_ms"]) == set(shape["warm_ms"]) and r["warm_ms"]["total"]["p50_ms"] > 0, name
        assert set(r["cold_start_ms"]) == set(shape["cold_start_ms"]) and r["peak_rss_mb"] > 0, name
    run = report["stack"]["event-driven"]
    assert run["accounted_for"] and run["results"] == 4 and run["failed"] == 0 and run["results_correct"]
    assert set(run) == set(recorded["stack"]["event-driven"])
    assert report["live_database"]["unchanged_look"]["n"] == 50 and report["image"]["gzip_bytes"] > 0
    assert "cold start" in done.stdout and "local stack, event-driven" in done.stdout
    # The local stack's fixed cost, as `python -m local run` pays it, timed from outside.
    command = report["command"]
    assert command["videos"] == 4 and len(command["runs"]) == 1
    (one,) = command["runs"]
    assert one["accounted_for"] and one["exit_code"] in (0, 1)  # 1: the stand-in weights' names
    assert 0 < one["ready_s"] < one["total_s"] and one["outcomes_s"] > 0 and one["exit_s"] > 0
    assert command["median"]["ready_s"] == one["ready_s"]
    assert "python -m local run, 4 videos" in done.stdout and "command → stack up" in done.stdout


@pytest.mark.slow
def test_batching_is_measured_against_one_at_a_time(torch_home):
    """bench/batching.py: the embedder and P-Net, batched and one at a time, on one thread."""
    from bench import batching

    rows = batching.measure(torch_home, repeat=1)
    assert {r["network"] for r in rows} == {"embedder", "P-Net"}
    for r in rows:
        assert r["one_at_a_time_ms"] > 0 and r["one_batch_ms"] > 0 and r["speed_up"] > 0, r
