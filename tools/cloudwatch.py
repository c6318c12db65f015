"""Reading what Lambda published about a run back from CloudWatch, on AWS or from the local stack.

    figures = function_figures(cloudwatch, ["video-splitting", "face-recognition"], start, end)
    figures["face-recognition"].duration_avg_ms

One GetMetricData call (paged) asks for every function's one-minute data over the window; the
figures for the whole window are then the sums, maxima and the mean (total Duration / its sample
count) of those minutes, which is what CloudWatch itself gives for one period covering them.
Metric names and statistics are components/metrics.py's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from components import metrics as m

if TYPE_CHECKING:
    from botocore.client import BaseClient


@dataclass
class FunctionFigures:
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    duration_avg_ms: float | None = None
    duration_max_ms: float | None = None
    concurrency_max: int | None = None
    async_events_received: int = 0
    async_events_dropped: int = 0
    async_event_age_max_ms: float | None = None

    @property
    def has_data(self) -> bool:
        return bool(self.invocations or self.throttles or self.async_events_received)

    def as_dict(self) -> dict:
        return asdict(self)


# (metric, statistic) per figure; the Duration average is its Sum over its SampleCount.
_QUERIES = (
    ("invocations", m.INVOCATIONS, "Sum"),
    ("errors", m.ERRORS, "Sum"),
    ("throttles", m.THROTTLES, "Sum"),
    ("duration_sum", m.DURATION, "Sum"),
    ("duration_count", m.DURATION, "SampleCount"),
    ("duration_max_ms", m.DURATION, "Maximum"),
    ("concurrency_max", m.CONCURRENT_EXECUTIONS, "Maximum"),
    ("async_events_received", m.ASYNC_EVENTS_RECEIVED, "Sum"),
    ("async_events_dropped", m.ASYNC_EVENTS_DROPPED, "Sum"),
    ("async_event_age_max_ms", m.ASYNC_EVENT_AGE, "Maximum"),
)


def window(start: datetime, end: datetime) -> tuple[datetime, datetime, int]:
    """Whole minutes around [start, end] and a period of whole minutes that keeps GetMetricData
    within 1,440 data points per series (one-minute data for up to a day)."""
    first = start.replace(second=0, microsecond=0)
    last = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes = max(1, math.ceil((last - first).total_seconds() / 60))
    return first, last, m.PERIOD_S * max(1, math.ceil(minutes / 1440))


def metric_data(cloudwatch: BaseClient, queries: list[dict], start: datetime, end: datetime) -> dict[str, list[float]]:
    """GetMetricData over every page: query id → its values."""
    values: dict[str, list[float]] = {q["Id"]: [] for q in queries}
    kwargs: dict = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
    while True:
        page = cloudwatch.get_metric_data(**kwargs)
        for result in page["MetricDataResults"]:
            values[result["Id"]].extend(result.get("Values", []))
        if not page.get("NextToken"):
            return values
        kwargs["NextToken"] = page["NextToken"]


def function_figures(
    cloudwatch: BaseClient, functions: list[str], start: datetime, end: datetime
) -> dict[str, FunctionFigures]:
    """Each function's CloudWatch figures between `start` and `end` (timezone-aware)."""
    first, last, period = window(start, end)
    queries, ids = [], {}
    for i, function in enumerate(functions):
        for j, (figure, metric, statistic) in enumerate(_QUERIES):
            query_id = f"f{i}q{j}"
            ids[query_id] = (function, figure)
            queries.append(
                {
                    "Id": query_id,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": metric.namespace,
                            "MetricName": metric.name,
                            "Dimensions": metric.dimensions(function),
                        },
                        "Period": period,
                        "Stat": statistic,
                    },
                    "ReturnData": True,
                }
            )
    values: dict[str, list[float]] = {}
    for i in range(0, len(queries), 500):  # GetMetricData takes 500 queries at most
        values.update(metric_data(cloudwatch, queries[i : i + 500], first, last))
    raw: dict[str, dict[str, list[float]]] = {f: {} for f in functions}
    for query_id, series in values.items():
        function, figure = ids[query_id]
        raw[function][figure] = series
    return {function: _combine(series) for function, series in raw.items()}


def _combine(series: dict[str, list[float]]) -> FunctionFigures:
    def total(name: str) -> int:
        return round(sum(series.get(name, [])))

    def peak(name: str) -> float | None:
        return max(series[name]) if series.get(name) else None

    count = sum(series.get("duration_count", []))
    concurrency = peak("concurrency_max")
    return FunctionFigures(
        invocations=total("invocations"),
        errors=total("errors"),
        throttles=total("throttles"),
        duration_avg_ms=sum(series.get("duration_sum", [])) / count if count else None,
        duration_max_ms=peak("duration_max_ms"),
        concurrency_max=None if concurrency is None else round(concurrency),
        async_events_received=total("async_events_received"),
        async_events_dropped=total("async_events_dropped"),
        async_event_age_max_ms=peak("async_event_age_max_ms"),
    )


def describe(function: str, figures: FunctionFigures) -> str:
    """One line for people."""
    if not figures.has_data:
        return f"{function}: no data in CloudWatch for this window"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    return (
        f"{function}: {figures.invocations} invocations, {figures.errors} errors, {figures.throttles} throttles; "
        f"duration avg {ms(figures.duration_avg_ms)}, max {ms(figures.duration_max_ms)}; "
        f"concurrency max {figures.concurrency_max if figures.concurrency_max is not None else '-'}"
        + (f"; {figures.async_events_dropped} async events dropped" if figures.async_events_dropped else "")
    )
