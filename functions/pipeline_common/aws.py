"""AWS clients as both functions make them, once per process."""

from __future__ import annotations


def client(service: str):
    """A boto3 client with standard retries. Endpoint and credentials come from the ordinary AWS
    settings (the role on Lambda; AWS_ENDPOINT_URL[_<SERVICE>] and dummy keys on the local stack)."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 4}))
