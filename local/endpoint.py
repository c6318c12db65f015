"""The stack's handle on its AWS endpoint, the moto server process (local/moto_process.py).

Spawned first, so moto imports and builds its services while the stack checks its models; given
its secrets (on stdin, never argv) only once the stack goes ahead: nothing listens before then.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local.credentials import Credentials
from local.procs import alive, end_child

# The services a stack uses (its provisioning, telemetry, runs and functions): the moto process
# builds them before it listens, the stack parses their botocore data meanwhile.
SERVICES = ("s3", "sqs", "sts", "iam", "lambda", "logs", "cloudwatch", "dynamodb", "sns")
STEP_FUNCTIONS = "stepfunctions"  # timeline stacks only


def services(timeline: bool) -> tuple[str, ...]:
    return (*SERVICES, STEP_FUNCTIONS) if timeline else SERVICES


class EndpointError(RuntimeError):
    """The moto server did not start, or did not answer."""


class MotoEndpoint:
    """Spawn from the thread that will own the stack: a child dies with the thread that started it
    (local/procs.py)."""

    def __init__(self, invoke_url: str, services: Sequence[str] = SERVICES) -> None:
        self.log_file: Path | None = None
        self.url: str | None = None
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", "-m", "local.moto_process", str(os.getpid()), invoke_url, ",".join(services)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C reaches the stack only, which stops it
        )  # its stderr is ours until open() names its log file

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and alive(self._proc.pid) else None

    def open(self, admin: Credentials, invoke_token: str, log_file: Path, *, timeout_s: float = 60) -> str:
        """Hand over the secrets and the log file; the endpoint's URL once the server listens."""
        self.log_file = log_file
        answer = self.ask({"admin": admin.as_json(), "invoke_token": invoke_token, "log": str(log_file)}, timeout_s)
        if answer is None:
            code = self._proc.poll() if self._proc is not None else None
            raise EndpointError(f"the moto server did not start (exit code {code}); see {log_file}")
        self.port = int(answer["port"])
        self.url = f"http://{answer['host']}:{self.port}"
        return self.url

    def assume_role(self, role_arn: str, session: str, *, timeout_s: float = 30) -> Credentials:
        """A session of `role_arn`, as Lambda's service principal takes one (local/access.py)."""
        answer = self.ask({"assume_role": role_arn, "session": session}, timeout_s)
        if answer is None:
            raise EndpointError(f"the moto server gave no credentials for the role {role_arn}")
        return Credentials.from_json(answer)

    def ask(self, message: dict, timeout_s: float) -> dict[str, Any] | None:
        """One line to the process and its one-line answer; None when it does not answer."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            return None
        try:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            return None
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        line = proc.stdout.readline() if ready else b""
        return json.loads(line) if line else None

    def stop(self) -> None:
        """At EOF on its stdin the process exits (before its secrets: without ever listening)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            assert proc.stdin is not None and proc.stdout is not None  # both opened as pipes
            end_child(proc, proc.stdin)
            proc.stdout.close()
