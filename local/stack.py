"""The embedded stack: one moto server answering as the deployed stack's AWS would, both functions
as warm worker pools behind its Invoke, and the triggers between them, all made from the same
settings and topology as the Pulumi program. LocalStack composes the parts and owns their lifetime:

    with LocalStack(load_settings("Pulumi.dev.yaml", db="data/face_db.pt"), model_dir=...) as stack:
        s3 = stack.client("s3")
        s3.upload_file("clip.mp4", stack.settings.input_bucket, "clip.mp4")
        stack.wait_idle(60)

local/endpoint.py (the moto process), local/provision.py (what `pulumi up` creates),
local/runtime.py (each function's environments), local/event_sources.py (S3's notifications to
the functions, the dead-letter queues), local/metrics.py and local/logs.py (CloudWatch).

Only the credentials the stack hands out get in (local/access.py): fresh for each stack, an
administrator key for the caller (`admin`, in `client()`, `client_environment()` and `outputs()`),
and for each function a session of its role, whose policy moto enforces.

What differs from AWS, and why:
- Retries wait `retry_delay_s` × attempt instead of Lambda's one and two minutes.
- Memory is not enforced; the peak each environment used is measured and reported instead.
- Unreserved concurrency (-1) means `concurrency` workers (default 2), not the account's pool.
- Environments start on demand (cold starts), unless `provisioned`: then all of them initialise
  before start() returns, as with Lambda's provisioned concurrency; runs then measure throughput
  without the cold start.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components import topology
from components.project import FUNCTIONS_DIR
from components.settings import FunctionSettings, StackSettings, function_environment, load_stack_file, stack_buckets
from local import control_plane, endpoint, library, provision, step_functions
from local import credentials as keys
from local.endpoint import EndpointError, MotoEndpoint
from local.event_sources import DeadLetters, QueuePoller, describe_event
from local.lambda_api import LambdaApi
from local.logs import LogShipper
from local.metrics import MetricsPublisher
from local.procs import alive, start_time
from local.runtime import FunctionRuntime, FunctionSpec

if TYPE_CHECKING:
    from botocore.client import BaseClient

WORKDIR_PREFIX = "vfp-local-"  # each stack's work folder (its functions' /tmp) in the system's temp folder
OWNER_FILE = "owner"
DEFAULT_CONCURRENCY = 2
DUMMY_KEY = "local"  # what a child gets until it is given real ones; it can sign nothing anywhere
# Locale and search path are all a worker inherits; everything AWS-related is set explicitly.
_INHERITED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
# The per-service endpoint variables `serve` prints next to AWS_ENDPOINT_URL (the SDKs' names for
# the services the deployed stack offers a client), all naming the one endpoint.
CLIENT_SERVICES = ("S3", "SQS", "LAMBDA", "CLOUDWATCH", "CLOUDWATCH_LOGS", "IAM", "STS", "DYNAMODB", "SNS", "SFN")
# outputs() keys for the administrator's credentials (a local stack's outputs only)
ACCESS_KEY_ID, SECRET_ACCESS_KEY = "accessKeyId", "secretAccessKey"


_SESSION_LOCK = threading.Lock()  # a boto3 Session is not thread-safe; the clients it makes are


@functools.cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()


def _load_client_models(services: tuple[str, ...]) -> None:
    """Parse botocore's data for each service once, while the endpoint starts: the session caches
    it, so the stack's real clients are then made in a fraction of the time."""
    for service in services:
        with _SESSION_LOCK:
            _session().client(service, endpoint_url="http://127.0.0.1:9", region_name="us-east-1")


class StackError(RuntimeError):
    """The local stack could not start or was misconfigured; the message says which part."""


