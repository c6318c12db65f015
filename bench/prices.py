"""AWS list prices the plans use (bench/plan.py, library_cost.py, timeline_plan.py) and their formatting:
a leaf module, so the plans import it and not each other."""

from __future__ import annotations

import math

# Taken from AWS's public price pages as the author knew them in mid-2025 (not fetched: these
# machines have no internet). Check them at aws.amazon.com/<service>/pricing before relying on them.
PRICES_REGION = "us-east-1"
PRICES_TAKEN = "2025-06 (from memory of aws.amazon.com/*/pricing; check before relying on them)"
LAMBDA_GB_SECOND = 0.0000166667  # x86_64, first 6 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1_000_000
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST (S3 Standard)
S3_GET = 0.0004 / 1000  # GET, SELECT and the rest
S3_STORAGE_GB_MONTH = 0.023  # S3 Standard, first 50 TB
ECR_STORAGE_GB_MONTH = 0.10
LOGS_INGESTION_GB = 0.50  # CloudWatch Logs, standard class
KMS_KEY_MONTH = 1.00
ALARM_MONTH = 0.10  # a standard-resolution metric alarm
DASHBOARD_MONTH = 3.00  # beyond the account's first three dashboards
GB = 2**30  # AWS bills storage and data in binary gigabytes


def gb_seconds(memory_mb: float, ms: float) -> float:
    """What Lambda bills for one invocation: memory × duration, rounded up to the millisecond."""
    return memory_mb / 1024 * math.ceil(ms) / 1000


def money(v: float) -> str:
    if v == 0:
        return "$0"
    digits = max(2, 2 - math.floor(math.log10(abs(v))))
    return f"${v:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
