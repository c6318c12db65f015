"""AWS clients as both functions make them, once per process."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError


def client(service: str) -> BaseClient:
    """A boto3 client with standard retries. Endpoint and credentials come from the ordinary AWS
    settings (the role on Lambda; AWS_ENDPOINT_URL[_<SERVICE>] and the stack's keys locally). S3
    presigns with SigV4 (botocore's default presigned URL is SigV2, which new regions refuse)."""
    import boto3
    from botocore.config import Config

    signing = {"signature_version": "s3v4"} if service == "s3" else {}
    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 4}, **signing))


def error_code(exc: ClientError) -> str:
    """A botocore ClientError's code as S3 and the other services name it ("NoSuchKey", "304", ...)."""
    return str(exc.response.get("Error", {}).get("Code", "error"))


def reason(exc: Exception) -> object:
    """What went wrong with a call, for a message: a ClientError's code, any other error itself."""
    from botocore.exceptions import ClientError

    return error_code(exc) if isinstance(exc, ClientError) else exc