def load_settings(
    stack_file: Path, *, db: Path | None = None, architecture: str | None = None, analysis: str | None = None
) -> StackSettings:
    """The stack file's settings as `pulumi up` would see them, with the face database, wiring and
    analysis overridden when given (as `pulumi config set` would)."""
    overrides = {}
    if db is not None:  # a file, or `live`: the faces bucket (topology.LIVE_DATABASE)
        overrides["faceDatabase"] = (
            topology.LIVE_DATABASE if str(db) == topology.LIVE_DATABASE else str(Path(db).resolve())
        )
    if architecture is not None:
        overrides["architecture"] = architecture
    if analysis is not None:
        overrides["analysis"] = analysis
    return load_stack_file(Path(stack_file), overrides=overrides)


def effective_concurrency(function: FunctionSettings, requested: int | None) -> int:
    """How many environments a function gets: its reserved concurrency (at most `requested` when
    given), or `requested` (default 2) when unreserved."""
    if function.reserved_concurrency == 0:
        raise StackError(
            f"{function.name}: reserved concurrency 0 means the function may never run; "
            "set it to -1 (unreserved) or a positive number"
        )
    if requested is not None and requested < 1:
        raise StackError(f"concurrency {requested}: must be at least 1")
    if function.reserved_concurrency > 0:
        return min(function.reserved_concurrency, requested) if requested else function.reserved_concurrency
    return requested or DEFAULT_CONCURRENCY


