"""The resource a request acts on, as IAM names it, for the actions moto 5.2.5 authorizes against
"*" (it determines a resource for S3, Lambda, SQS and IAM/STS roles only). Without it a
least-privilege statement scoped to a table, topic or state machine never matches and the
function is refused what its role allows. Used by local/access.py inside the moto server process.

`resources()` answers the ARNs a request must be allowed on (every one of them), `["*"]` for the
actions IAM itself judges on "*" (no resource type), or None when the resource cannot be told from
the request: access.py then judges by the action alone (local/README.md lists those actions).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

Param = Callable[[str], Any]

# Actions with no resource type in IAM's service authorization reference: judged on "*" there too.
ACCOUNT_WIDE = frozenset(
    {
        "dynamodb:ListTables",
        "sns:ListTopics",
        "sns:ListSubscriptions",
        "sqs:ListQueues",
        "states:ListStateMachines",
        "states:CreateActivity",
        "monitoring:PutMetricData",
        "monitoring:GetMetricData",
        "monitoring:GetMetricStatistics",
        "monitoring:ListMetrics",
        "monitoring:DescribeAlarms",
        "logs:DescribeLogGroups",
        "sts:GetCallerIdentity",
    }
)


def params_of(querystring: dict[str, list[str]], body: Any) -> Param:
    """A request's parameter by name: a query/form parameter, else a member of a JSON body."""
    document: dict[str, Any] | None = None

    def param(name: str) -> Any:
        nonlocal document
        if querystring.get(name):
            return querystring[name][0]
        if document is None and isinstance(body, dict):
            document = body
        if document is None:
            try:
                loaded = json.loads(body or b"{}")
            except (ValueError, TypeError):
                loaded = {}
            document = loaded if isinstance(loaded, dict) else {}
        return document.get(name)

    return param


def _dynamodb(action: str, param: Param, region: str, account: str) -> list[str] | None:
    def table(name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"

    if param("TableName"):
        return [table(str(param("TableName")))]
    items = param("RequestItems")  # BatchWriteItem, BatchGetItem: every table named
    if isinstance(items, dict) and items:
        return [table(str(name)) for name in items]
    return None


def _sns(action: str, param: Param, region: str, account: str) -> list[str] | None:
    arn = param("TopicArn") or param("TargetArn")
    if arn:
        return [str(arn)]
    if action == "CreateTopic" and param("Name"):
        return [f"arn:aws:sns:{region}:{account}:{param('Name')}"]
    subscription = param("SubscriptionArn")  # Unsubscribe, Get/SetSubscriptionAttributes: its topic
    if subscription:
        return [str(subscription).rsplit(":", 1)[0]]
    return None


def _sqs(action: str, param: Param, region: str, account: str) -> list[str] | None:
    url = param("QueueUrl")
    if url:  # http(s)://host/ACCOUNT/NAME, or the bare name AWS also accepts
        parts = urlsplit(str(url)).path.strip("/").split("/") if "://" in str(url) else [account, str(url)]
        owner, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (account, parts[-1])
        return [f"arn:aws:sqs:{region}:{owner}:{name}"]
    if param("QueueName"):  # CreateQueue, GetQueueUrl
        return [f"arn:aws:sqs:{region}:{account}:{param('QueueName')}"]
    return None


def _states(action: str, param: Param, region: str, account: str) -> list[str] | None:
    for name in ("stateMachineArn", "executionArn", "activityArn", "resourceArn"):
        if param(name):
            return [str(param(name))]
    if action == "CreateStateMachine" and param("name"):
        return [f"arn:aws:states:{region}:{account}:stateMachine:{param('name')}"]
    return None


def _logs(action: str, param: Param, region: str, account: str) -> list[str] | None:
    group = param("logGroupName") or param("logGroupIdentifier")
    if not group:
        return None
    group = str(group).split(":log-group:", 1)[-1].removesuffix(":*")
    arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    stream = param("logStreamName")
    # A stream's actions act on the stream; the group's on "log-group:NAME:*", as AWS reports them.
    return [f"{arn}:log-stream:{stream}"] if stream else [f"{arn}:*"]


def _cloudwatch(action: str, param: Param, region: str, account: str) -> list[str] | None:
    names = [param("AlarmName")] if param("AlarmName") else []
    if not names:  # DeleteAlarms, EnableAlarmActions, ...: AlarmNames.member.N on the query protocol
        index = 1
        while param(f"AlarmNames.member.{index}"):
            names.append(param(f"AlarmNames.member.{index}"))
            index += 1
    return [f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}" for name in names] or None


_BY_SERVICE: dict[str, Callable[[str, Param, str, str], list[str] | None]] = {
    "dynamodb": _dynamodb,
    "sns": _sns,
    "sqs": _sqs,
    "states": _states,
    "logs": _logs,
    "monitoring": _cloudwatch,
}


def resources(iam_action: str, param: Param, region: str, account: str) -> list[str] | None:
    """The ARNs `iam_action` ("service:Operation") acts on in this request, ["*"] for an action
    IAM judges on "*", None when this module cannot tell."""
    if iam_action in ACCOUNT_WIDE:
        return ["*"]
    service, _, action = iam_action.partition(":")
    resolve = _BY_SERVICE.get(service)
    return None if resolve is None else resolve(action, param, region, account)
