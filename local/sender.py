"""What the local stack's CloudWatch metrics and Logs have in common: callers only append to a
buffer; a daemon thread sends what accumulated every `interval_s` seconds, and once more at stop,
so nothing on an invocation's path waits for the CloudWatch API.

A subclass fills its buffer under `self._lock` and implements `_send()`; `flush()` runs one send
at a time (the thread's or a caller's). A failing send (the endpoint stopping or refusing) is said
once, through `log`, not once per interval.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Self


class PeriodicSender:
    thread_name = "sender"

    def __init__(self, *, interval_s: float, log: Callable[[str], None]) -> None:
        self.interval_s = interval_s
        self.log = log
        self._lock = threading.Lock()  # the buffer's
        self._flushing = threading.Lock()  # one send at a time
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_once = False

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread after a last flush; safe to call twice."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            self.flush()

    def flush(self) -> None:
        """Send everything buffered so far, now."""
        with self._flushing:
            self._send()

    def _send(self) -> None:
        raise NotImplementedError

    def _failed(self, what: str, exc: Exception) -> None:
        if not self._failed_once:
            self._failed_once = True
            self.log(f"could not {what}: {exc}")
