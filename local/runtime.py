"""Lambda's service side for one function: its invocation queue, up to N warm execution
environments, asynchronous retries and the on-failure destination.

One thread per concurrency slot keeps one worker process warm, so cold starts, timeouts and crashes
happen as on Lambda; retries, logs, metrics and stop(): docs/decisions/0004-local-lambda-emulation.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypedDict

from components.project import FUNCTIONS_DIR
from local.procs import end_child, exit_status
from local.stats import percentile

if TYPE_CHECKING:
    from local.logs import LogGroup, LogStream
    from local.metrics import FunctionMetrics

# The account moto's server answers as (its STS GetCallerIdentity) unless told otherwise.
DEFAULT_ACCOUNT_ID = "123456789012"
INIT_GRACE_S = 120  # Lambda allows 10 s of init (more for images); a busy 2-core machine can be slower
# How long stop() waits for a slot once its worker is ended; a slot still busy then is abandoned
# (its worker killed from stop()) rather than waited for.
STOP_GRACE_S = 10


class FunctionError(Exception):
    """What an invocation answered instead of a result: Lambda's errorType and errorMessage."""

    def __init__(self, error_type: str, message: str):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


@dataclass
class FunctionSpec:
    name: str
    handler: str  # module.attr, importable from code_dir
    env: dict  # the complete environment of a worker
    memory_mb: int
    timeout_s: int
    concurrency: int
    max_retry_attempts: int
    max_event_age_s: int
    code_dir: str = str(FUNCTIONS_DIR)
    log_file: Path | None = None  # every environment's output, one file per function; None: not kept
    tmp_root: Path | None = None  # each environment gets its own /tmp below this
    account_id: str = DEFAULT_ACCOUNT_ID
    # Whether `concurrency` is the function's reserved concurrency, a limit AWS enforces (and counts
    # in Throttles), rather than the local stack's stand-in for the account's shared pool.
    reserved: bool = False

    @property
    def arn(self) -> str:
        region = self.env.get("AWS_REGION", "us-east-1")
        return f"arn:aws:lambda:{region}:{self.account_id}:function:{self.name}"


class _Stats(TypedDict):
    """A function's counters since start (see summary())."""

    invocations: int
    errors: int
    cold_starts: int
    init_errors: int
    retries: int
    dead_lettered: int
    destination_delivery_failures: int  # on-failure records the DLQ did not take
    throttles: int  # arrivals beyond a reserved concurrency (see _arrive)
    durations_ms: list[float]
    init_ms: list[float]
    max_memory_used_mb: float


@dataclass
class Invocation:
    event: dict
    asynchronous: bool
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    received: float = field(default_factory=time.time)
    attempts: int = 0
    not_before: float = 0.0
    reply: queue.Queue | None = None  # RequestResponse: where the outcome goes
    waiting: bool = False  # arrived, and no environment has taken it yet


class _Worker:
    """The parent's handle on one execution environment."""

    def __init__(
        self, proc: subprocess.Popen, to_worker: TextIO, from_worker: int, output: threading.Thread | None = None
    ) -> None:
        self.proc = proc
        self.to_worker = to_worker
        self.from_worker = from_worker
        self.output = output  # the thread that copies the environment's output to its log stream
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: dict) -> None:
        self.to_worker.write(json.dumps(message) + "\n")
        self.to_worker.flush()

    def receive(self, timeout_s: float) -> dict | None:
        """The next message, None on timeout; EOFError when the worker is gone."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.from_worker], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(self.from_worker, 1 << 16)
            if not chunk:
                raise EOFError("worker closed its pipe")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def interrupt(self) -> None:
        """SIGKILL, from any thread: the slot that owns this worker sees its pipe close and reaps it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)

    def stop(self, *, kill: bool = False) -> None:
        end_child(self.proc, self.to_worker, kill=kill)  # at EOF the worker returns from main()
        for closer in (self.to_worker.close, lambda: os.close(self.from_worker)):
            with contextlib.suppress(OSError):
                closer()
        if self.output is not None:  # its last lines: the pipe ends once the worker and its children are gone
            self.output.join(timeout=5)


