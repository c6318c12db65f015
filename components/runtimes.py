"""When each Lambda Python runtime is deprecated (the AWS Lambda runtimes page,
docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html), so that no function or layer is deployed
on one Lambda is about to stop accepting: tests/infra/test_runtimes.py and tools/preflight.py."""

from __future__ import annotations

import datetime as dt

DEPRECATED_ON = {
    "python3.9": dt.date(2025, 12, 15),
    "python3.10": dt.date(2026, 6, 30),
    "python3.11": dt.date(2026, 6, 30),
    "python3.12": dt.date(2028, 10, 31),
    "python3.13": dt.date(2029, 6, 30),
    "python3.14": dt.date(2030, 6, 30),
}
# A runtime needs at least this long left, so a stack deployed now is not blocked within the year.
MARGIN = dt.timedelta(days=365)


def supported(runtime: str, today: dt.date | None = None) -> bool:
    """Known to Lambda and more than MARGIN from its deprecation."""
    deprecated = DEPRECATED_ON.get(runtime)
    return deprecated is not None and deprecated - (today or dt.date.today()) > MARGIN


def image_python(dockerfile_text: str) -> str:
    """The Python of a Lambda base image the Dockerfile builds on (`FROM public.ecr.aws/lambda/python:3.12`)."""
    for line in dockerfile_text.splitlines():
        if line.startswith("FROM public.ecr.aws/lambda/python:"):
            return "python" + line.split(":", 1)[1].split()[0].split("@")[0]
    raise ValueError("no FROM public.ecr.aws/lambda/python:<version> line")
