"""`make plan`: the last benchmark's figures, priced and scaled for AWS.

    python -m bench.plan [--bench out/bench/latest.json] [--stack Pulumi.dev.yaml] [--account-concurrency 1000]

Reads what `make bench` measured (each function's warm stage times, its cold start, its peak memory;
the local stack runs' invocations, objects and log bytes; the recognizer image's size) and prints,
as Markdown tables: what 1,000 videos cost at the stack's memory sizes and at the size that costs
least, what the stack costs a month whatever its volume, how long AWS would take to drain 1k, 100k
and 1M uploads at the account's default concurrency and at the stack's reserved concurrency, and
which setting to change first. Every figure comes from the benchmark's JSON, the stack file and the
named constants below; the arithmetic is in docs/decisions/0007-cost-and-scale-model.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# prices: us-east-1, x86_64, on-demand, without free tiers or volume tiers (bench/prices.py)
from bench.prices import (
    ALARM_MONTH,
    DASHBOARD_MONTH,
    ECR_STORAGE_GB_MONTH,
    GB,
    KMS_KEY_MONTH,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUEST,
    LOGS_INGESTION_GB,
    PRICES_REGION,
    PRICES_TAKEN,
    S3_GET,
    S3_PUT,
    S3_STORAGE_GB_MONTH,
    gb_seconds,
    money,
)
from bench.prices import table as _table
from components import alarms, topology
from components.project import DEFAULT_STACK_FILE, OUT_DIR
from components.settings import MAX_MEMORY_MB, StackSettings, load_stack_file, schema

# Since 2025-08-01 Lambda bills the INIT phase of on-demand functions of every kind (before, only
# container images and custom runtimes): a cold start's init is billed like its duration.
INIT_BILLED = True
# The Lambda Python 3.12 base image the recognizer's image builds on, compressed, as ECR stores it:
# an estimate (not measured: no Docker here); `docker manifest inspect` on the pinned digest gives it.
BASE_IMAGE_BYTES = 200 * 2**20

# -- Lambda's and S3's limits --------------------------------------------------------------------------
ACCOUNT_CONCURRENCY = 1000  # a region's default concurrency quota (raised through Service Quotas)
MIN_UNRESERVED = 100  # Lambda keeps this much of the account's concurrency unreserved
# Since 2023-11 each function scales by up to 1,000 concurrent executions every 10 seconds, up to
# the account's or its reserved limit (synchronous and asynchronous alike).
SCALE_STEP = 1000
SCALE_WINDOW_S = 10
VCPU_MB = 1769  # Lambda grants one vCPU per 1,769 MB (in proportion below it)
MEMORY_STEP_MB = 64  # the grid searched for the cheapest size (Lambda takes any whole MB)
# Per prefix of a bucket, per second; S3 partitions a busy bucket further over time, so this is what
# a sudden burst can count on. Every key here sits in a bucket's one prefix (no folders): the floor.
S3_PUTS_PER_PREFIX_S = 3500
S3_GETS_PER_PREFIX_S = 5500
BACKLOGS = (1_000, 100_000, 1_000_000)
WORTH = 0.01  # a saving under 1% of the cost per video is not worth recommending a slower setting for


# -- what the benchmark measured -----------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One function, as the benchmark measured it on one core of its machine."""

    role: str
    cpu_ms: float  # mean per invocation of its computing stages (topology: cpu_stages)
    wait_ms: float  # the rest of its mean: S3, Lambda's Invoke, the handler's own overhead
    init_ms: float  # a cold start until ready for its first event (the cold start minus that event)
    peak_mb: float  # its highest peak, the largest frame included (with ffmpeg's, for the splitter)
    invocations_per_video: float  # through the local stack: retries and repeated deliveries count
    log_bytes_per_invocation: float


@dataclass(frozen=True)
class Bench:
    functions: dict[str, Measured]  # by role
    object_bytes: dict[str, float]  # mean bytes per video in each bucket
    image_bytes: float  # the recognizer image's own layers, gzip'd (bench/image.py)
    source: str  # when and where it was measured


class PlanError(ValueError):
    """The benchmark's JSON lacks a figure the plan needs; the message names it."""


def bench_name(role: str) -> str:
    """The name a function has in the benchmark: its default name (Pulumi.yaml), as bench_core records it."""
    return str(schema()[f"{role}FunctionName"]["default"])


def _get(data: Mapping, *path: str) -> Any:  # a value of the benchmark's JSON
    node = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            raise PlanError(f"the benchmark has no {'/'.join(path)}: run `make bench` (without --skip-*) first")
        node = node[key]
    return node


