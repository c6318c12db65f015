"""The stack's AWS endpoint: a moto server in a child process on a free loopback port, with Lambda's
Invoke handed to the stack's own function runtimes.

A process of its own gives moto its own interpreter lock and state; secrets come on stdin, never argv.
The protocol and each patch to moto, with why: docs/decisions/0004-local-lambda-emulation.md.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, SupportsFloat

from local import access
from local.credentials import Credentials
from local.endpoint import SERVICES
from local.procs import die_with_parent
from local.stats import percentile


def one_event_per_multipart_upload() -> None:
    """Make moto's S3 send one notification when a multipart upload completes, as S3 does.

    moto 5.2's complete_multipart_upload stores the object through put_object, which notifies
    `ObjectCreated:Put`, and then notifies `ObjectCreated:CompleteMultipartUpload` as well, so every
    upload of 8 MB or more (boto3's multipart threshold) would run the pipeline twice. Here the
    inner put_object is told not to notify while a completion runs on the same thread (moto serves
    each request on a thread of its own); the CompleteMultipartUpload event is the one S3 sends.
    """
    import threading

    from moto.s3.models import S3Backend

    completing = threading.local()
    complete, put = S3Backend.complete_multipart_upload, S3Backend.put_object

    def complete_multipart_upload(self: S3Backend, *args: Any, **kwargs: Any) -> Any:
        completing.active = True
        try:
            return complete(self, *args, **kwargs)
        finally:
            completing.active = False

    def put_object(self: S3Backend, *args: Any, **kwargs: Any) -> Any:
        if getattr(completing, "active", False):
            kwargs["disable_notification"] = True
        return put(self, *args, **kwargs)

    # Deliberate monkeypatching of moto's backend, for the reason above.
    S3Backend.complete_multipart_upload = complete_multipart_upload  # type: ignore[method-assign]
    S3Backend.put_object = put_object  # type: ignore[method-assign]


# What a client's Invoke request says that the stack's runtimes need (the rest is moto's business).
_INVOKE_HEADERS = ("X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context")
# What the runtimes' answer says that a Lambda client reads.
_ANSWER_HEADERS = (
    "content-type",
    "x-amz-function-error",
    "x-amz-executed-version",
    "x-amzn-requestid",
    "x-amzn-errortype",
)


def invoke_through(invoke_url: str, invoke_token: Callable[[], str]) -> None:
    """Answer Invoke (and the older InvokeAsync) by running the function on the stack's workers.

    moto's own Invoke would start the function in a Docker container. Here moto still resolves the
    function (a name, a partial or full ARN, a qualifier) and answers ResourceNotFoundException for
    one it does not know, as Lambda does; a known function's request goes on to the stack's Invoke
    handler (local/lambda_api.py, on loopback) and its answer comes back as it is: 202 for Event,
    200 with the result or X-Amz-Function-Error, 400/413 for a bad payload. So one endpoint serves
    every Lambda operation, and the Lambda control plane and Invoke agree on what exists. moto has
    authenticated and authorized the caller (lambda:InvokeFunction on that function) before this
    runs; the handler knows the request came from here by `invoke_token()` (the secret arrives on
    stdin after this patch is in place).
    """
    import urllib.error
    import urllib.request
    from urllib.parse import quote, unquote

    from moto.awslambda.responses import LambdaResponse

    def forward(
        self: LambdaResponse, name: str, invocation_type: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        qualifier = self.querystring.get("Qualifier", [None])[0]
        function = self.backend.get_function(name, qualifier)  # ResourceNotFoundException (404) when unknown
        body = self.body if isinstance(self.body, bytes) else (self.body or "").encode("utf-8")
        headers = {"Content-Type": "application/json", access.INVOKE_TOKEN_HEADER: invoke_token()}
        for header in _INVOKE_HEADERS:
            if self.headers.get(header):
                headers[header] = self.headers[header]
        if invocation_type:
            headers["X-Amz-Invocation-Type"] = invocation_type
        request = urllib.request.Request(
            f"{invoke_url}/2015-03-31/functions/{quote(function.function_name)}/invocations",
            data=body,
            headers=headers,
            method="POST",
        )
        try:
            answer = urllib.request.urlopen(request, timeout=None)  # as long as the function takes
        except urllib.error.HTTPError as error:  # 4xx/5xx: Lambda's error, passed on as it is
            answer = error
        with answer:
            payload = answer.read()
            reply = {k: v for k, v in answer.headers.items() if k.lower() in _ANSWER_HEADERS}
            reply["status"] = str(answer.status)  # moto takes the status code from here
        return answer.status, reply, payload

    def invoke(self: LambdaResponse) -> tuple[int, dict[str, str], bytes]:
        return forward(self, unquote(self.path.rsplit("/", 2)[-2]))

    def invoke_async(self: LambdaResponse) -> tuple[int, dict[str, str], str]:
        index = -3 if self.path.endswith("/") else -2
        status, headers, _ = forward(self, unquote(self.path.rsplit("/", 3)[index]), "Event")
        return status, headers, json.dumps({"Status": status})

    # Deliberate monkeypatching of moto's responses, for the reason above.
    LambdaResponse.invoke = invoke  # type: ignore[method-assign]
    LambdaResponse.invoke_async = invoke_async  # type: ignore[method-assign]


def logs_as_aws_filters_them() -> None:
    """FilterLogEvents as CloudWatch Logs answers it, where moto 5.2.5 does not:

    - events of all streams come interleaved by time (AWS ignores `interleaved` and always does so;
      moto gives one stream after another unless asked);
    - `logStreamNamePrefix` limits the streams (moto ignores it) and `logGroupIdentifier`, a
      group's name or ARN, may stand for `logGroupName`.
    """
    from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
    from moto.logs.responses import LogsResponse

    def filter_log_events(self: LogsResponse) -> str:
        group = self._get_param("logGroupName")
        identifier = self._get_param("logGroupIdentifier")
        if identifier and not group:  # arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*], or the name
            group = identifier.split(":log-group:", 1)[-1].removesuffix(":*")
        names = self._get_param("logStreamNames", [])
        prefix = self._get_param("logStreamNamePrefix")
        if names and prefix:
            raise InvalidParameterException(msg="logStreamNames and logStreamNamePrefix are mutually exclusive")
        if group not in self.logs_backend.groups:
            raise ResourceNotFoundException("The specified log group does not exist.")
        if prefix:
            names = [n for n in self.logs_backend.groups[group].streams if n.startswith(prefix)]
            if not names:
                return json.dumps({"events": [], "searchedLogStreams": []})
        events, next_token, searched = self.logs_backend.filter_log_events(
            group,
            names,
            self._get_param("startTime"),
            self._get_param("endTime"),
            self._get_param("limit"),
            self._get_param("nextToken"),
            self._get_param("filterPattern"),
            True,
        )
        return json.dumps({"events": events, "nextToken": next_token, "searchedLogStreams": searched})

    LogsResponse.filter_log_events = filter_log_events  # type: ignore[method-assign]


def percentiles() -> None:
    """CloudWatch's percentile statistics (p50, p99, p99.9 ...) over raw values, which moto 5.2.5
    does not compute (GetMetricData answered 500, GetMetricStatistics left ExtendedStatistics out).

    The local stack sends its metrics as raw values (local/metrics.py), so every percentile of a
    function's Duration is there to compute; a period holding only statistic sets has none, as on
    CloudWatch.
    """
    from moto.cloudwatch.models import Statistics
    from moto.cloudwatch.responses import CloudWatchResponse

    pattern = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)")
    get_statistic, get_metric_statistics = Statistics.get_statistics_for_type, CloudWatchResponse.get_metric_statistics

    def get_statistics_for_type(self: Statistics, stat: str) -> SupportsFloat | None:
        match = pattern.fullmatch(stat)
        if match is None or not self.metric_single_values_list:
            return get_statistic(self, stat)
        return percentile(self.metric_single_values_list, float(match.group(1)))

    def get_metric_statistics_with_percentiles(self: CloudWatchResponse) -> Any:
        result = get_metric_statistics(self)
        wanted = [p for p in self._get_param("ExtendedStatistics", []) or [] if pattern.fullmatch(p)]
        for datapoint in result.result["Datapoints"] if wanted else []:  # type: ignore[index]
            values = datapoint.metric_single_values_list
            if values:
                datapoint.extended_statistics = {p: percentile(values, float(p[1:])) for p in wanted}
        return result

    Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]
    CloudWatchResponse.get_metric_statistics = get_metric_statistics_with_percentiles  # type: ignore[method-assign]


def atomic_conditional_writes(stripes: int = 64) -> None:
    """Make moto's conditional writes atomic, as S3's are.

    moto 5.2's PutObject and DeleteObject compare If-Match / If-None-Match with the stored object
    and then write, on the request's own thread with nothing held in between: two writers that read
    the same version can both pass the check, and the second silently replaces the first (measured:
    8 writers with the same If-Match, two of them "won" in 2 of 5 rounds). S3 lets exactly one win
    and answers the others 412 (or 409), which is what tools.enroll relies on never to lose a
    concurrent enrolment. Here every write to a key (put, copy, delete) holds that key's lock from
    its check to its write, so exactly one wins here too.
    """
    import functools
    import threading

    from moto.s3.responses import S3Response

    if getattr(S3Response.put_object, "one_writer_per_key", False):
        return  # already made atomic in this process
    locks = [threading.Lock() for _ in range(stripes)]

    def one_writer_per_key(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)  # keeps moto's own as __wrapped__
        def write(self: S3Response, *args: Any, **kwargs: Any) -> Any:

            with locks[hash((self.bucket_name, self.parse_key_name())) % stripes]:
                return method(self, *args, **kwargs)

        write.one_writer_per_key = True  # type: ignore[attr-defined]
        return write

    # Deliberate monkeypatching of moto's request handlers, for the reason above.
    S3Response.put_object = one_writer_per_key(S3Response.put_object)  # type: ignore[method-assign]
    S3Response.copy_object = one_writer_per_key(S3Response.copy_object)  # type: ignore[method-assign]
    S3Response.delete_object = one_writer_per_key(S3Response.delete_object)  # type: ignore[method-assign]


def modules_listed_once() -> None:
    """moto's dispatcher asks `backends.list_of_moto_modules()` on every request, which lists moto's
    package folder and stats each entry (~150 system calls a request: 8-9 % of the server's time in
    a 100-video run, py-spy). The installed package does not change while the server runs."""
    import functools

    from moto import backends

    if not hasattr(backends.list_of_moto_modules, "cache_info"):
        listed = backends.list_of_moto_modules
        # Deliberate monkeypatching: the same answer, computed once (a tuple, so `in` works each time).
        backends.list_of_moto_modules = functools.cache(lambda: tuple(listed()))


def service_models_parsed_early(services: Sequence[str]) -> None:
    """moto parses botocore's model of a service on its first request, each time with a new loader
    that first scans botocore's and moto's package folders for every service there is (thousands
    of stat calls, ~60 ms) and then reads a large JSON file: most of the 1.2 s the stack's
    provisioning spent was these first requests (py-spy). One loader for the process, and the
    models of the stack's services parsed before the server listens, while the stack checks its
    own models."""
    import functools

    from moto.core import utils

    if not hasattr(utils.create_loader, "cache_info"):
        # Deliberate monkeypatching: one loader (its lookups cached on it) instead of one a model.
        utils.create_loader = functools.cache(utils.create_loader)
    for service in services:
        utils.get_service_model(service)


_MOTO_NAMES = {"lambda": "awslambda"}  # botocore's name → moto's, where they differ


def prepare(invoke_url: str, invoke_token: Callable[[], str], services: Sequence[str]) -> dict[str, Any]:
    """Everything that needs no secret: moto imported and patched, and the app of each of `services`
    built (after the patches: moto's routes hold the handlers they find), rather than on each
    service's first request. Returns the apps by service."""
    from moto.moto_server.werkzeug_app import create_backend_app

    access.patch_moto()
    one_event_per_multipart_upload()
    invoke_through(invoke_url, invoke_token)
    logs_as_aws_filters_them()
    percentiles()
    atomic_conditional_writes()
    modules_listed_once()
    # The dispatcher keys each app by moto's name for the service (Lambda's is "awslambda").
    names = [_MOTO_NAMES.get(service, service) for service in services]
    apps = {name: create_backend_app(name) for name in names}  # type: ignore[arg-type]
    service_models_parsed_early(services)
    return apps


def serve(apps: dict[str, Any]) -> tuple[str, int]:
    """moto's ThreadedMotoServer, with the apps already built; its host and port."""
    import threading

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    dispatcher = DomainDispatcherApplication(create_backend_app)
    dispatcher.app_instances.update(apps)  # any other service is built on its first request, as moto does
    server = make_server("127.0.0.1", 0, dispatcher, True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    host, port = server.server_address[:2]
    return str(host), port


def main() -> None:
    die_with_parent(int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stack decides when we stop
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    given: dict[str, Any] = {}
    services = sys.argv[3].split(",") if len(sys.argv) > 3 else SERVICES
    apps = prepare(sys.argv[2], lambda: given["invoke_token"], services)
    secrets = json.loads(sys.stdin.readline() or "null")  # nothing listens before they come
    if not secrets:
        os._exit(2)  # the stack stopped (or died) before handing us its secrets
    # A line a request was ~10 % of the server's CPU time: the log keeps warnings and errors.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if secrets.get("log"):  # from here on, what the server says goes to the run's moto.log
        os.dup2(os.open(secrets["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), 2)
    given.update(secrets)
    admin = Credentials.from_json(secrets["admin"])
    access.admit(admin)
    host, port = serve(apps)
    from local import step_functions

    step_functions.enable_in_server(port, admin)  # timeline stacks: moto runs the state machine, its tasks reach us
    sys.stdout.write(json.dumps({"host": host, "port": port}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:  # ends at EOF: the stack closed our stdin or is gone
        command = json.loads(line)
        session = access.assume_role(command["assume_role"], command["session"])
        sys.stdout.write(json.dumps(session.as_json()) + "\n")
        sys.stdout.flush()
    os._exit(0)  # the server thread holds no state worth a graceful shutdown


if __name__ == "__main__":
    main()
