"""The stack's CloudWatch dashboard and its saved Logs Insights queries, as plain data.

The dashboard shows, per function, what Lambda publishes (invocations, errors, throttles, duration
p50/p95 against the timeout, concurrency), each dead-letter queue's depth, the alarms, and Logs
Insights widgets over the JSON lines the functions write (pipeline_common.log): each stage's `ms`
percentiles (the stages come from topology.FUNCTIONS), results by name, the no-face rate, and
failures by error type. The saved queries answer "why did this video fail" and "where does the
time go". `components/monitoring.py` creates them; tests read the same dicts.
"""

from __future__ import annotations

from collections.abc import Sequence

from components import alarms as alarms_
from components import state_machine, topology
from components.settings import StackSettings

# What the functions' log lines say, which the queries select on (tests hold them to the real lines).
RECOGNISED = "frame recognised"  # face_recognizer.service: one per frame, with `name` and `faces`
TIMELINE_RECOGNISED = "timeline recognised"  # its timeline twin: one per video, `name` the person seen most
# Either analysis's one line per answer: the widgets count answers, whichever the stack gives.
ANSWERED = f'(message = "{RECOGNISED}" or message = "{TIMELINE_RECOGNISED}")'
NO_FACE = "no-face"  # face_recognizer.recognizer.NO_FACE
# Lambda's own lines for failures that never reach the function's logger (Log format Text).
LAMBDA_FAILURES = r"/Task timed out|Runtime exited/"

WIDTH = 24  # the dashboard grid's columns


def dashboard_name(s: StackSettings) -> str:
    return f"{alarms_.safe_name(s.name_prefix)}-pipeline"


def console_url(s: StackSettings) -> str:
    return f"https://{s.region}.console.aws.amazon.com/cloudwatch/home?region={s.region}#dashboards/dashboard/{dashboard_name(s)}"


def log_groups(s: StackSettings) -> list[str]:
    return [s.function(role).log_group_name for role in topology.FUNCTIONS]


# ---------------------------------------------------------------------------------------------
# Logs Insights queries (over the functions' log groups)


def stage_percentiles(stages: Sequence[str]) -> str:
    """p50 and p95 of each stage of the functions' `ms` field, and of the total, per function."""
    columns = ["count(*) as objects, pct(ms.total, 50) as total_p50, pct(ms.total, 95) as total_p95"]
    columns += [f"pct(ms.{stage}, 50) as {stage}_p50, pct(ms.{stage}, 95) as {stage}_p95" for stage in stages]
    return "filter ispresent(ms.total)\n| stats " + ", ".join(columns) + " by service"


def all_stages() -> list[str]:
    return list(dict.fromkeys(stage for f in topology.FUNCTIONS.values() for stage in f.stages))


RESULTS_BY_NAME = f"filter {ANSWERED}\n| stats count(*) as results by name\n| sort results desc\n| limit 50"
# The no-face sentinel as it stands in a line (json.dumps' separators): exact, where the name field
# alone would also match a person whose name merely contains "no-face". strcontains gives 1 or 0.
NO_FACE_IN_LINE = f'"name": "{NO_FACE}"'
NO_FACE_RATE = (
    f"filter {ANSWERED}\n"
    f"| stats count(*) as results, sum(strcontains(@message, '{NO_FACE_IN_LINE}')) as no_face, "
    f"100 * sum(strcontains(@message, '{NO_FACE_IN_LINE}')) / count(*) as no_face_percent by bin(1h)"
)
FAILURES_BY_TYPE = (
    f'filter level = "ERROR" or @message like {LAMBDA_FAILURES}\n'
    '| fields coalesce(error_type, "Lambda: timed out or runtime exited") as error\n'
    "| stats count(*) as failures by @log, error\n"
    "| sort failures desc"
)
WHY_DID_THIS_VIDEO_FAIL = (
    "# Why did this video fail? Put its key, or its stem (dir/clip.), between the quotes: every line\n"
    "# of both functions about it, in order. Then filter on a line's request_id for Lambda's own\n"
    "# lines about that invocation (a timeout, memory). The dead-letter record holds the final error.\n"
    "fields @timestamp, @log, level, message, error_type, error, video, frame, name, request_id\n"
    '| filter @message like "dir/clip."\n'
    "| sort @timestamp asc\n"
    "| limit 200"
)
COLD_STARTS_AND_MEMORY = (
    'filter @type = "REPORT"\n'
    "| stats count(*) as invocations, count(@initDuration) as cold_starts, avg(@initDuration) as init_ms, "
    "pct(@duration, 50) as p50_ms, pct(@duration, 95) as p95_ms, sum(@billedDuration) / 1000 as billed_s, "
    "max(@maxMemoryUsed / 1000 / 1000) as max_memory_mb, max(@memorySize / 1000 / 1000) as memory_mb by @log"
)