def _mean(stats: Mapping) -> float:
    """A stage's mean over every invocation (a stage some invocations skip counts 0 for them)."""
    return float(stats.get("mean_ms", 0.0)) * stats.get("n", 0)


def load(bench: Mapping) -> Bench:
    functions = {}
    runs = list(_get(bench, "stack").values())
    videos = sum(r["videos"] for r in runs)
    for role, facts in topology.FUNCTIONS.items():
        name = bench_name(role)
        warm = _get(bench, "core", name, "warm_ms")
        n = _get(warm, "total", "n")
        cpu = sum(_mean(warm[s]) for s in facts.cpu_stages if s in warm) / n
        total = float(_get(warm, "total", "mean_ms"))
        cold = _get(bench, "core", name, "cold_start_ms")
        largest = _get(bench, "largest_frame", name)
        peak = max(
            float(_get(bench, "core", name, "peak_rss_mb")) + float(bench["core"][name].get("children_peak_rss_mb", 0)),
            float(largest["peak_rss_mb"]) + float(largest.get("ffmpeg_peak_rss_mb", 0)),
        )
        invocations = sum(_get(r, "functions", name, "invocations") for r in runs)
        logged = sum(_get(r, "log_bytes", name) for r in runs)
        functions[role] = Measured(
            role=role,
            cpu_ms=cpu,
            wait_ms=max(0.0, total - cpu),
            init_ms=float(_get(cold, "total")) - float(_get(cold, "first_invocation")),
            peak_mb=peak,
            invocations_per_video=invocations / videos,
            log_bytes_per_invocation=logged / invocations if invocations else 0.0,
        )
    object_bytes = {
        bucket: sum(_get(r, "objects", bucket, "bytes") for r in runs) / videos for bucket in topology.BUCKETS
    }
    machine = bench.get("machine", {})
    load = machine.get("load_average")
    source = (
        f"{machine.get('time', '?')}, {machine.get('cpus', '?')} CPUs ({machine.get('processor', '?')})"
        + (f", load average {load[0]:.1f}" if load else "")
        + ", "
        f"{bench.get('inputs', {}).get('count', '?')} videos from {bench.get('inputs', {}).get('videos', '?')}"
    )
    return Bench(functions, object_bytes, float(_get(bench, "image", "gzip_bytes")), source)


# -- one function on Lambda ----------------------------------------------------------------------------


def cpu_share(memory_mb: float) -> float:
    """The share of one vCPU a memory size buys. Above one vCPU, more helps only work that runs in
    parallel; the benchmark measured one thread, so more is taken as no faster."""
    return min(1.0, memory_mb / VCPU_MB)


def duration_ms(m: Measured, memory_mb: float) -> float:
    """Its mean duration at this memory: computing stretches with a smaller CPU share, waiting does not."""
    return m.wait_ms + m.cpu_ms / cpu_share(memory_mb)


def init_ms(m: Measured, memory_mb: float) -> float:
    return m.init_ms / cpu_share(memory_mb)  # imports and model loading compute too


def lambda_cost_per_video(m: Measured, memory_mb: float) -> float:
    """Compute and requests of one function for one video (warm)."""
    per_invocation = gb_seconds(memory_mb, duration_ms(m, memory_mb)) * LAMBDA_GB_SECOND + LAMBDA_REQUEST
    return m.invocations_per_video * per_invocation


def cold_start_cost(m: Measured, memory_mb: float) -> float:
    return gb_seconds(memory_mb, init_ms(m, memory_mb)) * LAMBDA_GB_SECOND if INIT_BILLED else 0.0


def memory_floor(m: Measured) -> int:
    """The least memory the function may have: its floor in topology.FUNCTIONS (the settings refuse
    less), and at least its measured peak."""
    return max(topology.FUNCTIONS[m.role].min_memory_mb, math.ceil(m.peak_mb))


def cheapest_memory(m: Measured) -> int:
    """The memory size, from the floor up, at which a video costs least (the lowest on a tie)."""
    sizes = range(memory_floor(m), MAX_MEMORY_MB + 1, MEMORY_STEP_MB)
    return min(sizes, key=lambda mb: (round(lambda_cost_per_video(m, mb), 12), mb))


# -- 1,000 videos ----------------------------------------------------------------------------------------


