"""analysis: timeline on the embedded stack: moto's Step Functions interpreter runs the stack's state
machine, the same definition the Pulumi program deploys (components/state_machine.py).

Two halves, one module, so whoever changes how the stack's endpoint checks credentials sees at once
what the interpreter sends (issue 19b: the local stack is to let in only its own credentials):

- in the moto server's process (`enable_in_server`): moto's config `stepfunctions.
  execute_state_machine` on, and MOTO_PORT set to the server's own port. moto's interpreter calls
  a Lambda task as `boto3.client("lambda", endpoint_url=f"http://localhost:{MOTO_PORT}", ...)` with
  no retries, and an SQS task likewise: so each Lambda task reaches this same server's Invoke, which
  local/moto_process.py already hands to the stack's workers (local/lambda_api.py). Its clients sign
  with the stack's administrator key instead of moto's fixed ak/sk (the stack refuses those), so
  locally the state machine's role policy is not what limits its tasks (local/README.md).
- in the stack (`create`): the state machine's role and policy in IAM, its log group, the state
  machine itself, with the splitter's dead-letter queue as its dead-letter target, and the
  workflow's statements on the function roles (the splitter starts its executions).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from components import state_machine
from components.settings import StackSettings
from components.topology import RECOGNIZER, SPLITTER
from local.control_plane import role_name
from local.credentials import Credentials


def enable_in_server(port: int, credentials: Credentials) -> None:
    """In the moto server's process, once it listens on `port`: execute state machines, and send
    their tasks to this server signed with `credentials` (moto's interpreter signs with the fixed
    keys ak/sk, which a stack that lets in only its own credentials refuses)."""
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.utils import boto_client

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    os.environ["MOTO_PORT"] = str(port)
    boto_client.boto3 = _SignedAs(credentials)


class _SignedAs:
    """Stands in for the boto3 module in moto's interpreter: the clients it makes sign as the stack."""

    def __init__(self, credentials: Credentials):
        self.credentials = credentials

    def client(self, *args: Any, **kwargs: Any) -> Any:
        import boto3

        kwargs.update(
            aws_access_key_id=self.credentials.access_key_id,
            aws_secret_access_key=self.credentials.secret_access_key,
            aws_session_token=self.credentials.session_token,
        )
        return boto3.client(*args, **kwargs)


def create(
    client: Callable[[str], Any],
    settings: StackSettings,
    *,
    function_arns: dict[str, str],
    dead_letter_queue_url: str,
    dead_letter_queue_arn: str,
    account: str,
) -> str:
    """The stack's state machine, as components/workflow.py declares it; its ARN."""
    name = state_machine.state_machine_name(settings.name_prefix)
    iam, logs, sfn = client("iam"), client("logs"), client("stepfunctions")
    role_arn = iam.create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(state_machine.assume_role())
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=f"{name}-role",
        PolicyName=f"{name}-access",
        PolicyDocument=json.dumps(
            state_machine.role_policy(
                function_arns=list(function_arns.values()), dead_letter_queue_arn=dead_letter_queue_arn
            )
        ),
    )
    group = state_machine.log_group_name(settings.name_prefix)
    logs.create_log_group(logGroupName=group)
    definition = state_machine.definition(
        splitter_arn=function_arns[SPLITTER],
        recognizer_arn=function_arns[RECOGNIZER],
        dead_letter_queue_url=dead_letter_queue_url,
        stage1_bucket=settings.stage1_bucket,
        concurrency=settings.segment_concurrency,
    )
    arn = str(
        sfn.create_state_machine(
            name=name,
            definition=json.dumps(definition),
            roleArn=role_arn,
            type="STANDARD",
            loggingConfiguration={
                "level": "ERROR",
                "includeExecutionData": False,
                "destinations": [
                    {
                        "cloudWatchLogsLogGroup": {
                            "logGroupArn": f"arn:aws:logs:{settings.region}:{account}:log-group:{group}:*"
                        }
                    }
                ],
            },
        )["stateMachineArn"]
    )
    _workflow_policies(iam, settings, arn)
    return arn


def _workflow_policies(iam: Any, settings: StackSettings, arn: str) -> None:
    """What components/workflow.py adds to the function roles: the splitter starts this state
    machine's executions, the recognizer keeps each segment's faces beside its frames."""
    for role, policy in (
        (SPLITTER, state_machine.splitter_policy(arn)),
        (RECOGNIZER, state_machine.recognizer_policy(f"arn:aws:s3:::{settings.stage1_bucket}")),
    ):
        iam.put_role_policy(
            RoleName=role_name(settings.function(role).name),
            PolicyName=f"{settings.function(role).name}-workflow",
            PolicyDocument=json.dumps(policy),
        )


def running(sfn: Any, arn: str) -> int:
    """How many executions of the state machine are still running."""
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING")
    return sum(len(page.get("executions", [])) for page in pages)


def dead_letters(records: list[dict]) -> list[dict]:
    """The state machine's records among a dead-letter queue's messages (it shapes them as Lambda's
    on-failure records, with a `timeline` part), each with `function` naming the state machine."""
    return [
        {"function": r["requestContext"]["functionArn"].rsplit(":", 1)[-1], **r}
        for r in records
        if isinstance(r, dict) and "timeline" in r and "requestContext" in r
    ]
