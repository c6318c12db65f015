"""The CloudWatch metrics the deployed stack's services publish, by name: what AWS Lambda publishes
for each function and what SQS publishes for each dead-letter queue.

Plain data, no Pulumi and no boto3: the local stack publishes these (local/metrics.py), the tools
read them back (tools/cloudwatch.py), and alarms can be written against them, all with the same
names, units, dimensions and the statistic that makes sense for each. Names and meanings are
Lambda's own (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html) and
SQS's (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
"""

from __future__ import annotations

from dataclasses import dataclass

LAMBDA_NAMESPACE = "AWS/Lambda"
SQS_NAMESPACE = "AWS/SQS"
FUNCTION_DIMENSION = "FunctionName"
QUEUE_DIMENSION = "QueueName"
PERIOD_S = 60  # Lambda and SQS publish at one-minute resolution

COUNT, MILLISECONDS = "Count", "Milliseconds"


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    unit: str
    statistic: str  # the statistic that answers the metric's question (Lambda's documentation says which)
    dimension: str  # the one dimension this stack's data points carry
    meaning: str

    def dimensions(self, value: str) -> list[dict[str, str]]:
        """The dimensions of this metric for one function (or queue), as CloudWatch's API takes them."""
        return [{"Name": self.dimension, "Value": value}]


def _lambda(name: str, unit: str, statistic: str, meaning: str) -> Metric:
    return Metric(LAMBDA_NAMESPACE, name, unit, statistic, FUNCTION_DIMENSION, meaning)


INVOCATIONS = _lambda("Invocations", COUNT, "Sum", "times the function's code ran, errors included (one per attempt)")
ERRORS = _lambda("Errors", COUNT, "Sum", "invocations that ended in a function error (timeouts and init failures too)")
THROTTLES = _lambda("Throttles", COUNT, "Sum", "invocation requests that found no free concurrency")
DURATION = _lambda("Duration", MILLISECONDS, "Average", "time the handler ran, per invocation")
CONCURRENT_EXECUTIONS = _lambda(
    "ConcurrentExecutions", COUNT, "Maximum", "execution environments processing events at once"
)
ASYNC_EVENTS_RECEIVED = _lambda("AsyncEventsReceived", COUNT, "Sum", "events queued for asynchronous invocation")
ASYNC_EVENT_AGE = _lambda(
    "AsyncEventAge", MILLISECONDS, "Average", "time from queuing an asynchronous event to invoking the function"
)
ASYNC_EVENTS_DROPPED = _lambda(
    "AsyncEventsDropped", COUNT, "Sum", "asynchronous events dropped unprocessed (sent to the on-failure destination)"
)
DESTINATION_DELIVERY_FAILURES = _lambda(
    "DestinationDeliveryFailures", COUNT, "Sum", "failed events that could not be sent to the on-failure destination"
)
QUEUE_VISIBLE = Metric(
    SQS_NAMESPACE,
    "ApproximateNumberOfMessagesVisible",
    COUNT,
    "Maximum",
    QUEUE_DIMENSION,
    "messages waiting in the queue (for a dead-letter queue: failed events nobody has looked at)",
)

FUNCTION_METRICS = (
    INVOCATIONS,
    ERRORS,
    THROTTLES,
    DURATION,
    CONCURRENT_EXECUTIONS,
    ASYNC_EVENTS_RECEIVED,
    ASYNC_EVENT_AGE,
    ASYNC_EVENTS_DROPPED,
    DESTINATION_DELIVERY_FAILURES,
)