@dataclass
class Cost:
    """Per 1,000 videos, in dollars, at given memory sizes (by role)."""

    memory: dict[str, int]
    lambda_compute: dict[str, float]  # by role
    lambda_requests: float
    s3_puts: float
    s3_gets: float
    s3_storage_month: float  # the videos, frames and results kept one month (no lifecycle rule deletes them)
    logs: float
    cold_start: dict[str, float] = field(default_factory=dict)  # by role: one environment's init

    @property
    def total(self) -> float:
        """Per 1,000 videos, warm, with a month of storage."""
        return (
            sum(self.lambda_compute.values())
            + self.lambda_requests
            + self.s3_puts
            + self.s3_gets
            + self.s3_storage_month
            + self.logs
        )


def s3_requests_per_video(b: Bench) -> tuple[float, float]:
    """(PUTs, GETs) per video: the upload, then each invocation reads one object and writes one."""
    invocations = sum(m.invocations_per_video for m in b.functions.values())
    return 1 + invocations, invocations


def cost_per_1000(b: Bench, memory: Mapping[str, int]) -> Cost:
    n = 1000
    puts, gets = s3_requests_per_video(b)
    return Cost(
        memory=dict(memory),
        lambda_compute={
            role: n
            * m.invocations_per_video
            * gb_seconds(memory[role], duration_ms(m, memory[role]))
            * LAMBDA_GB_SECOND
            for role, m in b.functions.items()
        },
        lambda_requests=n * sum(m.invocations_per_video for m in b.functions.values()) * LAMBDA_REQUEST,
        s3_puts=n * puts * S3_PUT,
        s3_gets=n * gets * S3_GET,
        s3_storage_month=n * sum(b.object_bytes.values()) / GB * S3_STORAGE_GB_MONTH,
        logs=n
        * sum(m.invocations_per_video * m.log_bytes_per_invocation for m in b.functions.values())
        / GB
        * LOGS_INGESTION_GB,
        cold_start={role: cold_start_cost(m, memory[role]) for role, m in b.functions.items()},
    )


def monthly(b: Bench, s: StackSettings) -> dict[str, float]:
    """What the stack costs a month however many videos it sees."""
    return {
        "ECR storage (one image: its own layers as measured, plus the base image's estimate)": (
            (b.image_bytes + BASE_IMAGE_BYTES) / GB * ECR_STORAGE_GB_MONTH
        ),
        "KMS key of the alarm topic": KMS_KEY_MONTH,
        "KMS key of the results topic (the library)": KMS_KEY_MONTH,
        f"{len(alarms.alarms(s))} CloudWatch alarms": len(alarms.alarms(s)) * ALARM_MONTH,
        "the dashboard (free if the account has fewer than three others)": DASHBOARD_MONTH,
    }


# -- draining a backlog -------------------------------------------------------------------------------


RESERVED, POOL, S3 = "reserved concurrency", "unreserved concurrency", "S3"  # what limits a drain


@dataclass(frozen=True)
class Limit:
    kind: str  # RESERVED, POOL or S3
    text: str  # for people
    role: str | None = None  # RESERVED: whose


@dataclass
class Drain:
    videos: int
    throughput: float  # videos per second, once scaled out
    limit: Limit
    seconds: float  # until the last result
    environments: dict[str, int]  # cold starts per function (by role)
    cost: float  # Lambda, S3 requests and logs for the whole backlog, cold starts included
    expired: int  # events older than maxEventAgeSeconds: to the dead-letter queue unprocessed


def reserved(s: StackSettings, account: int) -> dict[str, int | None]:
    """Each function's reserved concurrency in the stack (None: unreserved, sharing the account's pool)."""
    out: dict[str, int | None] = {}
    for role in topology.FUNCTIONS:
        c = s.function(role).reserved_concurrency
        out[role] = c if c >= 0 else None
    if sum(c for c in out.values() if c) > account - MIN_UNRESERVED:
        raise PlanError(f"the stack reserves more than the account's {account} less the {MIN_UNRESERVED} Lambda keeps")
    return out


