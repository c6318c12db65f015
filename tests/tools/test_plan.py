"""The cost and scale plan's arithmetic on a small benchmark written out here, with each expected
figure worked out by hand from the prices and limits (bench/README.md, The cost and scale plan)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import library_cost, plan
from components import topology
from components.settings import load_stack_file

PRICE_GB_S = 0.0000166667
MIB = 2**20


def stage(n: int, mean_ms: float) -> dict:
    return {"n": n, "mean_ms": mean_ms, "p50_ms": mean_ms, "p95_ms": mean_ms, "max_ms": mean_ms}


BENCH = {
    "machine": {"time": "2025-01-01T00:00:00Z", "cpus": 2, "processor": "x86_64"},
    "inputs": {"count": 2, "videos": "two videos"},
    "core": {
        "video-splitting": {
            # compute: ffmpeg 40 ms; waiting: the other 20 ms of the 60 ms total
            "warm_ms": {
                "download": stage(2, 10),
                "ffmpeg": stage(2, 40),
                "upload": stage(2, 10),
                "invoke": stage(2, 0),
                "total": stage(2, 60),
            },
            "cold_start_ms": {"total": 600, "first_invocation": 100},  # init 500 ms
            "peak_rss_mb": 100,
            "children_peak_rss_mb": 50,
        },
        "face-recognition": {
            # one frame of two had a face: embed and match ran once. Compute per invocation:
            # (2×10 decode + 2×50 detect + 1×100 embed + 1×2 match) / 2 = 111 ms; waiting 130 - 111 = 19 ms
            "warm_ms": {
                "read": stage(2, 5),
                "decode": stage(2, 10),
                "detect": stage(2, 50),
                "embed": stage(1, 100),
                "match": stage(1, 2),
                "write": stage(2, 5),
                "total": stage(2, 130),
            },
            "cold_start_ms": {"total": 1500, "first_invocation": 200},  # init 1,300 ms
            "peak_rss_mb": 500,
        },
    },
    "largest_frame": {
        "video-splitting": {"peak_rss_mb": 300, "ffmpeg_peak_rss_mb": 400},  # 700 MB: the splitter's peak
        "face-recognition": {"peak_rss_mb": 600},
    },
    "image": {"gzip_bytes": 100 * MIB},
    "stack": {
        "event-driven": {
            "videos": 2,
            "functions": {"video-splitting": {"invocations": 3}, "face-recognition": {"invocations": 2}},  # a retry
            "log_bytes": {"video-splitting": 3000, "face-recognition": 2000},  # 1,000 bytes an invocation each
            "objects": {
                "input": {"count": 2, "bytes": 2 * MIB},
                "stage-1": {"count": 2, "bytes": MIB // 2},
                "output": {"count": 2, "bytes": 20},
            },
        }
    },
}

# splitter 1,769 MB: one vCPU, so 60 ms as measured; recognizer 3,538 MB: two vCPUs, taken as one: 130 ms.
STACK = """\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: vfp-plan
  video-face-pipeline:splitterMemory: "1769"
  video-face-pipeline:recognizerMemory: "3538"