class FunctionRuntime:
    def __init__(
        self,
        spec: FunctionSpec,
        on_failure: Callable[[dict], None],
        *,
        retry_delay_s: float = 0.5,
        log: Callable[[str], None] = lambda _: None,
        provisioned: bool = False,
        metrics: FunctionMetrics | None = None,
        logs: LogGroup | None = None,
    ):
        if spec.concurrency < 1:
            raise ValueError(f"{spec.name}: concurrency must be at least 1")
        self.spec = spec
        self.on_failure = on_failure
        self.retry_delay_s = retry_delay_s
        self.log = log
        # Like provisioned concurrency: every environment initialises at start, before any work.
        self.provisioned = provisioned
        self.metrics = metrics
        self.logs = logs
        self._ready = threading.Semaphore(0)
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.stats: _Stats = {
            "invocations": 0,
            "errors": 0,
            "cold_starts": 0,
            "init_errors": 0,
            "retries": 0,
            "dead_lettered": 0,
            "destination_delivery_failures": 0,
            "throttles": 0,
            "durations_ms": [],
            "init_ms": [],
            "max_memory_used_mb": 0.0,
        }
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._busy = 0  # slots holding an invocation, a retry waiting its turn included (idle())
        self._executing = 0  # environments processing an event now, init included (ConcurrentExecutions)
        self._arrived = 0  # invocations that arrived and wait for their first environment
        self.max_concurrency_seen = 0
        self._workers: dict[int, _Worker] = {}  # slot → live worker
        self._running: dict[int, Invocation] = {}  # slot → the invocation its worker is running
        self.interrupted: list[Invocation] = []  # running when stop() came
        self._slots = [
            threading.Thread(target=self._slot, args=(i,), name=f"{spec.name}-{i}", daemon=True)
            for i in range(spec.concurrency)
        ]
        self._log_fh = open(spec.log_file, "ab") if spec.log_file else None
        self._log_lock = threading.Lock()  # environments' lines go to the one file whole

    # -- public -------------------------------------------------------------------------------

    def start(self) -> None:
        for slot in self._slots:
            slot.start()

    def invoke_async(self, event: dict) -> str:
        """InvocationType=Event: queue it and return its request id at once."""
        inv = Invocation(event, asynchronous=True)
        if self.metrics:
            self.metrics.async_received()
        self._arrive(inv)
        return inv.request_id

    def invoke_sync(self, event: dict) -> dict:
        """InvocationType=RequestResponse: the handler's result, or FunctionError."""
        reply: queue.Queue = queue.Queue(maxsize=1)
        self._arrive(Invocation(event, asynchronous=False, reply=reply))
        outcome = reply.get()
        if isinstance(outcome, FunctionError):
            raise outcome
        return outcome

    def _arrive(self, inv: Invocation) -> None:
        """Queue a new invocation. With a reserved concurrency, one that finds every environment busy,
        or taken by invocations that arrived before it, is what Lambda throttles (a synchronous caller
        gets 429, an asynchronous event goes back to Lambda's queue and is retried): it is counted in
        Throttles once, and waits here for an environment. An unreserved function draws on the
        account's pool (1,000 by default), which the local stack's few workers only stand in for:
        waiting for one of them is not a throttle AWS would report."""
        with self._lock:
            throttled = self.spec.reserved and self._executing + self._arrived >= self.spec.concurrency
            self._arrived += 1
            inv.waiting = True
            if throttled:
                self.stats["throttles"] += 1
        if throttled and self.metrics:
            self.metrics.throttled()
        self.pending.put(inv)

    def wait_provisioned(self, timeout_s: float) -> bool:
        """With `provisioned`, wait until every slot has tried to initialise its environment."""
        deadline = time.monotonic() + timeout_s
        for _ in self._slots:
            # Short waits: a Ctrl-C that lands on another thread is only raised once this one wakes.
            while not self._ready.acquire(timeout=0.2):
                if time.monotonic() >= deadline:
                    return False
        return True

    def idle(self) -> bool:
        with self._lock:
            return self.pending.unfinished_tasks == 0 and self._busy == 0

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers.values()]

    def stop(self) -> dict[str, list[Invocation]]:
        """Stop at once: kill every worker that is mid-invocation (as Lambda freezes an environment),
        end the idle ones, join the slots, answer RequestResponse callers. Returns the invocations it
        interrupted and the queued ones it dropped (nothing, when it had already stopped)."""
        if self._stopping.is_set():
            return {"interrupted": [], "dropped": []}
        self._stopping.set()
        with self._lock:  # busy, initialising and idle alike: an environment is frozen, not drained
            live = list(self._workers.values())
        for worker in live:
            worker.interrupt()
        deadline = time.monotonic() + STOP_GRACE_S
        for slot in self._slots:
            if slot.is_alive():
                slot.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:  # a slot still stuck past the grace: end its worker from here
            stuck = list(self._workers.values())
            self._workers.clear()
        for worker in stuck:
            worker.stop(kill=True)
        dropped = []
        while True:  # answer RequestResponse callers still waiting, so no HTTP thread hangs
            try:
                inv = self.pending.get_nowait()
            except queue.Empty:
                break
            if inv.reply is not None:
                inv.reply.put(FunctionError("ServiceException", "the local stack is stopping"))
            else:
                dropped.append(inv)
        if self._log_fh:
            with self._log_lock:
                self._log_fh.close()
        return {"interrupted": list(self.interrupted), "dropped": dropped}

    def answered(self) -> int:
        """Invocations answered so far (each result is written before its answer): a cheap sign
        that something may have changed in the buckets."""
        with self._lock:
            return len(self.stats["durations_ms"])

    def summary(self) -> dict:
        with self._lock:
            st: dict[str, object] = dict(self.stats)
            durations = sorted(self.stats["durations_ms"])
            init_ms = [round(v, 1) for v in self.stats["init_ms"]]
        del st["durations_ms"]
        st["init_ms"] = init_ms
        st["max_concurrency_seen"] = self.max_concurrency_seen
        st["concurrency"] = self.spec.concurrency
        st["memory_mb"] = self.spec.memory_mb
        if durations:
            st["duration_ms"] = {
                "n": len(durations),
                "p50": round(percentile(durations, 50), 1),
                "p95": round(percentile(durations, 95), 1),
                "max": round(durations[-1], 1),
                "mean": round(sum(durations) / len(durations), 1),
            }
        return st

    # -- one concurrency slot = one execution environment at a time ---------------------------

    def _slot(self, index: int) -> None:
        worker: _Worker | None = None
        try:
            if self.provisioned:
                worker, _ = self._start_worker(index)
                self._ready.release()
            while not self._stopping.is_set():
                try:
                    inv = self.pending.get(timeout=0.1)
                except queue.Empty:
                    continue
                with self._lock:
                    self._busy += 1
                try:
                    delay = inv.not_before - time.time()
                    if delay > 0:  # a retry waiting its turn: put it back and take other work
                        self.pending.put(inv)
                        time.sleep(min(delay, 0.05))
                        continue
                    if self._stopping.is_set():
                        self.pending.put(inv)  # stop() answers it
                        break
                    with self._lock:
                        if inv.waiting:
                            inv.waiting = False
                            self._arrived -= 1
                        self._executing += 1
                        executing = self._executing
                        self.max_concurrency_seen = max(self.max_concurrency_seen, executing)
                    if self.metrics:
                        self.metrics.concurrency(executing)
                    try:
                        if worker is None:
                            worker = self._cold_start(index, inv)
                            if worker is None:
                                continue
                        worker = self._run(index, worker, inv)
                    finally:
                        with self._lock:
                            self._executing -= 1
                finally:
                    with self._lock:
                        self._busy -= 1
                    self.pending.task_done()
        finally:
            if worker is not None:
                self._retire(index, worker)

    def _cold_start(self, index: int, inv: Invocation) -> _Worker | None:
        worker, hello = self._start_worker(index)
        if worker is not None:
            return worker
        if self._stopping.is_set():  # stop() ended it while it initialised
            self._interrupted(inv)
            return None
        # An init failure costs the invocation an attempt, as on Lambda; the next one starts afresh.
        # CloudWatch counts it as an invocation that failed (the metric an operator alarms on).
        inv.attempts += 1
        if self.metrics:
            self.metrics.invocation(started=time.time(), error=True, duration_ms=None)
        self._failed(inv, FunctionError(hello["errorType"], hello["errorMessage"]))
        return None

    def _start_worker(self, index: int) -> tuple[_Worker | None, dict]:
        """A new environment, initialised; (None, the init error) when its init failed."""
        s = self.spec
        env = dict(s.env)
        if s.tmp_root is not None:  # each environment has a /tmp of its own, as on Lambda
            tmp = Path(s.tmp_root) / f"{s.name}-{index}"
            # A new environment starts with an empty /tmp: whatever a killed predecessor in this
            # slot left there (a half-written download) goes.
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(tmp)
        stream = self.logs.new_stream() if self.logs is not None else None
        if stream is not None:  # what Lambda tells the environment (and its context object) about its logs
            env.update(AWS_LAMBDA_LOG_GROUP_NAME=stream.group.name, AWS_LAMBDA_LOG_STREAM_NAME=stream.name)
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # The environment's stdout and stderr: a pipe whose lines go to its log stream and the log file.
        out_r, out_w = os.pipe() if (stream is not None or self._log_fh is not None) else (None, None)
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-s",
                    "-E",
                    "-u",
                    "-m",
                    "local.worker",
                    str(os.getpid()),
                    str(to_r),
                    str(from_w),
                    s.handler,
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if out_w is None else out_w,
                stderr=subprocess.DEVNULL if out_w is None else out_w,
                pass_fds=(to_r, from_w),
                cwd=s.code_dir,
                start_new_session=True,
            )  # its own session: a terminal's Ctrl-C reaches only us
        except BaseException:
            for fd in (to_w, from_r, out_r):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            for fd in (to_r, from_w, out_w):
                if fd is not None:
                    os.close(fd)
        output = None
        if out_r is not None:
            output = threading.Thread(
                target=self._copy_output, args=(out_r, stream), name=f"{s.name}-{index}-output", daemon=True
            )
            output.start()
        worker = _Worker(proc, os.fdopen(to_w, "w", encoding="utf-8"), from_r, output)
        with self._lock:
            self._workers[index] = worker
            self.stats["cold_starts"] += 1
        try:
            hello = worker.receive(INIT_GRACE_S)
        except EOFError:
            hello = {
                "status": "init_error",
                "errorType": "Runtime.ExitError",
                "errorMessage": f"the runtime exited during init ({exit_status(proc)})",
            }
        if hello is None:
            hello = {
                "status": "init_error",
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"init did not finish within {INIT_GRACE_S} s",
            }
        if hello["status"] == "ready":
            with self._lock:
                self.stats["init_ms"].append(hello["init_ms"])
            return worker, hello
        self._retire(index, worker, kill=True)
        if self._stopping.is_set():  # stop() ended it: not an init failure
            return None, hello
        with self._lock:
            self.stats["init_errors"] += 1
        self.log(f"{s.name}: init failed: {hello['errorType']}: {hello['errorMessage']}")
        return None, hello

    def _copy_output(self, fd: int, stream: LogStream | None) -> None:
        """An environment's output, line by line, to the function's log file and the environment's
        log stream, until the environment (and any child holding its output) is gone."""
        with os.fdopen(fd, "rb") as pipe:
            for raw in pipe:
                if self._log_fh is not None:
                    with self._log_lock:
                        if not self._log_fh.closed:
                            self._log_fh.write(raw)
                            self._log_fh.flush()
                if stream is not None:
                    stream.write(raw.rstrip(b"\r\n").decode("utf-8", errors="replace"))

    def _run(self, index: int, worker: _Worker, inv: Invocation) -> _Worker | None:
        s = self.spec
        now = time.time()
        if inv.asynchronous and now - inv.received > s.max_event_age_s:
            self._dead_letter(
                inv, FunctionError("EventAgeExceeded", "maximum event age exceeded"), condition="EventAgeExceeded"
            )
            return worker
        if inv.asynchronous and self.metrics:
            self.metrics.async_age((now - inv.received) * 1000)
        inv.attempts += 1
        with self._lock:
            self.stats["invocations"] += 1
            self._running[index] = inv
        try:
            worker.send(
                {
                    "request_id": inv.request_id,
                    "event": inv.event,
                    "timeout_ms": s.timeout_s * 1000,
                    "function_arn": s.arn,
                }
            )
            answer = worker.receive(s.timeout_s)
        except (EOFError, BrokenPipeError, OSError):
            answer = {
                "status": "error",
                "errorType": "Runtime.ExitError",
                "errorMessage": f"the runtime exited ({exit_status(worker.proc)})",
            }
        finally:
            with self._lock:
                del self._running[index]
        if self._stopping.is_set() and answer is not None and answer.get("errorType") == "Runtime.ExitError":
            # stop() killed it mid-invocation: not the function's failure, nothing to retry here.
            self._interrupted(inv)
            self._retire(index, worker, kill=True)
            return None
        if answer is None:
            answer = {
                "status": "error",
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {s.timeout_s:.2f} seconds",
                "duration_ms": s.timeout_s * 1000,
            }
        with self._lock:
            if "duration_ms" in answer:
                self.stats["durations_ms"].append(answer["duration_ms"])
            self.stats["max_memory_used_mb"] = max(self.stats["max_memory_used_mb"], answer.get("max_rss_mb") or 0.0)
        if self.metrics:
            self.metrics.invocation(started=now, error=answer["status"] != "ok", duration_ms=answer.get("duration_ms"))
        if answer["status"] == "ok":
            if inv.reply is not None:
                inv.reply.put(answer["result"])
            return worker
        with self._lock:
            self.stats["errors"] += 1
        error = FunctionError(answer["errorType"], answer["errorMessage"])
        self.log(f"{s.name}: attempt {inv.attempts} of request {inv.request_id} failed: {error}")
        if error.error_type in ("Sandbox.Timedout", "Runtime.ExitError"):  # the environment is gone
            self._retire(index, worker, kill=True)
            self._failed(inv, error)
            return None
        self._failed(inv, error)
        return worker

    def _interrupted(self, inv: Invocation) -> None:
        with self._lock:
            self.interrupted.append(inv)
        if inv.reply is not None:
            inv.reply.put(FunctionError("ServiceException", "the local stack stopped during the invocation"))

    def _failed(self, inv: Invocation, error: FunctionError) -> None:
        if not inv.asynchronous:
            assert inv.reply is not None, "invoke_sync() gives every RequestResponse invocation a reply queue"
            inv.reply.put(error)
        elif inv.attempts <= self.spec.max_retry_attempts:
            with self._lock:
                self.stats["retries"] += 1
            inv.not_before = time.time() + self.retry_delay_s * inv.attempts
            self.pending.put(inv)
        else:
            self._dead_letter(inv, error, condition="RetriesExhausted")

    def _dead_letter(self, inv: Invocation, error: FunctionError, *, condition: str) -> None:
        with self._lock:
            self.stats["dead_lettered"] += 1
        if self.metrics:
            self.metrics.dropped()
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z",
            "requestContext": {
                "requestId": inv.request_id,
                "functionArn": f"{self.spec.arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": inv.attempts,
            },
            "requestPayload": inv.event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": error.message, "errorType": error.error_type},
        }
        try:
            self.on_failure(record)
        except Exception as exc:
            with self._lock:
                self.stats["destination_delivery_failures"] += 1
            if self.metrics:
                self.metrics.delivery_failed()
            self.log(
                f"{self.spec.name}: could not deliver request {inv.request_id} to its on-failure destination: {exc}"
            )

    def _retire(self, index: int, worker: _Worker, *, kill: bool = False) -> None:
        with self._lock:
            if self._workers.get(index) is worker:
                del self._workers[index]
        worker.stop(kill=kill)
