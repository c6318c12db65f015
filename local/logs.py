"""The local stack's CloudWatch Logs: one log stream per execution environment in moto's Logs, so
`aws logs tail`, FilterLogEvents and GetLogEvents find a function's lines as on AWS.

Writers only append to a buffer and a thread ships it, so a function never waits for the Logs API;
batching, retries and what is dropped when: docs/decisions/0004-local-lambda-emulation.md.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from local.sender import PeriodicSender

if TYPE_CHECKING:
    from botocore.client import BaseClient

MAX_EVENTS_PER_CALL = 10_000
MAX_BYTES_PER_CALL = 1_048_576
EVENT_OVERHEAD_BYTES = 26  # what PutLogEvents counts on top of each message's UTF-8 bytes
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD_BYTES
TRUNCATED = " [truncated]"


def lambda_stream_name(started: float | None = None, version: str = "$LATEST") -> str:
    """The log stream name Lambda gives a new execution environment."""
    day = time.strftime("%Y/%m/%d", time.gmtime(time.time() if started is None else started))
    return f"{day}/[{version}]{secrets.token_hex(16)}"


class LogShipper(PeriodicSender):
    thread_name = "cloudwatch-logs"

    def __init__(
        self,
        logs: BaseClient,
        *,
        interval_s: float = 1.0,
        log: Callable[[str], None] = lambda _: None,
        retry_for_s: float = 120.0,
        max_held: int = 100_000,
        max_backoff_s: float = 16.0,
    ) -> None:
        super().__init__(interval_s=interval_s, log=log)
        self.logs = logs
        self.retry_for_s = retry_for_s
        self.max_held = max_held
        self.max_backoff_s = max_backoff_s
        self.dropped = 0  # lines CloudWatch Logs never got, in all
        self._pending: dict[tuple[str, str], list[tuple[int, str]]] = {}  # (group, stream) → [(ms, line)]
        self._new_streams: list[tuple[str, str]] = []
        self._failing_since: float | None = None  # when the current outage began (monotonic)
        self._backoff_s = 0.0
        self._retry_at = 0.0
        self._final = False

    def group(self, name: str, *, retention_days: int | None = None) -> LogGroup:
        """Create the log group (as the Pulumi program does, before the function) and its retention."""
        try:
            self.logs.create_log_group(logGroupName=name)
        except Exception as exc:  # an attempt whose answer was lost (a busy or paused endpoint) made it
            if not _already_exists(exc):
                raise
        if retention_days is not None:
            self.logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
        return LogGroup(self, name)

    def stop(self) -> None:
        self._final = True  # the last flush tries once whatever the backoff, and drops what fails
        super().stop()

    def _open(self, group: str, stream: str) -> None:
        with self._lock:
            self._new_streams.append((group, stream))
            self._pending.setdefault((group, stream), [])

    def _write(self, group: str, stream: str, message: str, at_ms: int) -> None:
        encoded = message.encode("utf-8", errors="replace")
        if len(encoded) > MAX_EVENT_BYTES:  # Logs refuses a larger event; Lambda truncates it
            cut = MAX_EVENT_BYTES - len(TRUNCATED.encode())
            message = encoded[:cut].decode("utf-8", errors="ignore") + TRUNCATED
        with self._lock:
            self._pending.setdefault((group, stream), []).append((at_ms, message))

    def _send(self) -> None:
        """Create the streams opened since the last flush and send every buffered line; keep what
        did not go for a later attempt."""
        now = time.monotonic()
        if not self._final and now < self._retry_at:
            return
        with self._lock:
            streams, self._new_streams = self._new_streams, []
            pending = {k: sorted(v, key=lambda e: e[0]) for k, v in self._pending.items() if v}
            for key in pending:
                self._pending[key] = []
        try:
            while streams:
                self._create_stream(*streams[0])
                streams.pop(0)
            for (group, stream), events in list(pending.items()):
                for batch in list(_batches(events)):
                    self.logs.put_log_events(
                        logGroupName=group,
                        logStreamName=stream,
                        logEvents=[{"timestamp": ms, "message": line} for ms, line in batch],
                    )
                    pending[(group, stream)] = events = events[len(batch) :]
                del pending[(group, stream)]
        except Exception as exc:  # the Logs endpoint is paused, gone (the stack is stopping) or refusing
            self._hold(streams, pending)
            self._failed_send(exc, now)
            return
        if self._failing_since is not None:
            self.log(f"CloudWatch Logs answers again after {now - self._failing_since:.0f} s: held lines sent")
            self._failing_since, self._backoff_s, self._retry_at = None, 0.0, 0.0

    def _create_stream(self, group: str, stream: str) -> None:
        try:
            self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except Exception as exc:  # made by an attempt whose answer was lost: there it is
            if not _already_exists(exc):
                raise

    def _hold(self, streams: list[tuple[str, str]], unsent: dict[tuple[str, str], list[tuple[int, str]]]) -> None:
        """Put back what did not go, ahead of what was written meanwhile; past `max_held`, drop the oldest."""
        with self._lock:
            self._new_streams[:0] = streams
            for key, events in unsent.items():
                self._pending[key] = events + self._pending.get(key, [])
            held = sorted((e[0], i, key) for key, events in self._pending.items() for i, e in enumerate(events))
            excess = held[: max(0, len(held) - self.max_held)]
            for key in {k for _, _, k in excess}:
                cut = sum(1 for _, _, k in excess if k == key)
                self._pending[key] = self._pending[key][cut:]
        if excess:
            self._dropped(len(excess), f"more than {self.max_held} lines held while CloudWatch Logs fails")

    def _failed_send(self, exc: Exception, now: float) -> None:
        held = self.held()
        if self._failing_since is None:
            self._failing_since, self._backoff_s = now, 1.0
            self.log(
                f"CloudWatch Logs did not take the function logs ({type(exc).__name__}: {exc}); holding {held} "
                f"line(s), retrying with backoff for up to {self.retry_for_s:g} s"
            )
        else:
            self._backoff_s = min(self._backoff_s * 2, self.max_backoff_s)
        self._retry_at = now + self._backoff_s
        if self._final or now - self._failing_since >= self.retry_for_s:
            with self._lock:
                lost = sum(len(v) for v in self._pending.values())
                self._pending = {k: [] for k in self._pending}
            why = "at the stack's stop" if self._final else f"after {now - self._failing_since:.0f} s of failures"
            self._dropped(lost, f"CloudWatch Logs did not confirm them {why} ({type(exc).__name__})")
            self._failing_since = now  # lines written from now on get a whole retry window of their own

    def _dropped(self, count: int, why: str) -> None:
        if count:
            self.dropped += count
            self.log(
                f"dropped {count} log line(s): {why}; {self.dropped} dropped in all "
                "(every line is still in the function's log file)"
            )

    def held(self) -> int:
        """Lines written but not yet in CloudWatch Logs."""
        with self._lock:
            return sum(len(v) for v in self._pending.values())


def _already_exists(exc: Exception) -> bool:
    return "ResourceAlreadyExists" in type(exc).__name__ + str(exc)


def _batches(events: list[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    """Runs of events within PutLogEvents' limits on count and bytes."""
    batch: list[tuple[int, str]] = []
    size = 0
    for event in events:
        cost = len(event[1].encode("utf-8")) + EVENT_OVERHEAD_BYTES
        if batch and (len(batch) >= MAX_EVENTS_PER_CALL or size + cost > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += cost
    if batch:
        yield batch


class LogGroup:
    def __init__(self, shipper: LogShipper, name: str):
        self.shipper = shipper
        self.name = name

    def new_stream(self) -> LogStream:
        """A stream for a new execution environment, created at the next flush."""
        stream = LogStream(self, lambda_stream_name())
        self.shipper._open(self.name, stream.name)
        return stream


class LogStream:
    def __init__(self, group: LogGroup, name: str):
        self.group = group
        self.name = name

    def write(self, line: str, at: float | None = None) -> None:
        """One log event: a line the environment wrote, without its newline."""
        at_ms = int((time.time() if at is None else at) * 1000)
        self.group.shipper._write(self.group.name, self.name, line, at_ms)