"""


@pytest.fixture
def bench() -> plan.Bench:
    return plan.load(BENCH)


def settings(tmp_path: Path, extra: str = ""):
    path = tmp_path / "Pulumi.plan.yaml"
    path.write_text(STACK + extra)
    return load_stack_file(path, check_files=False)


CONFIGURED = {topology.SPLITTER: 1769, topology.RECOGNIZER: 3538}


def test_what_the_benchmark_measured(bench):
    s, r = bench.functions[topology.SPLITTER], bench.functions[topology.RECOGNIZER]
    assert (s.cpu_ms, s.wait_ms, s.init_ms, s.peak_mb) == (40, 20, 500, 700)
    assert (r.cpu_ms, r.wait_ms, r.init_ms, r.peak_mb) == (111, 19, 1300, 600)
    assert (s.invocations_per_video, r.invocations_per_video) == (1.5, 1.0)
    assert (s.log_bytes_per_invocation, r.log_bytes_per_invocation) == (1000, 1000)
    assert bench.object_bytes == {"input": MIB, "stage-1": MIB / 4, "output": 10}


def test_duration_stretches_only_the_computing_part_below_one_vcpu(bench):
    s = bench.functions[topology.SPLITTER]
    assert plan.duration_ms(s, 1769) == 60
    assert plan.duration_ms(s, 3538) == 60  # a second vCPU does not help single-threaded work
    assert plan.duration_ms(s, 768) == pytest.approx(20 + 40 * 1769 / 768)  # 112.1 ms
    assert plan.gb_seconds(768, plan.duration_ms(s, 768)) == pytest.approx(0.75 * 0.113)  # billed to the ms


def test_cost_per_1000_videos_at_the_configured_memory(bench):
    c = plan.cost_per_1000(bench, CONFIGURED)
    assert c.lambda_compute[topology.SPLITTER] == pytest.approx(1500 * (1769 / 1024) * 0.060 * PRICE_GB_S)
    assert c.lambda_compute[topology.RECOGNIZER] == pytest.approx(1000 * (3538 / 1024) * 0.130 * PRICE_GB_S)
    assert c.lambda_requests == pytest.approx(2500 * 0.20 / 1e6)  # 1.5 + 1 invocations a video
    assert c.s3_puts == pytest.approx(3500 * 0.005 / 1000)  # the upload + 2.5 writes a video
    assert c.s3_gets == pytest.approx(2500 * 0.0004 / 1000)
    assert c.s3_storage_month == pytest.approx(1000 * (MIB + MIB / 4 + 10) / 2**30 * 0.023)
    assert c.logs == pytest.approx(1000 * 2500 / 2**30 * 0.50)
    assert c.cold_start[topology.RECOGNIZER] == pytest.approx((3538 / 1024) * 1.300 * PRICE_GB_S)
    assert c.total == pytest.approx(
        sum(c.lambda_compute.values()) + c.lambda_requests + c.s3_puts + c.s3_gets + c.s3_storage_month + c.logs
    )


def test_the_cheapest_memory_is_the_floor_and_costs_less(bench):
    # Below one vCPU computing costs the same at any size; waiting costs less with less memory. The
    # splitter's measured 700 MB peak is below its 768 MB floor (topology.FUNCTIONS).
    assert {r: plan.cheapest_memory(m) for r, m in bench.functions.items()} == {
        topology.SPLITTER: 768,
        topology.RECOGNIZER: 768,
    }
    s = bench.functions[topology.SPLITTER]
    at_768 = 1.5 * (0.75 * math.ceil(20 + 40 * 1769 / 768) / 1000 * PRICE_GB_S + 0.2e-6)
    assert plan.lambda_cost_per_video(s, 768) == pytest.approx(at_768)
    assert at_768 < plan.lambda_cost_per_video(s, 1769)


def test_draining_at_the_account_default_is_bound_by_s3s_put_rate(bench, tmp_path):
    s = settings(tmp_path)
    d = plan.drain(bench, s, 1000, CONFIGURED, {topology.SPLITTER: None, topology.RECOGNIZER: None}, 1000)
    # Lambda: 1,000 environments / (1.5 × 0.060 + 0.130 s held per video) = 4,545 videos/s;
    # S3: 3,500 PUT/s into stage-1, which takes 1.5 PUTs a video: 2,333 videos/s.
    assert d.throughput == pytest.approx(3500 / 1.5) and d.limit.kind == plan.S3 and "PUT" in d.limit.text
    # 1,000 / 2,333 s, then one crossing: both durations and both cold starts (0.06 + 0.5 + 0.13 + 1.3 s)
    assert d.seconds == pytest.approx(1000 / (3500 / 1.5) + 1.99)
    # The splitter has its 1,500 events (1.5 a video) at once: Lambda starts all 1,000 environments the
    # pool allows. The recognizer gets frames at 2,333 a second and holds each 0.130 s: 304 environments.
    assert d.environments == {topology.SPLITTER: 1000, topology.RECOGNIZER: 304}
    c = plan.cost_per_1000(bench, CONFIGURED)
    assert d.cost == pytest.approx(
        (c.total - c.s3_storage_month)
        + 1000 * c.cold_start[topology.SPLITTER]
        + 304 * c.cold_start[topology.RECOGNIZER]
    )
    assert d.expired == 0


def test_a_small_reserved_concurrency_loses_a_large_backlog_past_the_maximum_event_age(bench, tmp_path):
    s = settings(tmp_path, '  video-face-pipeline:recognizerReservedConcurrency: "10"\n')
    limits = plan.reserved(s, 1000)
    assert limits == {topology.SPLITTER: None, topology.RECOGNIZER: 10}
    d = plan.drain(bench, s, 1_000_000, CONFIGURED, limits, 1000)
    assert d.throughput == pytest.approx(10 / 0.130) and d.limit == plan.Limit(
        plan.RESERVED, "face-recognition's reserved concurrency (10)", topology.RECOGNIZER
    )
    assert d.seconds == pytest.approx(1_000_000 * 0.013 + 1.99)  # 3.6 hours
    # Only what is done within maxEventAgeSeconds (3,600 s) survives: 76.9 × 3,600 = 276,923.
    assert d.expired == 1_000_000 - 276_923
    assert d.environments == {topology.SPLITTER: 990, topology.RECOGNIZER: 10}  # the pool is 1,000 - 10
    assert plan.drain(bench, s, 100_000, CONFIGURED, limits, 1000).expired == 0  # 1,300 s
    first = plan.advice(bench, s, CONFIGURED, dict.fromkeys(CONFIGURED, 768), 1000)[0]
    # 1,000,000 within 3,600 s at 0.130 s each: 36.1 environments.
    assert (
        first.startswith("**recognizerReservedConcurrency** first")
        and "Reserving at least 37 drains 1,000,000 uploads" in first
    )


def test_lambdas_scaling_rate_slows_the_start_of_a_drain_that_needs_many_environments(tmp_path):
    slow = json.loads(json.dumps(BENCH))  # a recognizer of 3 s, all of it computing
    slow["core"]["face-recognition"]["warm_ms"] = {"decode": stage(2, 3000), "total": stage(2, 3000)}
    s = settings(tmp_path)
    free = {topology.SPLITTER: None, topology.RECOGNIZER: None}
    d = plan.drain(plan.load(slow), s, 1_000_000, CONFIGURED, free, 20_000)
    # A raised quota of 20,000 leaves S3 the limit (2,333 videos/s), which needs 2,333 × 3 s = 7,000
    # recognizer environments: Lambda adds 1,000 every 10 s, so the first six windows run at 1/7,
    # 2/7, ... 6/7 of full speed (70,000 videos in 60 s); the other 930,000 take 398.6 s.
    assert d.throughput == pytest.approx(3500 / 1.5)
    assert d.environments[topology.RECOGNIZER] == 7000
    assert d.seconds == pytest.approx(60 + 930_000 / (3500 / 1.5) + (0.06 + 0.5 + 3.0 + 1.3))


def test_reservations_beyond_what_the_account_allows_are_refused(tmp_path):
    s = settings(tmp_path, '  video-face-pipeline:recognizerReservedConcurrency: "950"\n')
    with pytest.raises(plan.PlanError, match="reserves more than"):
        plan.reserved(s, 1000)


def test_the_report_prints_the_figures_it_computed(bench, tmp_path):
    s = settings(tmp_path, '  video-face-pipeline:recognizerReservedConcurrency: "10"\n')
    text = plan.report(bench, s, stack_name="Pulumi.plan.yaml")
    c = plan.cost_per_1000(bench, CONFIGURED)
    assert f"**{plan.money(c.total)}**" in text
    assert "| video-splitting, configured | 1,769 MB | 40 + 20 | 60 ms |" in text
    assert "723,077" in text  # the expired events of the 1M backlog at the stack's reservations
    assert "**recognizerReservedConcurrency** first" in text
    # The library (issue 21): the index, the topic and a relabel, per 1,000 videos.
    library = library_cost.per_1000(memory_mb=CONFIGURED["recognizer"])
    assert f"**{plan.money(library.per_result)}**" in text and plan.money(library.relabel) in text
    assert library.relabel > library.topic > 0 and library.index_writes > 0
    # Another measurement gives other figures: nothing in the report is fixed.
    slower = json.loads(json.dumps(BENCH))
    slower["core"]["video-splitting"]["warm_ms"]["total"]["mean_ms"] = 90
    assert "| video-splitting, configured | 1,769 MB | 40 + 50 | 90 ms |" in plan.report(plan.load(slower), s)


def test_the_command_names_what_is_missing(tmp_path, capsys):
    stack = tmp_path / "Pulumi.plan.yaml"
    stack.write_text(STACK)
    assert plan.main(["--bench", str(tmp_path / "none.json"), "--stack", str(stack)]) == 2
    assert "run `make bench` first" in capsys.readouterr().err
    partial = {k: v for k, v in BENCH.items() if k != "image"}
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    assert plan.main(["--bench", str(tmp_path / "partial.json"), "--stack", str(stack)]) == 2
    assert "the benchmark has no image/gzip_bytes" in capsys.readouterr().err
    (tmp_path / "full.json").write_text(json.dumps(BENCH))
    assert plan.main(["--bench", str(tmp_path / "full.json"), "--stack", str(stack)]) == 0
    assert "What to change first" in capsys.readouterr().out


def test_the_memory_advice_prices_each_function_at_its_cheapest_alone(bench, tmp_path):
    s = settings(tmp_path)
    advice = plan.advice(bench, s, CONFIGURED, {topology.SPLITTER: 768, topology.RECOGNIZER: 768}, 1000)
    assert advice[0].startswith("Nothing to change for safety")
    [splitter] = [line for line in advice if line.startswith("**splitterMemory** 768 MB instead of 1769 MB")]
    now = plan.cost_per_1000(bench, CONFIGURED).total
    # 1,500 invocations: 1769/1024 × 0.060 GB-s each at 1,769 MB, 768/1024 × 0.113 at 768 MB (112.1 ms, billed 113)
    saving = 1500 * ((1769 / 1024) * 0.060 - 0.75 * 0.113) * PRICE_GB_S
    assert f"({plan.money(now)} → {plan.money(now - saving)})" in splitter
    assert "+52 ms" in splitter  # 112.1 - 60