def where_does_the_time_go() -> str:
    return (
        "# Where does the time go: each stage of each function (ms, from its one line per object);\n"
        "# the saved query 'cold starts, billed time and memory' adds Lambda's own REPORT figures.\n"
        + stage_percentiles(all_stages())
    )


def saved_queries(s: StackSettings) -> dict[str, tuple[str, list[str]]]:
    """Logs Insights query definitions: name (a folder per stack) → (query, log groups)."""
    folder = f"{s.name_prefix}/"
    groups = log_groups(s)
    return {
        f"{folder}why did this video fail": (WHY_DID_THIS_VIDEO_FAIL, groups),
        f"{folder}where does the time go": (where_does_the_time_go(), groups),
        f"{folder}cold starts, billed time and memory": (COLD_STARTS_AND_MEMORY, groups),
    }


# ---------------------------------------------------------------------------------------------
# The dashboard


def _lambda(metric: str, function_name: str, stat: str, label: str | None = None) -> list:
    return [alarms_.LAMBDA_NAMESPACE, metric, "FunctionName", function_name, {"stat": stat, "label": label or metric}]


def _metric_widget(
    title: str, metrics: list[list], s: StackSettings, *, x: int, y: int, w: int, **extra: object
) -> dict:

    properties = {
        "title": title,
        "region": s.region,
        "view": "timeSeries",
        "stacked": False,
        "period": s.alarm_period_s,
        "metrics": metrics,
        **extra,
    }
    return {"type": "metric", "x": x, "y": y, "width": w, "height": 6, "properties": properties}


def _log_widget(title: str, query: str, groups: list[str], s: StackSettings, *, x: int, y: int, w: int) -> dict:
    sources = " | ".join(f"SOURCE '{g}'" for g in groups)
    return {
        "type": "log",
        "x": x,
        "y": y,
        "width": w,
        "height": 6,
        "properties": {"title": title, "region": s.region, "view": "table", "query": f"{sources} | {query}"},
    }