class LocalStack:
    def __init__(
        self,
        settings: StackSettings,
        *,
        model_dir: Path,
        concurrency: int | None = None,
        log_dir: Path | None = None,
        retry_delay_s: float = 0.5,
        ffmpeg_path: str | None = None,
        code_dir: str = str(FUNCTIONS_DIR),
        provisioned: bool = False,
        log: Callable[[str], None] | None = None,
        metrics_interval_s: float = 2.0,
    ):
        self.settings = settings
        # The recognizer's exported graphs (tools/exported.py), checked against the settings at start()
        self.model_dir = Path(model_dir).resolve()
        self.requested_concurrency = concurrency
        self.retry_delay_s = retry_delay_s
        self.code_dir = code_dir
        self.provisioned = provisioned  # every environment initialised before start() returns
        self.log = log or (lambda line: print(f"[local] {line}", file=sys.stderr, flush=True))
        if ffmpeg_path is None:
            from tools.modelbuild.ffmpeg import ffmpeg_exe

            ffmpeg_path = ffmpeg_exe()
        self.ffmpeg_path = ffmpeg_path
        self._given_log_dir = Path(log_dir) if log_dir else None
        self.log_dir: Path | None = None
        self._workdir: Path | None = None
        self.plan = topology.triggers(settings.architecture, settings.analysis) + topology.database_triggers(
            settings.live_database
        )
        self.function_settings = dict(settings.functions)
        self.buckets = {role: settings.bucket(role) for role in stack_buckets(settings)}
        self.concurrency = {role: effective_concurrency(fs, concurrency) for role, fs in self.function_settings.items()}

        self.endpoint_url: str | None = None
        self.account_id: str | None = None  # what the endpoint's STS says, once started
        self.function_arns: dict[str, str] = {}  # role → ARN in the control plane
        self.alarm_topic_arn = ""  # the SNS topic the stack's alarms notify, once registered
        self.results_topic_arn = ""  # the library's results topic (local/library.py), once created
        self.state_machine_arn: str | None = None  # analysis timeline: the video's fan-out (local/step_functions.py)
        self.metrics_interval_s = metrics_interval_s
        self.metrics: MetricsPublisher | None = None
        self.logs: LogShipper | None = None
        self.moto_port: int | None = None
        self._moto: MotoEndpoint | None = None
        self.lambda_api: LambdaApi | None = None
        self.runtimes: dict[str, FunctionRuntime] = {}  # by role
        self.event_queues: dict[str, str] = {}  # role → queue URL
        self.dead_letter_queues: dict[str, str] = {}  # role → queue URL
        self._dead_letters: DeadLetters | None = None
        self._pollers: list[QueuePoller] = []
        self.interrupted: dict[str, list[dict]] = {}  # function → events stop() interrupted mid-invocation
        self.without_result: dict[str, str | None] = {}  # at stop(): upload → its dead-letter line, or None
        self._by_name: dict[str, FunctionRuntime] = {}  # what the Invoke handler serves, by function name
        self._started = False
        self._atexit: Callable[[], None] | None = None
        # Fresh for each stack: the only credentials its endpoint lets in (local/access.py).
        self.admin = keys.fresh()
        self._invoke_token = keys.token()
        self.function_credentials: dict[str, keys.Credentials] = {}  # role → a session of its execution role

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        if self._started:
            raise StackError("the local stack is already started")
        self._started = True
        ref = weakref.ref(self)

        def stop_at_exit() -> None:
            stack = ref()
            if stack is not None:
                stack.stop()

        self._atexit = stop_at_exit
        atexit.register(self._atexit)  # a script that forgets stop() still leaves nothing behind
        try:
            remove_stale_workdirs(Path(tempfile.gettempdir()), log=self.log)
            self._workdir = workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
            (workdir / OWNER_FILE).write_text(owner_stamp(os.getpid()), encoding="ascii")
            self.log_dir = log_dir = self._given_log_dir or workdir / "logs"
            log_dir.mkdir(parents=True, exist_ok=True)
            # The Invoke handler first: the moto server hands it every Invoke.
            self.lambda_api = LambdaApi(
                self._by_name,
                region=self.settings.region,
                log=self.log,
                credentials={self.admin.access_key_id: self.admin},
                invoke_token=self._invoke_token,
            )
            self.lambda_api.start()
            # While moto imports and builds its services: the models checked (ONNX Runtime lets go
            # of the interpreter lock meanwhile) and botocore's data parsed. moto listens only after.
            services = endpoint.services(self.settings.timeline)
            self._moto = MotoEndpoint(self._invoke_api.url, services)
            with ThreadPoolExecutor(1, thread_name_prefix="check") as checking:
                checked = checking.submit(self._check_recognizer_inputs)
                _load_client_models(services)
                checked.result()
            self._start_moto(log_dir)
            self._provision(workdir / "code")
            self._start_telemetry()
            self._start_functions(tmp_root=workdir / "tmp", log_dir=log_dir)
        except BaseException:
            self.stop()
            raise
        self.log(
            f"{self.settings.architecture} stack up: AWS endpoint {self.endpoint_url} "
            "(S3, SQS, Lambda, CloudWatch, Logs), "
            + ", ".join(f"{self.function_settings[r].name} ×{n}" for r, n in self.concurrency.items())
            + f"; logs in {self.log_dir}"
        )
        return self

    def stop(self) -> None:
        """Stop everything this stack started; safe to call twice, and after a failed start."""
        for poller in self._pollers:  # no new hand-off; a long poll in flight is not waited for
            poller.stop()
        self._pollers = []
        if self.lambda_api is not None:
            self.lambda_api.stop()
        self._stop_runtimes()
        self._account_for_uploads()
        for telemetry in (self.metrics, self.logs):  # the last data points and lines, while moto still answers
            if telemetry is not None:
                telemetry.stop()
        self.metrics = self.logs = None
        if self._moto is not None:
            self._moto.stop()  # at EOF the server process exits
            self._moto = None
        if self._workdir is not None:  # the functions' /tmp, and the logs unless log_dir was given
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None

    def _stop_runtimes(self) -> None:
        """Every function at once (each kills its busy workers), then what each interrupted or dropped."""
        if not self.runtimes:
            return
        with ThreadPoolExecutor(len(self.runtimes), thread_name_prefix="stop") as pool:
            ended = dict(zip(self.runtimes, pool.map(FunctionRuntime.stop, self.runtimes.values()), strict=True))
        for role, outcome in ended.items():
            self.interrupted.setdefault(self.function_name(role), []).extend(i.event for i in outcome["interrupted"])
            for what, invocations in outcome.items():
                if invocations:
                    self.log(
                        f"stopped {self.function_name(role)}: {what} {len(invocations)} invocation(s): "
                        + "; ".join(describe_event(i.event) for i in invocations)
                    )

    def _account_for_uploads(self) -> None:
        """Name every upload left without a result, while the endpoint still answers (after the
        workers stopped, so nothing changes under the count)."""
        if self._moto is None or self.endpoint_url is None or not self.runtimes:
            return
        from local import unfinished
        from tools.workload import Buckets

        s = self.settings
        records = [(f"{r['function']}-dlq", r) for r in self.dead_letters()]
        try:
            without = unfinished.uploads_without_result(
                self._s3, Buckets(s.input_bucket, s.stage1_bucket, s.output_bucket, s.region), records
            )
        except Exception as exc:  # the endpoint is gone: say so rather than hide the stop
            self.log(f"could not list the uploads left without a result: {exc}")
            return
        self.without_result = without
        if without:
            self.log("stopped with " + "\n".join(unfinished.describe(without)))

    # -- what callers use ------------------------------------------------------------------------

    @property
    def _moto_url(self) -> str:
        """The stack's AWS endpoint; there is one once start() has started the moto server."""
        if self.endpoint_url is None:
            raise StackError("the local stack is not started: no AWS endpoint yet")
        return self.endpoint_url

    @property
    def _invoke_api(self) -> LambdaApi:
        """The local Lambda Invoke API; there is one once start() has started the functions."""
        if self.lambda_api is None:
            raise StackError("the local stack is not started: no Lambda Invoke API yet")
        return self.lambda_api

    def client(self, service: str, *, attempts: int = 4, read_timeout_s: float = 60) -> BaseClient:
        """A boto3 client for this stack's endpoint (every service: S3, SQS, Lambda, CloudWatch, Logs ...)."""
        from botocore.config import Config

        with _SESSION_LOCK:  # one session: each new one would parse botocore's endpoint and service data again
            return _session().client(
                service,
                endpoint_url=self._moto_url,
                region_name=self.settings.region,
                aws_access_key_id=self.admin.access_key_id,
                aws_secret_access_key=self.admin.secret_access_key,
                config=Config(
                    retries={"mode": "standard", "max_attempts": attempts},
                    max_pool_connections=32,
                    read_timeout=read_timeout_s,
                ),
            )

    def client_environment(self) -> dict[str, str]:
        """Environment that points any AWS SDK or CLI at this stack: AWS_ENDPOINT_URL is enough; the
        per-service variables say the same, for a client that has one of them set already."""
        return {
            "AWS_ENDPOINT_URL": self._moto_url,
            **{f"AWS_ENDPOINT_URL_{service}": self._moto_url for service in CLIENT_SERVICES},
            **self.admin.environment(),
            "AWS_DEFAULT_REGION": self.settings.region,
        }

    def outputs(self) -> dict[str, str | None]:
        """What `pulumi stack output --json` prints for the deployed stack, for this one, plus
        `endpointUrl`: the JSON the tools read with `--outputs` (tools/target.py)."""
        from tools import target

        s, arns = self.settings, self._arns
        return {
            target.ARCHITECTURE: s.architecture,
            target.ANALYSIS: s.analysis,
            target.INPUT_BUCKET: s.input_bucket,
            target.STAGE1_BUCKET: s.stage1_bucket,
            target.OUTPUT_BUCKET: s.output_bucket,
            **{key: s.function(role).name for role, key in target.FUNCTION_NAMES.items()},
            **{key: self.function_arns[role] for role, key in target.FUNCTION_ARNS.items()},
            target.RECOGNIZER_IMAGE: control_plane.image_uri(s, topology.RECOGNIZER, arns),
            **{key: self.dead_letter_queues[role] for role, key in target.DEAD_LETTER_QUEUE_URLS.items()},
            target.ALARM_TOPIC: self.alarm_topic_arn,
            # The dashboard is in this stack's CloudWatch (get-dashboard); there is no console to link to.
            target.DASHBOARD_URL: None,
            target.ENDPOINT_URL: self._moto_url,
            # The administrator's credentials, the only ones the endpoint lets in besides the
            # functions' own (so `serve` writes its outputs file readable by its owner only).
            ACCESS_KEY_ID: self.admin.access_key_id,
            SECRET_ACCESS_KEY: self.admin.secret_access_key,
            # The program exports facesBucket (and the enrolment policy's ARN, which there is no local
            # IAM user to attach to) only when the database is live.
            **({target.FACES_BUCKET: s.faces_bucket} if s.live_database else {}),
            **library.outputs(s, self.results_topic_arn),
            # analysis timeline: the program exports the state machine's ARN (components/workflow.py)
            **({"stateMachineArn": self.state_machine_arn} if self.state_machine_arn else {}),
        }

    def flush_telemetry(self) -> None:
        """Send the metrics and log lines recorded so far now, rather than at the next interval."""
        for telemetry in (self.metrics, self.logs):
            if telemetry is not None:
                telemetry.flush()

    def function_name(self, role: str) -> str:
        return self.function_settings[role].name

    def answered(self) -> int:
        """Invocations every function has answered so far (see FunctionRuntime.answered)."""
        return sum(runtime.answered() for runtime in self.runtimes.values())

    def dead_letters(self) -> list[dict]:
        """Every record sent to a DLQ so far, each with the role that failed under "function"
        (timeline: also the state machine's, which it sends to the splitter's queue itself)."""
        records = self._dead_letters.records() if self._dead_letters is not None else []
        if self.state_machine_arn is not None:
            found = step_functions.dead_letters(self.read_dead_letter_queue(topology.SPLITTER))
            records += [{**r, "function": self.function_name(topology.SPLITTER)} for r in found]
        return records

    def read_dead_letter_queue(self, role: str) -> list[dict]:
        """The messages in a function's DLQ, read through SQS and left in place."""
        from tools.dead_letters import peek

        return peek(self._sqs, self.dead_letter_queues[role])

    def idle(self) -> bool:
        """Nothing queued, nothing running, no notification waiting: twice in a row, 50 ms apart."""
        for attempt in range(2):
            if attempt:
                time.sleep(0.05)
            if (
                any(not r.idle() for r in self.runtimes.values())
                or self._invoke_api.busy()
                or any(p.busy() for p in self._pollers)
            ):
                return False
            if self.state_machine_arn is not None and step_functions.running(
                self.client("stepfunctions"), self.state_machine_arn
            ):
                return False
            for url in self.event_queues.values():
                attrs = self._sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                if int(attrs["ApproximateNumberOfMessages"]) or int(attrs["ApproximateNumberOfMessagesNotVisible"]):
                    return False
        return True

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.1)
        return False

    def pids(self) -> list[int]:
        """The processes this stack runs: the moto server and every live worker."""
        moto = self._moto.pid if self._moto is not None else None
        pids = [moto] if moto is not None else []
        for runtime in self.runtimes.values():
            pids.extend(runtime.pids())
        return pids

    def ports(self) -> list[int]:
        api = self.lambda_api.port if self.lambda_api is not None and self.lambda_api.serving else None
        return [p for p in (self.moto_port, api) if p]

    def summary(self) -> dict:
        return {self.function_name(role): runtime.summary() for role, runtime in self.runtimes.items()}

    # -- start-up --------------------------------------------------------------------------------

    def _check_recognizer_inputs(self) -> None:
        """Load the face database and the models as the recognizer's init would, here, before anything
        starts: a file it would refuse stops the stack with its own message, instead of a stack that
        comes up and then dead-letters every upload after three init failures. A live database is
        not read here: the stack's faces bucket starts empty (tools.enroll fills it)."""
        from face_recognizer import service

        try:
            service.load(function_environment(topology.RECOGNIZER, self.settings, self.locations()))
        except service.StartupError as error:
            raise StackError(f"{self.settings.recognizer.name} would not start: {error}") from None

    def _start_moto(self, log_dir: Path) -> None:
        assert self._moto is not None  # start() spawned it
        try:
            self.endpoint_url = self._moto.open(self.admin, self._invoke_token, log_dir / "moto.log")
        except EndpointError as error:
            raise StackError(str(error)) from None
        self.moto_port = self._moto.port
        self._s3 = self.client("s3")
        self._sqs = self.client("sqs")

    def _provision(self, code_dir: Path) -> None:
        """Everything `pulumi up` creates (local/provision.py), and each function's role session."""
        assert self._moto is not None
        request = provision.Request(
            settings=self.settings,
            buckets=self.buckets,
            plan=self.plan,
            environment=self._function_environment,
            ffmpeg_path=self.ffmpeg_path,
            code_dir=code_dir,
        )
        try:
            done = provision.provision(functools.cache(self.client), request, self._moto.assume_role)
        except EndpointError as error:
            raise StackError(str(error)) from None
        self.account_id = done.account_id
        self.dead_letter_queues, self.event_queues = done.dead_letter_queues, done.event_queues
        self.results_topic_arn, self.alarm_topic_arn = done.results_topic_arn, done.alarm_topic_arn
        self.function_arns, self.function_credentials = done.function_arns, done.function_credentials
        self.state_machine_arn = done.state_machine_arn
        names = {role: self.function_name(role) for role in self.function_settings}
        self._dead_letters = DeadLetters(self._sqs, self.dead_letter_queues, names, self.log)

    @property
    def _arns(self) -> control_plane.Arns:
        if self.account_id is None:
            raise StackError("the local stack is not started: no account yet")
        return control_plane.Arns(self.account_id, self.settings.region)

    def _start_telemetry(self) -> None:
        """Where Lambda's metrics and the functions' log lines go: the endpoint's CloudWatch and Logs."""
        self.metrics = MetricsPublisher(self.client("cloudwatch"), interval_s=self.metrics_interval_s, log=self.log)
        # One quick attempt per send: the shipper retries with its own backoff, and a paused endpoint
        # must not hold its thread for botocore's minute.
        self.logs = LogShipper(self.client("logs", attempts=1, read_timeout_s=5), log=self.log)
        for role, url in self.dead_letter_queues.items():
            self.metrics.watch_queue(control_plane.dead_letter_queue_name(self.function_name(role)), url, self._sqs)
        self.metrics.start()
        self.logs.start()

    def _start_functions(self, *, tmp_root: Path, log_dir: Path) -> None:
        assert self.metrics is not None and self.logs is not None  # _start_telemetry() came first
        for role, fs in self.function_settings.items():
            spec = FunctionSpec(
                name=fs.name,
                handler=topology.FUNCTIONS[role].handler,
                env=self._environment(role, fs),
                memory_mb=fs.memory_mb,
                timeout_s=fs.timeout_s,
                concurrency=self.concurrency[role],
                max_retry_attempts=self.settings.max_retry_attempts,
                max_event_age_s=self.settings.max_event_age_s,
                code_dir=self.code_dir,
                log_file=log_dir / f"{fs.name}.log",
                tmp_root=tmp_root,
                account_id=self._arns.account,
                reserved=fs.reserved_concurrency > 0,
            )
            assert self._dead_letters is not None  # _provision() came first
            self.runtimes[role] = self._by_name[fs.name] = FunctionRuntime(
                spec,
                self._dead_letters.sender(role),
                retry_delay_s=self.retry_delay_s,
                log=self.log,
                provisioned=self.provisioned,
                metrics=self.metrics.function(fs.name),
                logs=self.logs.group(
                    control_plane.log_group_name(fs.name), retention_days=self.settings.log_retention_days
                ),
            )
        for runtime in self.runtimes.values():
            runtime.start()
        for runtime in self.runtimes.values() if self.provisioned else ():
            if not runtime.wait_provisioned(300):
                raise StackError(f"{runtime.spec.name}: environments did not initialise within 300 s")
        for role, url in self.event_queues.items():  # as Lambda's event source mapping
            poller = QueuePoller(
                self._sqs, url, self.runtimes[role].invoke_async, name=self.function_name(role), log=self.log
            )
            poller.start()
            self._pollers.append(poller)

    def locations(self) -> topology.Locations:
        """Where the functions find their files on this machine (on Lambda: the layer and the image)."""
        return topology.Locations(
            ffmpeg=self.ffmpeg_path, face_database=str(self.settings.face_database), models=str(self.model_dir)
        )

    def _environment(self, role: str, fs: FunctionSettings) -> dict[str, str]:
        s = self.settings
        function_env = self.function_environment(role)
        # The only local part: where S3 and Lambda are.
        env = sandbox_environment(
            s.region,
            AWS_ENDPOINT_URL_S3=self._moto_url,
            AWS_ENDPOINT_URL_LAMBDA=self._moto_url,
            AWS_ENDPOINT_URL_DYNAMODB=self._moto_url,
            AWS_ENDPOINT_URL_SNS=self._moto_url,
        )
        if s.timeline:  # the splitter starts the video's execution (and asks STS which account it is in)
            env.update(AWS_ENDPOINT_URL_SFN=self._moto_url, AWS_ENDPOINT_URL_STS=self._moto_url)
        env.update(self.function_credentials[role].environment())  # as Lambda gives the role's session
        env.update(
            {  # what Lambda sets for every function
                "AWS_LAMBDA_FUNCTION_NAME": fs.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fs.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "LAMBDA_TASK_ROOT": self.code_dir,
            }
        )
        env.update(function_env)
        return env

    def function_environment(self, role: str) -> dict[str, str]:
        """A function's environment as the Pulumi program gives it: topology's, and for the recognizer
        the results topic's ARN (which holds the account, so only the deployment knows it)."""
        return self._function_environment(role, self.results_topic_arn)

    def _function_environment(self, role: str, results_topic_arn: str) -> dict[str, str]:
        env = function_environment(role, self.settings, self.locations())
        if role == topology.RECOGNIZER:
            env[topology.RESULTS_TOPIC_VARIABLE] = results_topic_arn
        return env


