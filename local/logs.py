"""The local stack's CloudWatch Logs: each function's log group, one log stream per execution
environment, every line the environment wrote, in the moto server's Logs, where `aws logs tail`,
FilterLogEvents and GetLogEvents find them as on AWS.

    shipper = LogShipper(stack.client("logs")).start()
    group = shipper.group("/aws/lambda/face-recognition", retention_days=14)   # created now
    stream = group.new_stream()       # Lambda's naming: 2025/01/31/[$LATEST]<32 hex digits>
    stream.write("START RequestId: ...")
    shipper.stop()                    # the last flush

Writers only append to a buffer; a thread creates new streams and sends the buffered lines every
`interval_s` seconds (PutLogEvents, in Lambda's limits: 10,000 events or 1 MiB per call, 256 KiB
per event), so a function's output never waits for the Logs API.
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
        self, logs: BaseClient, *, interval_s: float = 1.0, log: Callable[[str], None] = lambda _: None
    ) -> None:
        super().__init__(interval_s=interval_s, log=log)
        self.logs = logs
        self._pending: dict[tuple[str, str], list[tuple[int, str]]] = {}  # (group, stream) → [(ms, line)]
        self._new_streams: list[tuple[str, str]] = []

    def group(self, name: str, *, retention_days: int | None = None) -> LogGroup:
        """Create the log group (as the Pulumi program does, before the function) and its retention."""
        self.logs.create_log_group(logGroupName=name)
        if retention_days is not None:
            self.logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
        return LogGroup(self, name)

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
        """Create the streams opened since the last flush and send every buffered line."""
        with self._lock:
            streams, self._new_streams = self._new_streams, []
            pending = {k: v for k, v in self._pending.items() if v}
            for key in pending:
                self._pending[key] = []
        try:
            for group, stream in streams:
                self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
            for (group, stream), events in pending.items():
                for batch in _batches(sorted(events, key=lambda e: e[0])):
                    self.logs.put_log_events(
                        logGroupName=group,
                        logStreamName=stream,
                        logEvents=[{"timestamp": ms, "message": line} for ms, line in batch],
                    )
        except Exception as exc:  # the Logs endpoint is gone (the stack is stopping) or refusing
            self._failed("send function logs to CloudWatch Logs", exc)


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
