"""The recognizer as deployed, in a fresh interpreter, on one stage-1 object read from a file: its
answer, what it wrote and its peak resident memory (VmHWM). The largest-frame tests of both analyses
hold the peak against recognizerMemory with it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import run_python

PEAK_PROBE = r"""
import json, sys
from face_recognizer import service
from pipeline_common import aws

env, path, key = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]


class S3:
    # What the service asks of S3, served from a file: the object in (a stream), what it writes kept.
    written = {}
    library = {}  # the library bucket's objects (face_recognizer.library): key -> bytes

    def get_object(self, Bucket, Key):
        body = open(path, "rb")
        body.seek(0, 2)
        size = body.tell()
        body.seek(0)
        return {"ContentLength": size, "Body": body}

    def put_object(self, Bucket, Key, Body, ContentType, Metadata=None, **conditions):
        if Bucket == env.get("LIBRARY_BUCKET"):
            self.library[Key] = len(Body)
        else:
            self.written[Key] = Body.decode()


class Recorded:
    # The library's table and topic (face_recognizer.relabel): every call answered empty, its name kept.
    calls = []

    def __getattr__(self, name):
        return lambda **kwargs: self.calls.append(name) or {"MessageId": "probe"}


real_client = aws.client
aws.client = lambda name, *a, **kw: Recorded() if name in ("dynamodb", "sns") else real_client(name, *a, **kw)


def hwm_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))


s3 = S3()
env.setdefault("RESULTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:probe-results")  # the deployer's
svc = service.start(env, s3=s3)   # as the handler starts it: settings, database, models, warm-up
started = hwm_mb()
[result] = svc.handle_event({"bucket": "stage-1", "key": key})
print(json.dumps({"result": result, "written": s3.written, "library": s3.library, "started_mb": started,
                  "peak_mb": hwm_mb()}))
"""


def recognise_in_fresh_interpreter(env: dict[str, str], path: Path, key: str, cwd: Path) -> dict:
    """Run the probe with exactly the function's environment over this process's (minus its keys)."""
    base = {k: v for k, v in os.environ.items() if k not in env}
    return run_python(PEAK_PROBE, json.dumps(env), str(path), key, cwd=cwd, env=base)


def without_library(env: dict[str, str]) -> dict[str, str]:
    """A recognizer environment with the library off, for a test that runs the handler against moto's
    S3 and SQS only (the library's table and topic need DynamoDB and SNS; tests/local/test_library.py
    runs the library on the embedded stack)."""
    return {k: v for k, v in env.items() if k not in ("LIBRARY_BUCKET", "APPEARANCES_TABLE", "RESULTS_TOPIC_ARN")}