def drain(
    b: Bench, s: StackSettings, videos: int, memory: Mapping[str, int], limits: Mapping[str, int | None], account: int
) -> Drain:
    """How long AWS takes to turn `videos` uploads, all present at once, into results.

    Throughput once scaled out is the least of: each reserved function's concurrency over the time
    each video holds it; the account's unreserved pool over the time each video holds the
    unreserved functions (Little's law: busy environments = arrivals × time held); S3's request
    rates on one prefix per bucket. Each function reaches the concurrency it needs at Lambda's
    scaling rate; the last video then still crosses the pipeline once, and each function's first
    environments start cold."""
    held = {role: m.invocations_per_video * duration_ms(m, memory[role]) / 1000 for role, m in b.functions.items()}
    candidates: list[tuple[float, Limit]] = []
    for role, limit in limits.items():
        if limit is not None:
            text = f"{s.function(role).name}'s reserved concurrency ({limit})"
            candidates.append((limit / held[role], Limit(RESERVED, text, role)))
    pool = account - sum(c for c in limits.values() if c)
    shared = [role for role, limit in limits.items() if limit is None]
    if shared:
        text = f"the account's unreserved concurrency ({pool:,}: {' and '.join(s.function(r).name for r in shared)})"
        candidates.append((pool / sum(held[r] for r in shared), Limit(POOL, text)))
    most_puts = max([1.0] + [m.invocations_per_video for m in b.functions.values()])  # into any one bucket
    most_gets = max(m.invocations_per_video for m in b.functions.values())
    candidates.append((S3_PUTS_PER_PREFIX_S / most_puts, Limit(S3, f"S3's {S3_PUTS_PER_PREFIX_S:,} PUT/s on a prefix")))
    candidates.append((S3_GETS_PER_PREFIX_S / most_gets, Limit(S3, f"S3's {S3_GETS_PER_PREFIX_S:,} GET/s on a prefix")))
    throughput, limited_by = min(candidates, key=lambda c: c[0])
    needed = {role: math.ceil(throughput * held[role]) for role in held}
    # Scaling out: in each 10-s window a function may run SCALE_STEP more environments than in the last.
    windows_to_scale = max(math.ceil(c / SCALE_STEP) for c in needed.values()) - 1
    done, t = 0.0, 0.0
    for k in range(windows_to_scale):
        ramp = min(min(1.0, SCALE_STEP * (k + 1) / c) for c in needed.values())
        done += throughput * ramp * SCALE_WINDOW_S
        t += SCALE_WINDOW_S
        if done >= videos:
            break
    if done < videos:
        t += (videos - done) / throughput
    crossing = sum(duration_ms(m, memory[r]) + init_ms(m, memory[r]) for r, m in b.functions.items()) / 1000
    seconds = t + crossing
    environments = {role: cold_starts(b, role, videos, c, limits, pool) for role, c in needed.items()}
    per_1000 = cost_per_1000(b, memory)
    variable = per_1000.total - per_1000.s3_storage_month
    cost = videos / 1000 * variable + sum(environments[r] * per_1000.cold_start[r] for r in environments)
    # A backlog that Lambda's concurrency holds back waits, retried, in the asynchronous queue of the
    # function it limits; an event older than maxEventAgeSeconds leaves for the dead-letter queue,
    # unprocessed. (One that S3 holds back is the uploader's, slowed down by S3's 503 SlowDown.)
    expired = 0
    if limited_by.kind != S3 and t > s.max_event_age_s:
        expired = max(0, videos - math.floor(throughput * s.max_event_age_s))
    return Drain(videos, throughput, limited_by, seconds, environments, cost, expired)


def cold_starts(b: Bench, role: str, videos: int, needed: int, limits: Mapping[str, int | None], pool: int) -> int:
    """Environments a function starts during a drain, each a cold start: those its steady throughput
    needs, except for the function the uploads invoke, whose whole backlog is there at once: Lambda
    starts as many as it may (its reservation or the pool, at most one scaling step) straight away."""
    events = math.ceil(videos * b.functions[role].invocations_per_video)
    if topology.FUNCTIONS[role].reads[topology.FIRST_FRAME][0] == topology.INPUT:
        limit = limits[role]
        needed = max(needed, min(events, pool if limit is None else limit, SCALE_STEP))
    return min(events, needed)


# -- what to change first ------------------------------------------------------------------------------


