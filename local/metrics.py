"""The local stack's CloudWatch metrics: what Lambda and SQS publish for the deployed stack, put into
the moto server's CloudWatch so that any client reads them there as it would on AWS.

The runtime only records; a thread sends every `interval_s`, so no invocation waits for CloudWatch.
One-minute resolution and the statistics it makes exact: docs/decisions/0004-local-lambda-emulation.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from components import metrics as m
from local.sender import PeriodicSender

if TYPE_CHECKING:
    from botocore.client import BaseClient

MAX_DATA_PER_REQUEST = 1000  # PutMetricData's limit of data points per call
MAX_VALUES_PER_DATUM = 150  # ... and of distinct values in one data point


def minute_of(epoch_s: float) -> int:
    """The start of the minute `epoch_s` falls in, in epoch seconds."""
    return int(epoch_s // m.PERIOD_S * m.PERIOD_S)


class MetricsPublisher(PeriodicSender):
    """Accumulates data points per metric, dimension value and minute, and sends them in batches."""

    thread_name = "cloudwatch-metrics"

    def __init__(
        self, cloudwatch: BaseClient, *, interval_s: float = 2.0, log: Callable[[str], None] = lambda _: None
    ) -> None:
        super().__init__(interval_s=interval_s, log=log)
        self.cloudwatch = cloudwatch
        # (metric, dimension value, minute) → {value: how many times}
        self._pending: dict[tuple[m.Metric, str, int], dict[float, int]] = {}
        self._queues: dict[str, tuple[str, object]] = {}  # queue name → (URL, SQS client)
        self._published_depth: dict[str, tuple[int, int]] = {}  # queue name → (minute, depth) last sent

    # -- recording (any thread) --------------------------------------------------------------

    def put(self, metric: m.Metric, dimension_value: str, value: float, at: float | None = None) -> None:
        key = (metric, dimension_value, minute_of(time.time() if at is None else at))
        with self._lock:
            counts = self._pending.setdefault(key, {})
            counts[value] = counts.get(value, 0) + 1

    def function(self, name: str) -> FunctionMetrics:
        return FunctionMetrics(self, name)

    def watch_queue(self, name: str, url: str, sqs: BaseClient) -> None:
        """Publish the queue's ApproximateNumberOfMessagesVisible as SQS does: sampled at every flush,
        sent when it changes and at least once a minute."""
        with self._lock:
            self._queues[name] = (url, sqs)

    # -- sending ----------------------------------------------------------------------------

    def _send(self) -> None:
        """Send everything recorded so far (and each watched queue's depth)."""
        self._sample_queues()
        with self._lock:
            pending, self._pending = self._pending, {}
        data: dict[str, list[dict]] = {}
        for (metric, dimension_value, minute), counts in sorted(pending.items(), key=lambda kv: kv[0][2]):
            values = sorted(counts.items())
            for i in range(0, len(values), MAX_VALUES_PER_DATUM):
                chunk = values[i : i + MAX_VALUES_PER_DATUM]
                data.setdefault(metric.namespace, []).append(
                    {
                        "MetricName": metric.name,
                        "Dimensions": metric.dimensions(dimension_value),
                        "Timestamp": datetime.fromtimestamp(minute, UTC),
                        "Unit": metric.unit,
                        "Values": [v for v, _ in chunk],
                        "Counts": [float(n) for _, n in chunk],
                    }
                )
        for namespace, datums in data.items():
            for i in range(0, len(datums), MAX_DATA_PER_REQUEST):
                batch = datums[i : i + MAX_DATA_PER_REQUEST]
                try:
                    self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=batch)
                except Exception as exc:  # CloudWatch gone (the stack is stopping) or refusing: say so once
                    self._failed(f"publish {len(batch)} CloudWatch data point(s) to {namespace}", exc)

    def _sample_queues(self) -> None:
        with self._lock:
            queues = dict(self._queues)
        now = time.time()
        for name, (url, sqs) in queues.items():
            try:
                attributes = sqs.get_queue_attributes(  # type: ignore[attr-defined]
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
            except Exception:
                continue  # the queue's server is stopping; nothing to sample
            depth, minute = int(attributes["ApproximateNumberOfMessages"]), minute_of(now)
            if self._published_depth.get(name) != (minute, depth):
                self._published_depth[name] = (minute, depth)
                self.put(m.QUEUE_VISIBLE, name, float(depth), now)


class FunctionMetrics:
    """What one function's runtime records, in Lambda's terms; each call is one data point."""

    def __init__(self, publisher: MetricsPublisher, name: str):
        self.publisher = publisher
        self.name = name

    def _put(self, metric: m.Metric, value: float, at: float | None) -> None:
        self.publisher.put(metric, self.name, value, at)

    def invocation(self, *, started: float, error: bool, duration_ms: float | None) -> None:
        """One attempt: Invocations 1, Errors 0 or 1 (binary, as Lambda sends them), and its Duration
        when the handler ran. Timestamped when it was invoked, as Lambda's are."""
        self._put(m.INVOCATIONS, 1.0, started)
        self._put(m.ERRORS, 1.0 if error else 0.0, started)
        if duration_ms is not None:
            self._put(m.DURATION, float(duration_ms), started)

    def concurrency(self, busy: int) -> None:
        """Environments processing events right now (recorded as each one takes an event)."""
        self._put(m.CONCURRENT_EXECUTIONS, float(busy), None)

    def throttled(self) -> None:
        self._put(m.THROTTLES, 1.0, None)

    def async_received(self) -> None:
        self._put(m.ASYNC_EVENTS_RECEIVED, 1.0, None)

    def async_age(self, age_ms: float) -> None:
        self._put(m.ASYNC_EVENT_AGE, float(age_ms), None)

    def dropped(self) -> None:
        self._put(m.ASYNC_EVENTS_DROPPED, 1.0, None)

    def delivery_failed(self) -> None:
        self._put(m.DESTINATION_DELIVERY_FAILURES, 1.0, None)
