"""The stack's alarms, one table: what each watches, which statistic, above what it fires.

Plain data, no Pulumi. `components/monitoring.py` creates a CloudWatch alarm for each entry of
`alarms(settings)`; the local stack evaluates the very same entries against a run's own figures
(`local/alarms.py`) and prints which would have fired. Both read them through `evaluate()` and a
`MetricSource`: today the local stack's source is the run's counters and queue depths; a source
reading CloudWatch's GetMetricData answers the same question about a deployed stack.

Every alarm compares with GreaterThanThreshold and treats missing data as not breaching: Lambda
publishes nothing for a function nobody invokes and SQS publishes nothing for a queue it considers
inactive, so an idle stack shows OK rather than alarming, or INSUFFICIENT_DATA for ever. The cost:
should SQS stop publishing the depth of a dead-letter queue that holds messages nobody touches for
hours, that alarm returns to OK; its notification went out when it fired, and the messages stay in
the queue (14 days) until someone reads them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from components import topology
from components.settings import StackSettings

LAMBDA_NAMESPACE = "AWS/Lambda"
SQS_NAMESPACE = "AWS/SQS"
SNS_NAMESPACE, DYNAMODB_NAMESPACE = "AWS/SNS", "AWS/DynamoDB"
FUNCTION, QUEUE = "function", "dead-letter queue"  # what an alarm watches: a function, or its DLQ
TOPIC, TABLE = "results topic", "appearances table"  # the library's (the recognizer writes both)
# As Lambda, SQS, SNS and DynamoDB publish them
DIMENSION = {FUNCTION: "FunctionName", QUEUE: "QueueName", TOPIC: "TopicName", TABLE: "TableName"}
COMPARISON = "GreaterThanThreshold"
TREAT_MISSING_DATA = "notBreaching"
ALARM, OK = "ALARM", "OK"

Threshold = Callable[[StackSettings, str], float]  # (settings, function role) -> threshold


def invoked_asynchronously(architecture: str, role: str) -> bool:
    """Whether a function's events arrive asynchronously in this wiring: S3 notifications always
    invoke asynchronously, and so does the splitter (InvocationType=Event) in direct invocation.
    Only then does Lambda retry, and deliver the failures to the on-failure destination."""
    notified = {t.function for t in topology.triggers(architecture)}
    invoked = {callee for _caller, callee in topology.direct_invocations(architecture)}
    return role in notified | invoked


def _always(_architecture: str, _role: str) -> bool:
    return True


def _library_writer(_architecture: str, role: str) -> bool:
    return role == topology.RECOGNIZER


@dataclass(frozen=True)
class Rule:
    """One row of the table: an alarm every function (or its dead-letter queue) gets."""

    key: str  # ends the alarm's name: <namePrefix>-<function>-<key>
    watches: str  # FUNCTION or QUEUE
    namespace: str
    metric: str
    statistic: str  # Sum, Maximum, or a percentile such as p95 (an extended statistic)
    threshold: Threshold
    meaning: str  # the alarm's description: what firing means and where to look; {function}, {queue}
    applies: Callable[[str, str], bool] = _always  # (architecture, role)


RULES: tuple[Rule, ...] = (
    Rule(
        "dead-letters",
        QUEUE,
        SQS_NAMESPACE,
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
        lambda _s, _role: 0,
        "An upload ended in {queue} without a result, after its retries: each message holds the event "
        "and the error. Read them with `aws sqs receive-message`; the dashboard's failures widget and "
        "the saved query 'why did this video fail' show the function's own lines.",
    ),
    Rule(
        "errors",
        FUNCTION,
        LAMBDA_NAMESPACE,
        "Errors",
        "Sum",
        lambda s, _role: s.alarm_errors_threshold,
        "{function} failed invocations (each retry counts). Lambda retries them; what still fails ends in {queue}.",
    ),
    Rule(
        "throttles",
        FUNCTION,
        LAMBDA_NAMESPACE,
        "Throttles",
        "Sum",
        lambda s, _role: s.alarm_throttles_threshold,
        "{function} was throttled: its reserved concurrency or the account's is used up. Lambda keeps "
        "retrying throttled events for up to maxEventAgeSeconds, then sends them to {queue}.",
    ),
    Rule(
        "delivery-failures",
        FUNCTION,
        LAMBDA_NAMESPACE,
        "DestinationDeliveryFailures",
        "Sum",
        lambda _s, _role: 0,
        "Lambda could not deliver {function}'s failed events to {queue} (a missing permission, a "
        "deleted queue): those events are lost without a record.",
        applies=invoked_asynchronously,
    ),
    Rule(
        "duration",
        FUNCTION,
        LAMBDA_NAMESPACE,
        "Duration",
        "p95",
        lambda s, role: s.function(role).timeout_s * 1000 * s.alarm_duration_percent / 100,
        "{function}'s p95 duration is nearing its timeout, where Lambda ends the invocation: raise its "
        "memory (more CPU) or its timeout; the saved query 'where does the time go' shows which stage grew.",
    ),
    Rule(
        "results-delivery-failures",
        TOPIC,
        SNS_NAMESPACE,
        "NumberOfNotificationsFailed",
        "Sum",
        lambda _s, _role: 0,
        "The results topic {topic} could not deliver events to a subscriber (a queue whose policy or key "
        "refuses SNS, a function that fails): subscribers missed results. The results themselves are written.",
        applies=_library_writer,
    ),
    Rule(
        "index-throttles",
        TABLE,
        DYNAMODB_NAMESPACE,
        "ThrottledRequests",
        "Sum",
        lambda _s, _role: 0,
        "The appearances table {table} throttled {function}'s writes: results were retried (and may end "
        "in {queue}); search may miss the newest videos until they succeed.",
        applies=_library_writer,
    ),
    Rule(
        "index-errors",
        TABLE,
        DYNAMODB_NAMESPACE,
        "SystemErrors",
        "Sum",
        lambda _s, _role: 0,
        "DynamoDB answered {function}'s writes to {table} with server errors; those results were retried.",
        applies=_library_writer,
    ),
)

_PERCENTILE = re.compile(r"^p\d{1,2}(\.\d+)?$")


@dataclass(frozen=True)
class Alarm:
    """A rule bound to one function of one stack: everything CloudWatch needs to create it."""

    rule: Rule
    role: str  # the function (topology) it is about
    name: str
    watched: str  # the function's or its dead-letter queue's name: the metric's dimension value
    threshold: float
    period_s: int
    evaluation_periods: int
    description: str
    treat_missing_data: str = TREAT_MISSING_DATA
    comparison: str = COMPARISON

    @property
    def namespace(self) -> str:
        return self.rule.namespace

    @property
    def metric(self) -> str:
        return self.rule.metric

    @property
    def statistic(self) -> str:
        return self.rule.statistic

    @property
    def percentile(self) -> bool:
        """A percentile goes to CloudWatch as an extended statistic, the others as a statistic."""
        return bool(_PERCENTILE.match(self.statistic))

    @property
    def dimensions(self) -> dict[str, str]:
        return {DIMENSION[self.rule.watches]: self.watched}

    def breaches(self, value: float) -> bool:
        return value > self.threshold

    def put_metric_alarm(self, topic_arn: str) -> dict:
        """The alarm as CloudWatch's PutMetricAlarm takes it (the local stack creates it so; the
        Pulumi component passes the same fields to aws.cloudwatch.MetricAlarm)."""
        statistic = {"ExtendedStatistic": self.statistic} if self.percentile else {"Statistic": self.statistic}
        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "Namespace": self.namespace,
            "MetricName": self.metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions.items()],
            **statistic,
            "ComparisonOperator": self.comparison,
            "Threshold": self.threshold,
            "Period": self.period_s,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.evaluation_periods,
            "TreatMissingData": self.treat_missing_data,
            "AlarmActions": [topic_arn],
            "OKActions": [topic_arn],
        }


def topic_name(s: StackSettings) -> str:
    """The SNS topic every alarm notifies."""
    return f"{safe_name(s.name_prefix)}-alarms"


def safe_name(name_prefix: str) -> str:
    """namePrefix may hold '.', which topic and dashboard names may not."""
    return name_prefix.replace(".", "-")


def alarm_name_prefix(s: StackSettings) -> str:
    """What every alarm name of the stack starts with: the notification grants are scoped to it."""
    return f"{s.name_prefix}-"


def alarms(s: StackSettings) -> list[Alarm]:
    """The stack's alarms: each rule for each function it applies to in this wiring."""
    out = []
    for role in topology.FUNCTIONS:
        function = s.function(role)
        for rule in RULES:
            if not rule.applies(s.architecture, role):
                continue
            watched = {
                FUNCTION: function.name,
                QUEUE: function.dead_letter_queue_name,
                TOPIC: s.results_topic,
                TABLE: s.appearances_table,
            }[rule.watches]
            out.append(
                Alarm(
                    rule=rule,
                    role=role,
                    name=f"{alarm_name_prefix(s)}{function.name}-{rule.key}",
                    watched=watched,
                    threshold=float(rule.threshold(s, role)),
                    period_s=s.alarm_period_s,
                    evaluation_periods=s.alarm_evaluation_periods,
                    description=rule.meaning.format(
                        function=function.name,
                        queue=function.dead_letter_queue_name,
                        topic=s.results_topic,
                        table=s.appearances_table,
                    ),
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# Evaluation: the same alarms against figures from anywhere


class MetricSource(Protocol):
    """Where an alarm's metric comes from: a run's own figures, or CloudWatch."""

    def datapoints(self, alarm: Alarm) -> Sequence[float | None]:
        """The alarm's statistic over its dimensions, one value per period, oldest first; None (or
        no entry at all) for a period without data."""
        ...


@dataclass(frozen=True)
class Evaluation:
    alarm: Alarm
    state: str  # ALARM or OK
    value: float | None  # the highest datapoint seen (None: no data)

    @property
    def fired(self) -> bool:
        return self.state == ALARM

    def as_dict(self) -> dict:
        a = self.alarm
        return {
            "name": a.name,
            "state": self.state,
            "namespace": a.namespace,
            "metric": a.metric,
            "dimensions": a.dimensions,
            "statistic": a.statistic,
            "threshold": a.threshold,
            "value": self.value,
            "description": a.description,
        }


def evaluate(alarms_: Iterable[Alarm], source: MetricSource) -> list[Evaluation]:
    """Each alarm's state after the datapoints its source gives: ALARM when `evaluation_periods`
    consecutive datapoints breach (as CloudWatch does with datapoints-to-alarm equal to evaluation
    periods); missing data does not breach. A source with fewer periods than the alarm evaluates (a
    local run summarised as one) is judged on the periods it has."""
    out = []
    for alarm in alarms_:
        points = list(source.datapoints(alarm))
        window = max(1, min(alarm.evaluation_periods, len(points)))
        breached = [v is not None and alarm.breaches(v) for v in points]
        fired = any(all(breached[i : i + window]) for i in range(len(breached) - window + 1))
        values = [v for v in points if v is not None]
        out.append(Evaluation(alarm, ALARM if fired else OK, max(values) if values else None))
    return out