def advice(
    b: Bench, s: StackSettings, configured: Mapping[str, int], cheapest: Mapping[str, int], account: int
) -> list[str]:
    """The settings worth changing, most important first: losing uploads, then throughput, then cost."""
    out = []
    limits = reserved(s, account)
    losing = [d for d in (drain(b, s, n, configured, limits, account) for n in BACKLOGS) if d.expired]
    if losing:
        d = losing[0]
        role = d.limit.role
        if role is not None:
            m = b.functions[role]
            held = m.invocations_per_video * duration_ms(m, configured[role]) / 1000
            needs = ", ".join(f"{math.ceil(x.videos / s.max_event_age_s * held):,} drains {x.videos:,}" for x in losing)
            key = f"{role}ReservedConcurrency"
            fix = (
                f"Reserving at least {needs} uploads within it (or set -1, unreserved; or raise "
                "maxEventAgeSeconds, up to 21,600)"
            )
        else:
            key, fix = "the account's concurrency quota", "Raise it (Service Quotas), or raise maxEventAgeSeconds"
        out.append(
            f"**{key}** first: limited by {d.limit.text}, the stack drains {d.throughput:,.1f} videos/s, so "
            f"{d.videos:,} uploads at once take {duration(d.seconds)}; past maxEventAgeSeconds "
            f"({s.max_event_age_s:,} s) about {d.expired:,} events would go to the dead-letter queue "
            f"unprocessed. {fix}."
        )
    else:
        out.append(
            f"Nothing to change for safety: at the stack's concurrency no backlog up to {BACKLOGS[-1]:,} uploads "
            f"outlives maxEventAgeSeconds ({s.max_event_age_s:,} s), so none reaches a dead-letter queue unprocessed."
        )
    default = drain(b, s, BACKLOGS[-1], configured, dict.fromkeys(topology.FUNCTIONS), account)
    out.append(
        f"At the account's default concurrency, {BACKLOGS[-1]:,} uploads drain in {duration(default.seconds)}, "
        f"limited by {default.limit.text}"
        + (
            "; beyond it, spread keys over several prefixes (folders) so S3 partitions them."
            if default.limit.kind == S3
            else "; more throughput needs a higher account concurrency quota (Service Quotas)."
        )
    )
    now = cost_per_1000(b, configured).total
    for role in topology.FUNCTIONS:
        if configured[role] != cheapest[role]:
            m = b.functions[role]
            then = cost_per_1000(b, {**configured, role: cheapest[role]}).total
            slower = duration_ms(m, cheapest[role]) - duration_ms(m, configured[role])
            out.append(
                f"**{role}Memory** {cheapest[role]} MB instead of {configured[role]} MB: "
                f"{percent(now - then, now)} less per 1,000 videos ({money(now)} → {money(then)}), each "
                f"{s.function(role).name} invocation {slower:+.0f} ms. Lambda bills memory × time and gives CPU in "
                "proportion to memory, so computing costs the same at any size below one vCPU; only the time "
                "spent waiting on S3 is cheaper with less memory"
                + (": too little to be worth slower videos." if (now - then) / now < WORTH else ".")
            )
    return out


