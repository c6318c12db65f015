"""Alarms that reach someone, a dashboard, and saved log queries: the stack, watched.

Every alarm of components/alarms.py notifies one SNS topic, encrypted with a KMS key of the stack's
own (CloudWatch cannot use SNS's AWS-managed key); `alarmEmail` subscribes an address to it. The
dashboard and the saved Logs Insights queries come from components/dashboard.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import alarms as alarms_
from components import dashboard, policies
from components.settings import StackSettings

# A key pending deletion cannot be used; the topic's messages are transient, so nothing is left to
# decrypt after a destroy: the shortest window KMS allows.
KEY_DELETION_WINDOW_DAYS = 7


@dataclass
class PipelineMonitoringArgs:
    settings: StackSettings
    # By topology role: each function's component, so its alarms are created after what they watch.
    functions: Mapping[str, pulumi.Resource]


class PipelineMonitoring(pulumi.ComponentResource):
    """The alarm topic (with its key, policy and optional email subscription), one CloudWatch alarm
    per entry of alarms.alarms(settings), the dashboard and the saved queries."""

    def __init__(self, name: str, args: PipelineMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:PipelineMonitoring", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        prefix = alarms_.alarm_name_prefix(s)
        topic_name = alarms_.topic_name(s)
        # Known before the topic exists: the key's policy names the topic, and the topic the key.
        topic_arn = account_id.apply(lambda account: f"arn:aws:sns:{s.region}:{account}:{topic_name}")

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the alarm notifications of {s.name_prefix} ({topic_name})",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=pulumi.Output.all(account_id, topic_arn).apply(
                lambda v: policies.to_json(
                    policies.alarm_topic_key(account_id=v[0], region=s.region, topic_arn=v[1], alarm_name_prefix=prefix)
                )
            ),
            opts=child,
        )
        self.topic = aws.sns.Topic(f"{name}-alarms", name=topic_name, kms_master_key_id=self.key.arn, opts=child)
        self.topic_policy = aws.sns.TopicPolicy(
            f"{name}-alarms-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, account_id).apply(
                lambda v: policies.to_json(
                    policies.alarm_topic(topic_arn=v[0], account_id=v[1], region=s.region, alarm_name_prefix=prefix)
                )
            ),
            opts=child,
        )
        self.subscription = None
        if s.alarm_email:
            # AWS mails the address a confirmation link; notifications start once it is followed.
            self.subscription = aws.sns.TopicSubscription(
                f"{name}-alarms-email", topic=self.topic.arn, protocol="email", endpoint=s.alarm_email, opts=child
            )

        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for alarm in alarms_.alarms(s):
            self.alarms[alarm.name] = aws.cloudwatch.MetricAlarm(
                f"{name}-{alarm.role}-{alarm.rule.key}",
                name=alarm.name,
                alarm_description=alarm.description,
                namespace=alarm.namespace,
                metric_name=alarm.metric,
                dimensions=alarm.dimensions,
                # A percentile is an extended statistic to CloudWatch.
                statistic=None if alarm.percentile else alarm.statistic,
                extended_statistic=alarm.statistic if alarm.percentile else None,
                comparison_operator=alarm.comparison,
                threshold=alarm.threshold,
                period=alarm.period_s,
                evaluation_periods=alarm.evaluation_periods,
                datapoints_to_alarm=alarm.evaluation_periods,
                treat_missing_data=alarm.treat_missing_data,
                # Told when it fires and when it recovers.
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                # The topic must accept CloudWatch's notifications before the first one.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[self.topic_policy, self.key, args.functions[alarm.role]]
                ),
            )

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=dashboard.dashboard_name(s),
            dashboard_body=pulumi.Output.all(*(a.arn for a in self.alarms.values())).apply(
                lambda arns: json.dumps(dashboard.dashboard_body(s, arns))
            ),
            opts=child,
        )
        self.queries = [
            aws.cloudwatch.QueryDefinition(
                f"{name}-query-{re.sub(r'[^a-z0-9]+', '-', query_name.rsplit('/', 1)[-1]).strip('-')}",
                name=query_name,
                query_string=query,
                log_group_names=groups,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.functions.values())),
            )
            for query_name, (query, groups) in dashboard.saved_queries(s).items()
        ]

        self.topic_arn = self.topic.arn
        self.dashboard_url = pulumi.Output.from_input(dashboard.console_url(s))
        self.register_outputs({"alarmTopicArn": self.topic_arn, "dashboardUrl": self.dashboard_url})
