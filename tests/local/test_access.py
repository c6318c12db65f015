"""The local endpoint's access control (local/access.py, local/presigned.py, local/resources.py),
against a moto server process started as the stack starts it: presigned URLs are accepted as S3
accepts them and only for what the signer may do, and a role's policy scoped to a table or topic
holds for DynamoDB and SNS as on AWS."""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.credentials import Credentials, fresh, token

REGION = "us-east-1"
BUCKET, OTHER_BUCKET = "input-videos", "private-bucket"
KEY = "clips/a b+c (1).mp4"  # a key whose URL needs encoding
ROLE = "splitter-role"


class Endpoint:
    def __init__(self, process: subprocess.Popen, url: str, admin: Credentials) -> None:
        self.process, self.url, self.admin = process, url, admin

    def ask(self, message: dict) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        assert ready, "the moto process did not answer"
        return json.loads(self.process.stdout.readline())

    def client(self, service: str, credentials: Credentials | None = None) -> Any:
        who = credentials or self.admin
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=who.access_key_id,
            aws_secret_access_key=who.secret_access_key,
            aws_session_token=who.session_token,
            config=Config(signature_version="s3v4", retries={"max_attempts": 1}) if service == "s3" else None,
        )


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    admin = fresh()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-I", "-m", "local.moto_process", str(os.getpid()), "http://127.0.0.1:9"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        end = Endpoint(process, "", admin)
        address = end.ask({"admin": admin.as_json(), "invoke_token": token()})
        end.url = f"http://{address['host']}:{address['port']}"
        yield end
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def world(endpoint: Endpoint) -> dict[str, Any]:
    """Two buckets, two tables, two topics, and a role allowed one object prefix, one table, one topic."""
    s3 = endpoint.client("s3")
    for bucket in (BUCKET, OTHER_BUCKET):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=KEY, Body=b"video bytes")
    dynamodb = endpoint.client("dynamodb")
    for table in ("appearances", "other"):
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    sns = endpoint.client("sns")
    topic, other_topic = (sns.create_topic(Name=name)["TopicArn"] for name in ("results", "other-topic"))
    account = endpoint.client("sts").get_caller_identity()["Account"]
    table_arn = f"arn:aws:dynamodb:{REGION}:{account}:table/appearances"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{BUCKET}/*.mp4"]},
            {
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"],
                "Resource": [table_arn],
            },
            {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": [topic]},
        ],
    }
    iam = endpoint.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=ROLE, PolicyName="access", PolicyDocument=json.dumps(policy))
    session = Credentials.from_json(endpoint.ask({"assume_role": role_arn, "session": "splitter"}))
    return {"session": session, "topic": topic, "other_topic": other_topic}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def error_code(body: bytes) -> str:
    return body.decode().partition("<Code>")[2].partition("</Code>")[0]


def presign(endpoint: Endpoint, who: Credentials | None = None, bucket: str = BUCKET, expires: int = 300) -> str:
    return str(
        endpoint.client("s3", who).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": KEY}, ExpiresIn=expires
        )
    )


def test_a_presigned_get_by_the_administrator_reads_the_object(endpoint, world):
    assert get(presign(endpoint)) == (200, b"video bytes")


def test_a_presigned_get_by_a_role_session_reads_what_its_policy_allows(endpoint, world):
    url = presign(endpoint, world["session"])
    assert "X-Amz-Security-Token=" in url
    assert get(url) == (200, b"video bytes")


def test_a_presigned_get_outside_the_sessions_policy_is_refused(endpoint, world):
    status, body = get(presign(endpoint, world["session"], bucket=OTHER_BUCKET))
    assert (status, error_code(body)) == (403, "AccessDenied")


def test_a_tampered_presigned_url_is_refused(endpoint, world):
    url = presign(endpoint)
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    status, body = get(url.replace(signature, flipped))
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")
    status, body = get(url.replace(f"/{BUCKET}/", f"/{OTHER_BUCKET}/"))  # same signature, other object
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")


def test_an_expired_presigned_url_is_refused(endpoint, world, monkeypatch):
    import botocore.auth

    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past)  # the signer's clock
    url = presign(endpoint, expires=60)  # signed 10 minutes ago, valid for one
    monkeypatch.undo()
    status, body = get(url)
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert b"expired" in body


def test_a_presigned_url_with_an_unknown_key_or_token_is_refused(endpoint, world):
    status, body = get(presign(endpoint, fresh()))
    assert (status, error_code(body)) == (403, "InvalidAccessKeyId")
    session = world["session"]
    forged = Credentials(session.access_key_id, session.secret_access_key, "not-the-token")
    status, body = get(presign(endpoint, forged))
    assert (status, error_code(body)) == (403, "InvalidToken")


def test_a_sessions_dynamodb_calls_hold_to_the_table_its_policy_names(endpoint, world):
    dynamodb = endpoint.client("dynamodb", world["session"])
    dynamodb.put_item(TableName="appearances", Item={"id": {"S": "v1"}})
    assert dynamodb.get_item(TableName="appearances", Key={"id": {"S": "v1"}})["Item"]["id"] == {"S": "v1"}
    dynamodb.batch_write_item(RequestItems={"appearances": [{"PutRequest": {"Item": {"id": {"S": "v2"}}}}]})
    for call in (
        lambda: dynamodb.get_item(TableName="other", Key={"id": {"S": "v1"}}),
        lambda: dynamodb.put_item(TableName="other", Item={"id": {"S": "v1"}}),
        lambda: dynamodb.batch_write_item(
            RequestItems={
                "appearances": [{"PutRequest": {"Item": {"id": {"S": "v3"}}}}],
                "other": [{"PutRequest": {"Item": {"id": {"S": "v3"}}}}],
            }
        ),
        lambda: dynamodb.delete_item(TableName="appearances", Key={"id": {"S": "v1"}}),  # action not granted
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    assert "Item" not in endpoint.client("dynamodb").get_item(TableName="other", Key={"id": {"S": "v3"}})


def test_a_sessions_sns_publish_holds_to_the_topic_its_policy_names(endpoint, world):
    sns = endpoint.client("sns", world["session"])
    assert sns.publish(TopicArn=world["topic"], Message="done")["MessageId"]
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=world["other_topic"], Message="done")
    assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AuthorizationError")
    assert "other-topic" in str(refused.value)
