"""A failure every retry would meet again, dead-lettered by the function itself, at once.

Lambda retries every failed asynchronous invocation (maxRetryAttempts) before it hands the event to
the on-failure destination. When a handler knows a retry cannot succeed (events.Permanent: the
same object, settings and timeout give the same failure), it sends the record Lambda would have
sent to that same queue, with `condition: PermanentError` and one attempt, and returns normally,
so nothing is retried and the failure still ends in the dead-letter queue with its reason. The role
may already send there (Lambda delivers on-failure records with the function's own role).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

CONDITION = "PermanentError"


def queue_url(function_arn: str, queue_name: str) -> str:
    """The queue's URL in the function's region and account, from the invocation's ARN."""
    parts = function_arn.split(":")
    if len(parts) < 7 or parts[:3] != ["arn", "aws", "lambda"]:
        raise ValueError(f"not a Lambda function ARN: {function_arn!r}")
    region, account = parts[3], parts[4]
    return f"https://sqs.{region}.amazonaws.com/{account}/{queue_name}"


def record(event: Mapping[str, Any], error: BaseException, *, request_id: str, function_arn: str) -> dict:
    """The record, shaped as Lambda's on-failure destination record (tools.dead_letters reads it)."""
    return {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": CONDITION,
            "approximateInvokeCount": 1,
        },
        "requestPayload": dict(event),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Handled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }


def send(sqs: Any, event: Mapping[str, Any], error: BaseException, *, context: Any, queue_name: str) -> str:
    """Send the record to `queue_name`; its MessageId. Any failure to send propagates (the caller then
    lets the original error go to Lambda, which retries and dead-letters it the ordinary way)."""
    arn = str(getattr(context, "invoked_function_arn", "") or "")
    body = record(event, error, request_id=str(getattr(context, "aws_request_id", "") or ""), function_arn=arn)
    response = sqs.send_message(QueueUrl=queue_url(arn, queue_name), MessageBody=json.dumps(body))
    return str(response.get("MessageId", ""))