# -- the report -----------------------------------------------------------------------------------------


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def report(b: Bench, s: StackSettings, *, account: int = ACCOUNT_CONCURRENCY, stack_name: str = "") -> str:
    configured = {role: s.function(role).memory_mb for role in topology.FUNCTIONS}
    cheapest = {role: cheapest_memory(m) for role, m in b.functions.items()}
    at = {"configured": cost_per_1000(b, configured), "cheapest": cost_per_1000(b, cheapest)}
    names = {role: s.function(role).name for role in topology.FUNCTIONS}
    lines = [
        f"Measured: {b.source}. Stack: {stack_name or '?'} ({s.architecture}). Prices: {PRICES_REGION}, "
        f"{PRICES_TAKEN}.",
        "",
        "Per invocation, warm (the benchmark's mean on one core; on Lambda the computing part stretches "
        f"below one vCPU, {VCPU_MB:,} MB):",
        "",
    ]
    rows = []
    for role, m in b.functions.items():
        for label, mb in (("configured", configured[role]), ("cheapest", cheapest[role])):
            rows.append(
                [
                    f"{names[role]}, {label}",
                    f"{mb:,} MB",
                    f"{m.cpu_ms:.0f} + {m.wait_ms:.0f}",
                    f"{duration_ms(m, mb):.0f} ms",
                    f"{gb_seconds(mb, duration_ms(m, mb)):.4f}",
                    f"{init_ms(m, mb) / 1000:.2f} s",
                    f"{m.peak_mb:.0f} MB",
                ]
            )
    lines += _table(
        ["function", "memory", "measured ms (compute + wait)", "on Lambda", "GB-s", "cold start (init)", "peak memory"],
        rows,
    )
    lines += ["", "Cost per 1,000 videos:", ""]
    rows = []
    for role in topology.FUNCTIONS:
        rows.append(
            [f"Lambda compute, {names[role]}"] + [money(at[k].lambda_compute[role]) for k in ("configured", "cheapest")]
        )
    puts, gets = s3_requests_per_video(b)
    rows += [
        [f"Lambda requests ({sum(m.invocations_per_video for m in b.functions.values()):.2f} per video)"]
        + [money(at[k].lambda_requests) for k in at],
        [f"S3 PUTs ({puts:.2f} per video)"] + [money(at[k].s3_puts) for k in at],
        [f"S3 GETs ({gets:.2f} per video)"] + [money(at[k].s3_gets) for k in at],
        [f"S3 storage, one month ({sum(b.object_bytes.values()) / 1024:,.0f} KB per video)"]
        + [money(at[k].s3_storage_month) for k in at],
        ["CloudWatch Logs ingestion"] + [money(at[k].logs) for k in at],
        ["**total, warm**"] + [f"**{money(at[k].total)}**" for k in at],
    ]
    for role in topology.FUNCTIONS:
        rows.append([f"+ each cold start of {names[role]} (init billed)"] + [money(at[k].cold_start[role]) for k in at])
    memory_label = ", ".join(f"{names[r]} {{{r}}} MB" for r in topology.FUNCTIONS)
    lines += _table(
        [
            "per 1,000 videos",
            "configured (" + memory_label.format(**configured) + ")",
            "cheapest (" + memory_label.format(**cheapest) + ")",
        ],
        rows,
    )
    fixed = monthly(b, s)
    lines += ["", f"Every month, whatever the volume: {money(sum(fixed.values()))}", ""]
    lines += _table(["per month", "cost"], [[k, money(v)] for k, v in fixed.items()])
    limits = reserved(s, account)
    nothing_reserved: dict[str, int | None] = dict.fromkeys(topology.FUNCTIONS)
    scenarios = {f"account default ({account:,}, nothing reserved)": nothing_reserved}
    if any(v is not None for v in limits.values()):
        scenarios[
            "this stack's reserved concurrency ("
            + ", ".join(f"{names[r]} {'unreserved' if v is None else v}" for r, v in limits.items())
            + ")"
        ] = limits
    else:
        scenarios["this stack's reserved concurrency (none: as the account default)"] = limits
    lines += [
        "",
        f"Draining uploads that arrive at once (configured memory; Lambda scales each function by {SCALE_STEP:,} "
        f"environments per {SCALE_WINDOW_S} s; S3 takes {S3_PUTS_PER_PREFIX_S:,} PUT/s and "
        f"{S3_GETS_PER_PREFIX_S:,} GET/s per prefix):",
        "",
    ]
    rows = []
    for label, lim in scenarios.items():
        for videos in BACKLOGS:
            d = drain(b, s, videos, configured, lim, account)
            rows.append(
                [
                    label,
                    f"{videos:,}",
                    f"{d.throughput:,.1f}",
                    d.limit.text,
                    duration(d.seconds),
                    " / ".join(f"{d.environments[r]:,}" for r in topology.FUNCTIONS),
                    money(d.cost),
                    f"{d.expired:,}" if d.expired else "0",
                ]
            )
    lines += _table(
        [
            "concurrency",
            "uploads",
            "videos/s",
            "limited by",
            "until the last result",
            "cold starts (" + " / ".join(names.values()) + ")",
            "cost (warm + cold starts)",
            "expired to the DLQ",
        ],
        rows,
    )
    from bench.library_cost import report_lines

    lines += report_lines(configured[topology.RECOGNIZER], s.timeline)
    lines += ["", "What to change first:", ""]
    lines += [f"{i}. {line}" for i, line in enumerate(advice(b, s, configured, cheapest, account), 1)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, default=OUT_DIR / "bench" / "latest.json", help="the benchmark's JSON")
    parser.add_argument("--stack", type=Path, default=DEFAULT_STACK_FILE, help="stack file (default: Pulumi.dev.yaml)")
    parser.add_argument(
        "--account-concurrency",
        type=int,
        default=ACCOUNT_CONCURRENCY,
        help=f"the account's Lambda concurrency quota (default {ACCOUNT_CONCURRENCY:,})",
    )
    args = parser.parse_args(argv)
    try:
        bench = json.loads(args.bench.read_text(encoding="utf-8"))
        s = load_stack_file(args.stack, check_files=False)
        print(report(load(bench), s, account=args.account_concurrency, stack_name=args.stack.name))
    except FileNotFoundError as error:
        print(f"plan: {error.filename} does not exist; run `make bench` first", file=sys.stderr)
        return 2
    except (PlanError, ValueError) as error:
        print(f"plan: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