def owner_stamp(pid: int) -> str:
    """What a stack writes into its work folder: its pid and that process's start time, so a later
    stack can tell a live owner from a dead one whose pid was reused."""
    return f"{pid} {start_time(pid)}\n"


def remove_stale_workdirs(root: Path, *, log: Callable[[str], None] = lambda _: None) -> list[Path]:
    """Remove the work folders (the functions' /tmp) of stacks that died without stop(), e.g. by
    `kill -9`: those whose owner process no longer exists. A folder without an owner file is left
    for a minute, in case its stack is just starting."""
    removed = []
    for folder in sorted(root.glob(WORKDIR_PREFIX + "*")):
        try:
            stamp = (folder / OWNER_FILE).read_text(encoding="ascii").split()
        except FileNotFoundError:
            stamp = None
        except OSError:
            continue
        if stamp:
            pid, started = int(stamp[0]), stamp[1] if len(stamp) > 1 else "None"
            if str(start_time(pid)) == started and alive(pid):
                continue
        else:
            try:
                if time.time() - folder.stat().st_mtime < 60:
                    continue
            except OSError:
                continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        log(
            f"removed {len(removed)} work folder(s) of stacks that ended without stopping: "
            + ", ".join(map(str, removed))
        )
    return removed


def sandbox_environment(region: str, **endpoints: str) -> dict[str, str]:
    """A child process's whole environment when it must reach only `endpoints` (variables such as
    AWS_ENDPOINT_URL_S3): this machine's PATH and locale, credentials good for nothing else, and no
    profile, config file or instance metadata through which a real account's settings could leak."""
    env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    env.update(endpoints)
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": DUMMY_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env
