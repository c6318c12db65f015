"""analysis: timeline: the Step Functions state machine that fans each video out over its segments
(components/state_machine.py: the definition and every policy document), with its role, its
execution log group, the grants the two functions need besides their own roles, and an alarm on
failed executions to the stack's alarm topic. A first-frame stack creates none of it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import state_machine
from components.alarms import alarm_name_prefix
from components.function_parts import FunctionComponent
from components.settings import StackSettings

FAILED_METRIC = "ExecutionsFailed"


@dataclass
class TimelineWorkflowArgs:
    settings: StackSettings
    splitter: FunctionComponent
    recognizer: FunctionComponent
    stage1_bucket_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]


class TimelineWorkflow(pulumi.ComponentResource):
    def __init__(self, name: str, args: TimelineWorkflowArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:TimelineWorkflow", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        splitter, recognizer = args.splitter, args.recognizer
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=state_machine.log_group_name(s.name_prefix),
            retention_in_days=s.log_retention_days,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(state_machine.assume_role(), sort_keys=True),
            description="Execution role of the timeline state machine: invokes the pipeline's functions only",
            opts=child,
        )
        dlq = splitter.parts.dead_letter_queue
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-access",
            role=self.role.id,
            policy=pulumi.Output.all(splitter.function_arn, recognizer.function_arn, dlq.arn).apply(
                lambda v: json.dumps(
                    state_machine.role_policy(function_arns=[v[0], v[1]], dead_letter_queue_arn=v[2]), sort_keys=True
                )
            ),
            opts=child,
        )
        definition = pulumi.Output.all(splitter.function_arn, recognizer.function_arn, dlq.url).apply(
            lambda v: json.dumps(
                state_machine.definition(
                    splitter_arn=v[0],
                    recognizer_arn=v[1],
                    dead_letter_queue_url=v[2],
                    stage1_bucket=s.stage1_bucket,
                    concurrency=s.segment_concurrency,
                ),
                indent=1,
            )
        )
        self.state_machine = aws.sfn.StateMachine(
            f"{name}-state-machine",
            name=state_machine.state_machine_name(s.name_prefix),
            type="STANDARD",
            role_arn=self.role.arn,
            definition=definition,
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level="ERROR",
                include_execution_data=False,
                log_destination=self.log_group.arn.apply(lambda arn: f"{arn}:*"),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]),
        )
        # What the functions need besides their own roles: the splitter starts this state machine's
        # executions; the recognizer keeps each segment's faces beside its frames in stage-1.
        self.splitter_policy = aws.iam.RolePolicy(
            f"{name}-splitter-starts",
            role=splitter.parts.role.id,
            policy=self.state_machine.arn.apply(lambda arn: json.dumps(state_machine.splitter_policy(arn))),
            opts=child,
        )
        self.recognizer_policy = aws.iam.RolePolicy(
            f"{name}-recognizer-segments",
            role=recognizer.parts.role.id,
            policy=pulumi.Output.from_input(args.stage1_bucket_arn).apply(
                lambda arn: json.dumps(state_machine.recognizer_policy(arn))
            ),
            opts=child,
        )
        self.failed_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-executions-failed",
            name=f"{alarm_name_prefix(s)}{state_machine.state_machine_name(s.name_prefix)}-executions-failed",
            alarm_description="A video's timeline execution failed: its dead-letter record names the segment",
            namespace="AWS/States",
            metric_name=FAILED_METRIC,
            dimensions={"StateMachineArn": self.state_machine.arn},
            statistic="Sum",
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            period=s.alarm_period_s,
            evaluation_periods=1,
            treat_missing_data="notBreaching",
            alarm_actions=[args.alarm_topic_arn],
            ok_actions=[args.alarm_topic_arn],
            opts=child,
        )
        self.state_machine_arn = self.state_machine.arn
        self.register_outputs({"stateMachineArn": self.state_machine.arn})
