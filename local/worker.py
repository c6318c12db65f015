"""One emulated Lambda execution environment: an interpreter that imports a handler once and then
serves invocations until its parent closes the pipe.

A new process is a cold start, a kept one a warm container. Messages go over inherited pipes so the
handler's stdout/stderr stay its logs; the command line and protocol: docs/decisions/0004-local-lambda-emulation.md.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import time
import traceback

from local.procs import die_with_parent


class Context:
    """The parts of Lambda's context object a handler reads."""

    def __init__(self, request_id: str, timeout_ms: int, function_arn: str = ""):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.invoked_function_arn = function_arn
        # Where this environment's output goes (the stack says, as Lambda does, in these variables).
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{self.function_name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", f"local/{os.getpid()}")
        self.aws_request_id = request_id
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def max_rss_mb() -> float:
    """Peak memory of this environment, in MB: the interpreter's own peak (VmHWM) plus the largest
    peak of any child it has run and reaped (ffmpeg, for the splitter).

    Lambda counts a child's memory against the function's setting too; the function waits while
    its child runs, so the sum bounds what the environment held at once. Not getrusage's
    RUSAGE_SELF ru_maxrss: Linux carries that across execve, so a worker would start at its
    parent's high-water mark.
    """
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024 + children, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + children, 1)


def main(argv: list[str]) -> None:
    parent, read_fd, write_fd, handler = argv
    die_with_parent(int(parent))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the stack's to handle
    inbox = os.fdopen(int(read_fd), "r", encoding="utf-8")
    outbox = os.fdopen(int(write_fd), "w", encoding="utf-8")

    def send(message: dict) -> None:
        outbox.write(json.dumps(message) + "\n")
        outbox.flush()

    module_name, _, attr = handler.rpartition(".")
    t0 = time.perf_counter()
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        traceback.print_exc()
        send(
            {
                "status": "init_error",
                "errorType": "Runtime.ImportModuleError",
                "errorMessage": f"Unable to import module '{module_name}': {exc}",
            }
        )
        return
    except BaseException as exc:
        traceback.print_exc()
        send({"status": "init_error", "errorType": type(exc).__name__, "errorMessage": str(exc)})
        return
    init_ms = (time.perf_counter() - t0) * 1000
    send({"status": "ready", "pid": os.getpid(), "init_ms": round(init_ms, 1)})

    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "?")
    first = True
    for line in inbox:
        request = json.loads(line)
        request_id = request["request_id"]
        print(f"START RequestId: {request_id} Version: $LATEST", flush=True)
        context = Context(request_id, request["timeout_ms"], request.get("function_arn", ""))
        start = time.perf_counter()
        try:
            result = fn(request["event"], context)
            try:
                json.dumps(result)
            except (TypeError, ValueError) as exc:
                raise _MarshalError(f"Unable to marshal response: {exc}") from None
            reply = {"status": "ok", "result": result}
        except Exception as exc:
            traceback.print_exc()
            error_type = "Runtime.MarshalError" if isinstance(exc, _MarshalError) else type(exc).__name__
            reply = {"status": "error", "errorType": error_type, "errorMessage": str(exc)}
        duration_ms = (time.perf_counter() - start) * 1000
        reply.update(duration_ms=round(duration_ms, 2), max_rss_mb=max_rss_mb())
        init = f"\tInit Duration: {init_ms:.2f} ms" if first else ""
        print(f"END RequestId: {request_id}", flush=True)
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {int(duration_ms) + 1} ms\tMemory Size: {memory} MB\t"
            f"Max Memory Used: {int(reply['max_rss_mb'])} MB{init}",
            flush=True,
        )
        first = False
        send(reply)


class _MarshalError(Exception):
    pass


if __name__ == "__main__":
    main(sys.argv[1:])
