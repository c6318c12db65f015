"""What `pulumi up` creates, made on the embedded stack's endpoint through the ordinary AWS APIs:
buckets, queues and S3's notifications, the library, the functions in Lambda's control plane, the
alarms and dashboard, the state machine, and each function's role session.

A start makes about fifty requests to one moto process: those that do not depend on each other
go at once (each chain below in order), so the start waits for the longest chain, not the sum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components import topology
from components.settings import StackSettings
from local import control_plane, library, step_functions
from local.credentials import Credentials

if TYPE_CHECKING:
    from botocore.client import BaseClient

# Enough for the widest step (13 alarms) without starving the chains that wait on each other.
_THREADS = 8


@dataclass
class Provisioned:
    """What the stack needs to know of what was made (the outputs a deployment exports, and more)."""

    account_id: str
    dead_letter_queues: dict[str, str] = field(default_factory=dict)  # role → queue URL
    event_queues: dict[str, str] = field(default_factory=dict)  # role → its S3 notifications' queue URL
    results_topic_arn: str = ""
    alarm_topic_arn: str = ""
    function_arns: dict[str, str] = field(default_factory=dict)  # role → ARN
    function_credentials: dict[str, Credentials] = field(default_factory=dict)  # role → its role's session
    state_machine_arn: str | None = None  # analysis timeline only


@dataclass(frozen=True)
class Request:
    """What to provision: the settings, their buckets and triggers, and what only the stack knows."""

    settings: StackSettings
    buckets: dict[str, str]  # topology role → bucket name
    plan: Sequence[topology.Trigger]
    # (function role, results topic ARN) → the function's environment as the Pulumi program gives it
    environment: Callable[[str, str], Mapping[str, str]]
    ffmpeg_path: str
    code_dir: Path


def provision(
    client: Callable[[str], Any], request: Request, assume_role: Callable[[str, str], Credentials]
) -> Provisioned:
    """Make every resource; `client(service)` reaches the endpoint, `assume_role(arn, session)`
    gives a role's session as Lambda's service principal takes one."""
    s = request.settings
    with ThreadPoolExecutor(_THREADS, thread_name_prefix="provision") as pool:
        account = pool.submit(lambda: str(client("sts").get_caller_identity()["Account"]))
        monitoring = pool.submit(control_plane.register_monitoring, client, s, each=pool.map)
        storage = pool.submit(_storage, client, request)  # → the results topic's ARN
        queues = pool.submit(create_queues, client("sqs"), s, request.plan)
        done = Provisioned(account.result())
        arns = control_plane.Arns(done.account_id, s.region)
        done.dead_letter_queues, done.event_queues = queues.result()
        notified = pool.submit(_notify_after, storage, client("s3"), request, arns)
        functions = {role: pool.submit(_register_after, storage, client, request, arns, role) for role in s.functions}
        done.function_arns = {role: future.result() for role, future in functions.items()}
        permitted = pool.submit(control_plane.permit_s3, client, s, arns)
        for role in s.functions:  # over the moto process's pipe, one at a time
            name = s.function(role).name
            done.function_credentials[role] = assume_role(arns.role(control_plane.role_name(name)), name)
        if s.timeline:
            done.state_machine_arn = create_state_machine(client, s, arns, done)
        done.results_topic_arn = storage.result()
        done.alarm_topic_arn = monitoring.result()
        for future in (notified, permitted):
            future.result()  # raises what failed
    return done


def _storage(client: Callable[[str], Any], request: Request) -> str:
    create_buckets(client("s3"), request.settings, request.buckets)
    return library.create(client, request.settings)


def _notify_after(storage: Future[str], s3: BaseClient, request: Request, arns: control_plane.Arns) -> None:
    storage.result()  # the buckets exist
    notify(s3, request.settings, request.plan, request.buckets, arns)


def _register_after(
    storage: Future[str], client: Callable[[str], Any], request: Request, arns: control_plane.Arns, role: str
) -> str:
    topic = storage.result()  # the recognizer's environment names the results topic
    return control_plane.register(
        client,
        request.settings,
        arns,
        role,
        environment=request.environment(role, topic),
        ffmpeg_path=request.ffmpeg_path,
        code_dir=request.code_dir,
    )


def create_buckets(s3: BaseClient, s: StackSettings, buckets: Mapping[str, str]) -> None:
    for bucket in buckets.values():
        kwargs = {} if s.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": s.region}}
        s3.create_bucket(Bucket=bucket, **kwargs)
    if s.live_database:
        version_faces_bucket(s3, s, buckets[topology.FACES])


def version_faces_bucket(s3: BaseClient, s: StackSettings, bucket: str) -> None:
    """The faces bucket as the Pulumi program makes it (components/buckets.py): versioned, old
    versions expiring after faceDatabaseHistoryDays. moto keeps the rule but never runs it."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-old-versions",
                    "Status": "Enabled",
                    "Filter": {},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": s.face_database_history_days},
                    "Expiration": {"ExpiredObjectDeleteMarker": True},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )


def create_queues(
    sqs: BaseClient, s: StackSettings, plan: Sequence[topology.Trigger]
) -> tuple[dict[str, str], dict[str, str]]:
    """Each function's dead-letter queue, and a queue for the S3 notifications of each function a
    bucket triggers (local/event_sources.py polls it); their URLs by role."""
    dead_letter_queues = {
        role: sqs.create_queue(QueueName=control_plane.dead_letter_queue_name(fs.name))["QueueUrl"]
        for role, fs in s.functions.items()
    }
    event_queues = {
        role: sqs.create_queue(QueueName=event_queue_name(s, role))["QueueUrl"]
        for role in dict.fromkeys(t.function for t in plan)
    }
    return dead_letter_queues, event_queues


def event_queue_name(s: StackSettings, role: str) -> str:
    return f"{s.function(role).name}-s3-events"


def notify(
    s3: BaseClient,
    s: StackSettings,
    plan: Sequence[topology.Trigger],
    buckets: Mapping[str, str],
    arns: control_plane.Arns,
) -> None:
    """Each bucket's notification configuration, rendered from the plan (components/topology.py)."""
    for bucket_role in dict.fromkeys(t.bucket for t in plan):
        mine = [t for t in plan if t.bucket == bucket_role]
        s3.put_bucket_notification_configuration(
            Bucket=buckets[bucket_role],
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "Id": f"{t.function}{suffix or '-all'}",
                        "QueueArn": arns.queue(event_queue_name(s, t.function)),
                        "Events": list(t.events),
                        **_suffix_filter(suffix),
                    }
                    for t in mine
                    for suffix in t.filters()
                ]
            },
        )


def _suffix_filter(suffix: str | None) -> dict:
    return {"Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}}} if suffix else {}


def create_state_machine(
    client: Callable[[str], Any], s: StackSettings, arns: control_plane.Arns, done: Provisioned
) -> str:
    """analysis timeline: the state machine, as the Pulumi program declares it (local/step_functions.py)."""
    splitter_dlq = control_plane.dead_letter_queue_name(s.function(topology.SPLITTER).name)
    return step_functions.create(
        client,
        s,
        function_arns=done.function_arns,
        dead_letter_queue_url=done.dead_letter_queues[topology.SPLITTER],
        dead_letter_queue_arn=arns.queue(splitter_dlq),
        account=arns.account,
    )
