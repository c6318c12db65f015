"""Child processes that cannot outlive the stack.

Every child (the moto server, each function worker) asks the kernel for SIGKILL when its parent
goes away, so a crash or `kill -9` of the stack leaves nothing behind. Stdlib only: worker.py and
moto_process.py import this before anything else.

Linux ties PR_SET_PDEATHSIG to the *thread* that started the child, not the process: a child dies
when that thread exits. The stack starts the moto server from the thread that calls start() and
each worker from the slot thread that owns it for its whole life, so this is what we want.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import IO

_PR_SET_PDEATHSIG = 1


def die_with_parent(expected_parent: int) -> None:
    """SIGKILL this process when its parent dies; exit now if the parent is already gone."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not glibc/Linux: the parent's stop() and the closed pipes still end us
        pass
    # The parent may have died between fork and prctl; then nobody would signal us.
    if os.getppid() != expected_parent:
        sys.exit(1)


def _task_files(pid: int, name: str) -> Iterator[str]:
    """The contents of /proc/PID/task/*/NAME, one per thread still readable."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/{name}", encoding="ascii") as fh:
                yield fh.read()
        except OSError:
            continue


def alive(pid: int) -> bool:
    """True while any thread of `pid` runs. A killed multi-threaded process can show its leader as
    a zombie while other threads still exit and still hold its files (sockets included)."""
    for stat in _task_files(pid, "stat"):
        _, paren, rest = stat.rpartition(")")  # the state follows the parenthesised command name
        state = rest.split()[:1]
        if paren and state and state[0] not in ("Z", "X"):
            return True
    return False


def children(pid: int) -> list[int]:
    """Direct children of `pid` (all threads), from /proc."""
    return sorted({int(p) for listing in _task_files(pid, "children") for p in listing.split()})


def exit_status(proc: subprocess.Popen, grace_s: float = 5.0) -> str:
    """How a child that has closed its pipe ended, in words: "exit code 3", "killed by SIGKILL".

    A closed pipe only says the child is going: it may not have been reaped yet, and reading
    `poll()` at that moment gives None. Wait for it (a child still running after `grace_s` is
    reported as such; the caller kills it)."""
    try:
        code = proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        return f"still running {grace_s:g} s after closing its pipe"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), which tells a
    process from a later one that reuses its pid; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the parenthesised command name: field 3 onwards
    return int(fields[19]) if len(fields) > 19 else None


def end_child(proc: subprocess.Popen, inbox: IO, *, kill: bool = False, grace_s: float = 5.0) -> None:
    """End a child that exits when its inbox reaches EOF: close the inbox (or kill it at once),
    wait `grace_s`, then kill it if it lingers, and reap it."""
    try:
        if kill:
            proc.kill()
        else:
            inbox.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def descendants(pid: int) -> list[int]:
    out, todo = [], children(pid)
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(children(child))
    return sorted(out)