def dashboard_body(s: StackSettings, alarm_arns: Sequence[str] = ()) -> dict:
    """The dashboard's JSON body (CloudWatch's dashboard body structure)."""
    widgets: list[dict] = [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": WIDTH,
            "height": 2,
            "properties": {
                "markdown": f"## {s.name_prefix}: video face pipeline ({s.architecture})\n"
                + " → ".join(f"`{s.function(role).name}`" for role in topology.FUNCTIONS)
                + f". Alarms notify the stack's SNS topic; period {s.alarm_period_s} s."
            },
        }
    ]
    y = 2
    if alarm_arns:
        widgets.append(
            {
                "type": "alarm",
                "x": 0,
                "y": y,
                "width": WIDTH,
                "height": 3,
                "properties": {"title": "Alarms", "alarms": list(alarm_arns), "sortBy": "stateUpdatedTimestamp"},
            }
        )
        y += 3
    for role in topology.FUNCTIONS:
        function = s.function(role)
        name, queue = function.name, function.dead_letter_queue_name
        timeout_ms = function.timeout_s * 1000
        w = WIDTH // 4
        widgets += [
            _metric_widget(
                f"{name}: invocations, errors, throttles",
                [
                    _lambda("Invocations", name, "Sum"),
                    _lambda("Errors", name, "Sum"),
                    _lambda("Throttles", name, "Sum"),
                    _lambda("DestinationDeliveryFailures", name, "Sum"),
                ],
                s,
                x=0,
                y=y,
                w=w,
            ),
            _metric_widget(
                f"{name}: duration (ms)",
                [_lambda("Duration", name, "p50", "p50"), _lambda("Duration", name, "p95", "p95")],
                s,
                x=w,
                y=y,
                w=w,
                annotations={
                    "horizontal": [
                        {"label": "timeout", "value": timeout_ms},
                        {"label": "alarm", "value": timeout_ms * s.alarm_duration_percent / 100},
                    ]
                },
            ),
            _metric_widget(
                f"{name}: concurrent executions",
                [_lambda("ConcurrentExecutions", name, "Maximum")],
                s,
                x=2 * w,
                y=y,
                w=w,
            ),
            _metric_widget(
                f"{queue}: messages (uploads that ended without a result)",
                [
                    [
                        alarms_.SQS_NAMESPACE,
                        "ApproximateNumberOfMessagesVisible",
                        "QueueName",
                        queue,
                        {"stat": "Maximum", "label": "visible messages"},
                    ]
                ],
                s,
                x=3 * w,
                y=y,
                w=w,
            ),
        ]
        y += 6
    half = WIDTH // 2
    for i, role in enumerate(topology.FUNCTIONS):
        function = s.function(role)
        widgets.append(
            _log_widget(
                f"{function.name}: each stage (ms), p50 and p95",
                stage_percentiles(topology.FUNCTIONS[role].stages),
                [function.log_group_name],
                s,
                x=(i % 2) * half,
                y=y + (i // 2) * 6,
                w=half,
            )
        )
    y += 6 * ((len(topology.FUNCTIONS) + 1) // 2)
    third = WIDTH // 3
    recognizer_logs = [s.function(topology.RECOGNIZER).log_group_name]
    widgets += [
        _log_widget("Results by name", RESULTS_BY_NAME, recognizer_logs, s, x=0, y=y, w=third),
        _log_widget("No-face rate (%)", NO_FACE_RATE, recognizer_logs, s, x=third, y=y, w=third),
        _log_widget("Failures by error type", FAILURES_BY_TYPE, log_groups(s), s, x=2 * third, y=y, w=third),
    ]
    widgets += library_widgets(s, y + 6)
    if s.timeline:  # the videos' executions (components/workflow.py), found by the state machine's name
        widgets.append(executions_widget(s, y=y + 12))
    return {"start": "-PT3H", "periodOverride": "inherit", "widgets": widgets}


def library_widgets(s: StackSettings, y: int) -> list[dict]:
    """The library's row: events published and failed on the results topic; the appearances table's
    writes, throttles and errors; relabels and their changes (from the recognizer's `relabelled` lines)."""
    topic, table, third = s.results_topic, s.appearances_table, WIDTH // 3

    def sns(metric: str, label: str) -> list:
        return [alarms_.SNS_NAMESPACE, metric, "TopicName", topic, {"stat": "Sum", "label": label}]

    def ddb(metric: str, label: str) -> list:
        return [alarms_.DYNAMODB_NAMESPACE, metric, "TableName", table, {"stat": "Sum", "label": label}]

    relabels = (
        'filter message = "relabelled" | stats count(*) as relabels, sum(changed) as changed, '
        "sum(unchanged) as unchanged by bin(5m)"
    )
    return [
        _metric_widget(
            f"{topic}: events",
            [sns("NumberOfMessagesPublished", "published"), sns("NumberOfNotificationsFailed", "failed deliveries")],
            s,
            x=0,
            y=y,
            w=third,
        ),
        _metric_widget(
            f"{table}: writes",
            [
                ddb("ConsumedWriteCapacityUnits", "write units"),
                ddb("ThrottledRequests", "throttled"),
                ddb("SystemErrors", "server errors"),
            ],
            s,
            x=third,
            y=y,
            w=third,
        ),
        _log_widget(
            "Relabels (results changed)",
            relabels,
            [s.function(topology.RECOGNIZER).log_group_name],
            s,
            x=2 * third,
            y=y,
            w=third,
        ),
    ]


def executions_widget(s: StackSettings, *, y: int) -> dict:
    """analysis timeline: the state machine's executions started, succeeded and failed."""
    name = state_machine.state_machine_name(s.name_prefix)
    metrics = '("ExecutionsStarted" OR "ExecutionsSucceeded" OR "ExecutionsFailed")'
    search = f"SEARCH('{{AWS/States,StateMachineArn}} MetricName={metrics} \"{name}\"', 'Sum', {s.alarm_period_s})"
    return _metric_widget(
        f"{name}: executions (one per video)", [[{"expression": search, "id": "executions"}]], s, x=0, y=y, w=WIDTH
    )
