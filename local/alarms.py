"""The deployed stack's alarms (components/alarms.py, the very same entries), evaluated against what a
local run did, so a user sees locally which would have fired: a poisoned upload fires the
dead-letter alarm, as it would on AWS.

`RunFigures` is the run as the alarms' metrics, one datapoint each (the run is one period):
- AWS/SQS ApproximateNumberOfMessagesVisible: the dead-letter queue's visible messages when the run
  ended, read through SQS (a queue's level, not the run's: messages left by an earlier run count,
  as they keep the alarm in ALARM on AWS);
- AWS/Lambda Errors: failed invocations and failed inits during the run, each retry counted;
- Duration p95: over the run's invocations (nearest rank; CloudWatch's percentiles are estimates);
- DestinationDeliveryFailures: on-failure records the dead-letter queue did not take;
- Throttles: arrivals beyond a reserved concurrency (local/runtime.py); an unreserved function draws
  on the account's pool, which the local workers only stand in for, and is never throttled here.
Lambda publishes nothing for a function that was not invoked, and neither does this source. Another
MetricSource reading CloudWatch's GetMetricData (per period) answers the same question about a
deployed stack, or about a local stack that publishes metrics.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from components import alarms as alarms_
from local.stats import percentile

if TYPE_CHECKING:
    from local.stack import LocalStack

Counter = Literal["invocations", "errors", "init_errors", "destination_delivery_failures", "throttles"]
COUNTERS: tuple[Counter, ...] = ("invocations", "errors", "init_errors", "destination_delivery_failures", "throttles")


@dataclass
class Snapshot:
    """Each function's counters and how many durations it had recorded, at one moment (by role)."""

    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    durations_seen: dict[str, int] = field(default_factory=dict)


def snapshot(stack: LocalStack) -> Snapshot:
    snap = Snapshot()
    for role, runtime in stack.runtimes.items():
        st = runtime.stats
        snap.counters[role] = {name: st[name] for name in COUNTERS}
        snap.durations_seen[role] = len(runtime.stats["durations_ms"])
    return snap


def queue_depth(stack: LocalStack, role: str) -> int:
    """What SQS publishes as ApproximateNumberOfMessagesVisible: the queue's visible messages."""
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.dead_letter_queues[role], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


class RunFigures:
    """A run's figures since `before`, as the alarms' metrics (a components.alarms.MetricSource)."""

    def __init__(self, stack: LocalStack, before: Snapshot):
        after = snapshot(stack)
        self.counters = {
            role: {k: after.counters[role][k] - before.counters.get(role, {}).get(k, 0) for k in COUNTERS}
            for role in after.counters
        }
        self.durations = {
            role: sorted(list(runtime.stats["durations_ms"])[before.durations_seen.get(role, 0) :])
            for role, runtime in stack.runtimes.items()
        }
        self.depths = {role: queue_depth(stack, role) for role in stack.dead_letter_queues}

    def datapoints(self, alarm: alarms_.Alarm) -> list[float | None]:
        role, metric = alarm.role, (alarm.namespace, alarm.metric)
        if alarm.namespace in (alarms_.SNS_NAMESPACE, alarms_.DYNAMODB_NAMESPACE):
            return []  # moto's SNS and DynamoDB publish no metrics: no local figure (missing: not breaching)
        if metric == (alarms_.SQS_NAMESPACE, "ApproximateNumberOfMessagesVisible"):
            return [float(self.depths[role])]
        counters = self.counters[role]
        if not counters["invocations"] and not counters["init_errors"]:
            return []  # not invoked: Lambda publishes nothing
        if metric == (alarms_.LAMBDA_NAMESPACE, "Errors"):
            return [float(counters["errors"] + counters["init_errors"])]
        if metric == (alarms_.LAMBDA_NAMESPACE, "Throttles"):
            return [float(counters["throttles"])]
        if metric == (alarms_.LAMBDA_NAMESPACE, "DestinationDeliveryFailures"):
            return [float(counters["destination_delivery_failures"])]
        if metric == (alarms_.LAMBDA_NAMESPACE, "Duration") and alarm.percentile:
            durations = self.durations[role]
            return [percentile(durations, float(alarm.statistic[1:]))] if durations else []
        raise ValueError(f"{alarm.name}: no local figure for {alarm.namespace} {alarm.metric} {alarm.statistic}")


def evaluate_run(stack: LocalStack, before: Snapshot) -> list[dict]:
    """Every alarm of the stack's settings, evaluated on the run since `before`."""
    evaluations = alarms_.evaluate(alarms_.alarms(stack.settings), RunFigures(stack, before))
    cloudwatch = stack.client("cloudwatch")

    def set_state(e: alarms_.Evaluation) -> None:  # the local CloudWatch evaluates nothing: the run decides
        reason = f"local run: {e.alarm.statistic} {e.value} vs threshold {e.alarm.threshold}"
        cloudwatch.set_alarm_state(AlarmName=e.alarm.name, StateValue=e.state, StateReason=reason)

    with ThreadPoolExecutor(8, thread_name_prefix="alarm-state") as pool:
        list(pool.map(set_state, evaluations))
    return [e.as_dict() for e in evaluations]


def describe(evaluations: list[dict]) -> list[str]:
    """Lines for the run's summary: each alarm that would have fired, or that none would."""
    fired = [e for e in evaluations if e["state"] == alarms_.ALARM]
    if not fired:
        return [f"  alarms: none of the stack's {len(evaluations)} alarms would have fired"]
    lines = [f"  alarms: {len(fired)} of the stack's {len(evaluations)} would have fired (and notified its topic):"]
    for e in fired:
        ((dimension, value),) = e["dimensions"].items()
        lines.append(
            f"    {e['name']}: {e['namespace']} {e['metric']} {e['statistic']} {e['value']:g} > {e['threshold']:g} "
            f"({dimension}={value})"
        )
    return lines
