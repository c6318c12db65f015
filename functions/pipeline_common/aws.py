"""AWS clients as both functions make them, once per process."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError


def client(service: str) -> BaseClient:
    """A boto3 client with standard retries. Endpoint and credentials come from the ordinary AWS
    settings (the role on Lambda; AWS_ENDPOINT_URL[_<SERVICE>] and dummy keys on the local stack)."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 4}))


def error_code(exc: ClientError) -> str:
    """A botocore ClientError's code as S3 and the other services name it ("NoSuchKey", "304", ...)."""
    return str(exc.response.get("Error", {}).get("Code", "error"))
