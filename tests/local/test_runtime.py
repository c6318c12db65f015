"""The emulated Lambda service (local/runtime.py) and its Invoke API (local/lambda_api.py), with
small handlers written for the purpose: real worker processes, real pipes, a real HTTP server and
boto3's own Lambda client, but no torch, so each case takes a fraction of a second."""

from __future__ import annotations

import json
import os
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local import credentials
from local.lambda_api import LambdaApi, function_name
from local.procs import alive
from local.runtime import FunctionError, FunctionRuntime, FunctionSpec

HANDLERS = """
import json, os, sys, time

LOADED_AT = time.time()  # module-level set-up: runs once per process (a cold start)

def echo(event, context):
    return {"event": event, "pid": os.getpid(), "loaded_at": LOADED_AT,
            "request_id": context.aws_request_id, "remaining_ms": context.get_remaining_time_in_millis(),
            "function_name": context.function_name, "sys_path0": sys.path[0],
            "env": {k: v for k, v in os.environ.items()}}

def fail(event, context):
    raise ValueError(f"cannot handle {event.get('key')!r}")

def sleep(event, context):
    time.sleep(event.get("seconds", 0))
    return {"pid": os.getpid(), "slept": event.get("seconds", 0)}

def crash(event, context):
    os._exit(3)

def unserialisable(event, context):
    return {"when": object()}

def litter(event, context):
    import tempfile
    folder = tempfile.gettempdir()
    before = sorted(os.listdir(folder))
    with open(os.path.join(folder, "half-written-download"), "wb") as fh:
        fh.write(b"x" * 1024)
    if event.get("crash"):
        os._exit(3)
    return {"found": before, "tmp": folder}
"""


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("code")
    (folder / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    (folder / "broken.py").write_text("raise RuntimeError('DATABASE_URL is not set')\n")
    return folder


def make(
    code_dir: Path,
    handler: str,
    *,
    concurrency: int = 1,
    timeout_s: int = 10,
    retries: int = 2,
    env: dict | None = None,
    max_age: int = 3600,
    start: bool = True,
    provisioned: bool = False,
    tmp_root: Path | None = None,
):
    failures: list[dict] = []
    spec = FunctionSpec(
        name=handler.replace(".", "-"),
        handler=handler,
        env={"PATH": os.environ["PATH"], "AWS_LAMBDA_FUNCTION_NAME": "fn", **(env or {})},
        memory_mb=128,
        timeout_s=timeout_s,
        concurrency=concurrency,
        max_retry_attempts=retries,
        max_event_age_s=max_age,
        code_dir=str(code_dir),
        tmp_root=tmp_root,
    )
    runtime = FunctionRuntime(spec, failures.append, retry_delay_s=0.05, provisioned=provisioned)
    if start:
        runtime.start()
    return runtime, failures


def wait_idle(runtime: FunctionRuntime, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not runtime.idle():
        assert time.monotonic() < deadline, "runtime did not become idle"
        time.sleep(0.02)


def test_a_worker_stays_warm_and_gets_only_the_environment_it_is_given(code_dir, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "someone-elses")  # must not leak into the function
    runtime, _ = make(code_dir, "handlers.echo", env={"STAGE1_BUCKET": "b"})
    try:
        answers = [runtime.invoke_sync({"n": i}) for i in range(3)]
    finally:
        runtime.stop()
    assert [a["event"] for a in answers] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len({a["pid"] for a in answers}) == 1 and len({a["loaded_at"] for a in answers}) == 1
    assert runtime.stats["cold_starts"] == 1 and runtime.stats["invocations"] == 3
    env = answers[0]["env"]
    assert env["STAGE1_BUCKET"] == "b" and env["AWS_LAMBDA_FUNCTION_NAME"] == "fn"
    assert "AWS_PROFILE" not in env
    assert answers[0]["sys_path0"] == str(code_dir)  # the task root first, as on Lambda
    assert 0 < answers[0]["remaining_ms"] <= 10_000
    assert len({a["request_id"] for a in answers}) == 3
    assert not alive(answers[0]["pid"])  # stop() ended the worker


def test_a_failing_asynchronous_event_is_retried_then_dead_lettered_like_lambda(code_dir):
    runtime, failures = make(code_dir, "handlers.fail", retries=2)
    try:
        event = {"key": "bad.mp4"}
        runtime.invoke_async(event)
        wait_idle(runtime)
    finally:
        runtime.stop()
    assert runtime.stats["invocations"] == 3 and runtime.stats["retries"] == 2
    assert len(failures) == 1
    record = failures[0]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == event
    assert record["responsePayload"] == {"errorType": "ValueError", "errorMessage": "cannot handle 'bad.mp4'"}
    assert record["requestContext"]["functionArn"].endswith(":function:handlers-fail:$LATEST")


def test_zero_retries_means_one_attempt(code_dir):
    runtime, failures = make(code_dir, "handlers.fail", retries=0)
    try:
        runtime.invoke_async({"key": "x"})
        wait_idle(runtime)
    finally:
        runtime.stop()
    assert runtime.stats["invocations"] == 1
    assert failures[0]["requestContext"]["approximateInvokeCount"] == 1


def test_a_synchronous_error_is_answered_not_retried(code_dir):
    runtime, failures = make(code_dir, "handlers.fail")
    try:
        with pytest.raises(FunctionError) as err:
            runtime.invoke_sync({"key": "k"})
    finally:
        runtime.stop()
    assert err.value.error_type == "ValueError" and runtime.stats["invocations"] == 1 and not failures


def test_a_timeout_kills_the_environment_and_the_next_invocation_is_a_cold_start(code_dir):
    runtime, _ = make(code_dir, "handlers.sleep", timeout_s=1)
    try:
        first = runtime.invoke_sync({"seconds": 0})
        with pytest.raises(FunctionError) as err:
            runtime.invoke_sync({"seconds": 5})
        after = runtime.invoke_sync({"seconds": 0})
    finally:
        runtime.stop()
    assert err.value.error_type == "Sandbox.Timedout"
    assert not alive(first["pid"]) and after["pid"] != first["pid"]
    assert runtime.stats["cold_starts"] == 2


def test_a_worker_that_dies_is_reported_and_replaced(code_dir):
    runtime, failures = make(code_dir, "handlers.crash", retries=1)
    try:
        runtime.invoke_async({})
        wait_idle(runtime)
    finally:
        runtime.stop()
    assert failures[0]["responsePayload"]["errorType"] == "Runtime.ExitError"
    assert "exit code 3" in failures[0]["responsePayload"]["errorMessage"]
    assert runtime.stats["cold_starts"] == 2  # one per attempt: a dead environment is not reused


def test_the_exit_code_of_a_dead_worker_is_read_after_it_is_reaped(code_dir):
    """The worker's pipe closes a moment before the kernel lets its parent reap it; reading the
    exit code at that moment gave 'exit code None' about 2 runs in 15 under load. Many deaths in a
    row, each reported with its real code."""
    runtime, failures = make(code_dir, "handlers.crash", retries=0)
    try:
        for _ in range(12):
            runtime.invoke_async({})
        wait_idle(runtime, 120)
    finally:
        runtime.stop()
    assert len(failures) == 12
    assert {f["responsePayload"]["errorMessage"] for f in failures} == {"the runtime exited (exit code 3)"}


def test_stop_is_prompt_and_says_what_it_interrupted(code_dir):
    """Lambda freezes an environment; it does not wait out an invocation. Stopping the stack
    during a 60 s invocation must not take a minute, and must say which one it cut short."""
    runtime, failures = make(code_dir, "handlers.sleep", timeout_s=120, concurrency=2)
    runtime.invoke_async({"seconds": 60, "key": "long"})
    runtime.invoke_async({"seconds": 60, "key": "queued-behind"})
    runtime.invoke_async({"seconds": 60, "key": "waiting"})  # two slots: this one never starts
    deadline = time.monotonic() + 60
    while len(runtime.pids()) < 2 or runtime.stats["invocations"] < 2:
        assert time.monotonic() < deadline, "the invocations did not start"
        time.sleep(0.05)
    pids = runtime.pids()
    started = time.monotonic()
    ended = runtime.stop()
    took = time.monotonic() - started
    assert took < 30, f"stop() took {took:.1f} s; it waited for the invocation"  # it would take ~60
    assert sorted(i.event["key"] for i in ended["interrupted"]) == ["long", "queued-behind"]
    assert [i.event["key"] for i in ended["dropped"]] == ["waiting"]
    assert not failures  # an interrupted invocation is not the function's failure: no DLQ record
    assert not [p for p in pids if alive(p)]
    assert runtime.stop() == {"interrupted": [], "dropped": []}  # twice is harmless


def test_a_replaced_environment_starts_with_an_empty_tmp(code_dir, tmp_path):
    runtime, _ = make(code_dir, "handlers.litter", retries=0, tmp_root=tmp_path)
    try:
        with pytest.raises(FunctionError, match="exit code 3"):
            runtime.invoke_sync({"crash": True})  # leaves a file in its /tmp, then dies
        first = runtime.invoke_sync({})  # a new environment in the same slot
        again = runtime.invoke_sync({})  # the same environment, warm: its /tmp persists
    finally:
        runtime.stop()
    assert first["found"] == []
    assert again["found"] == ["half-written-download"] and again["tmp"] == first["tmp"]


def test_an_init_failure_counts_as_a_failed_attempt(code_dir):
    runtime, failures = make(code_dir, "broken.handler", retries=2)
    try:
        runtime.invoke_async({"k": 1})
        wait_idle(runtime)
        with pytest.raises(FunctionError) as err:
            runtime.invoke_sync({})
    finally:
        runtime.stop()
    assert failures[0]["requestContext"]["approximateInvokeCount"] == 3
    assert failures[0]["responsePayload"] == {"errorType": "RuntimeError", "errorMessage": "DATABASE_URL is not set"}
    assert err.value.error_type == "RuntimeError" and runtime.stats["init_errors"] == 4


def test_a_result_that_is_not_json_is_a_marshal_error(code_dir):
    runtime, _ = make(code_dir, "handlers.unserialisable")
    try:
        with pytest.raises(FunctionError) as err:
            runtime.invoke_sync({})
    finally:
        runtime.stop()
    assert err.value.error_type == "Runtime.MarshalError"


def test_an_event_older_than_the_maximum_age_is_dead_lettered_unprocessed(code_dir):
    runtime, failures = make(code_dir, "handlers.echo", max_age=60, start=False)
    try:
        runtime.invoke_async({"old": True})
        runtime.pending.queue[0].received -= 61  # as if it had waited a minute behind other work
        runtime.start()
        wait_idle(runtime)
    finally:
        runtime.stop()
    assert runtime.stats["invocations"] == 0
    assert failures[0]["requestContext"]["condition"] == "EventAgeExceeded"


def test_concurrency_is_the_number_of_environments_and_never_more(code_dir):
    runtime, _ = make(code_dir, "handlers.sleep", concurrency=2)
    try:
        t0 = time.monotonic()
        for _ in range(6):
            runtime.invoke_async({"seconds": 0.4})
        wait_idle(runtime)
        elapsed = time.monotonic() - t0
        pids = runtime.pids()
    finally:
        runtime.stop()
    assert runtime.max_concurrency_seen == 2 and runtime.stats["cold_starts"] == 2
    assert len(pids) == 2 and runtime.stats["invocations"] == 6
    assert elapsed >= 1.2  # 6 × 0.4 s over 2 environments: never 3 at once
    assert not any(alive(p) for p in pids)


def test_provisioned_environments_initialise_before_any_work(code_dir):
    runtime, _ = make(code_dir, "handlers.echo", concurrency=2, provisioned=True)
    try:
        assert runtime.wait_provisioned(30)
        ready = set(runtime.pids())
        assert len(ready) == 2 and runtime.stats["cold_starts"] == 2 and runtime.stats["invocations"] == 0
        answers = [runtime.invoke_sync({}) for _ in range(4)]
    finally:
        runtime.stop()
    assert {a["pid"] for a in answers} <= ready and runtime.stats["cold_starts"] == 2


# -- Lambda's Invoke API, through boto3's own client ------------------------------------------------


@pytest.fixture
def lambda_api(code_dir):
    runtimes = {}
    for handler in ("handlers.echo", "handlers.fail"):
        runtime, failures = make(code_dir, handler, retries=1)
        runtimes[handler.split(".")[1]] = runtime
        runtime.failures = failures
    admin = credentials.fresh()
    api = LambdaApi(runtimes, credentials={admin.access_key_id: admin}, invoke_token="forwarded-by-moto")
    api.start()
    client = lambda_client(api.url, admin)
    yield api, runtimes, client
    api.stop()
    for runtime in runtimes.values():
        runtime.stop()


def lambda_client(url: str, creds: credentials.Credentials):
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(retries={"max_attempts": 1}),
    )


def test_the_invoke_port_refuses_whoever_does_not_hold_the_stacks_credentials(lambda_api):
    api, runtimes, client = lambda_api
    url = f"{api.url}/2015-03-31/functions/echo/invocations"
    naked = urllib.request.Request(url, data=b"{}", method="POST")  # issue 19: no headers at all
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(naked, timeout=10)
    assert refused.value.code == 403
    forged = urllib.request.Request(url, data=b"{}", method="POST", headers={"X-Local-Invoke-Token": "guess"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 403
    admin_key = api.credentials and next(iter(api.credentials))
    for stranger in (credentials.fresh(), credentials.Credentials(admin_key, "a-wrong-secret")):
        with pytest.raises(ClientError) as err:
            lambda_client(api.url, stranger).invoke(FunctionName="echo", Payload=b"{}")
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert runtimes["echo"].stats["invocations"] == 0  # nothing ran for any of them
    forwarded = urllib.request.Request(
        url, data=b"{}", method="POST", headers={"X-Local-Invoke-Token": "forwarded-by-moto"}
    )
    with urllib.request.urlopen(forwarded, timeout=30) as answer:
        assert answer.status == 200
    assert client.invoke(FunctionName="echo", Payload=b"{}")["StatusCode"] == 200


def test_request_response_returns_the_handlers_result(lambda_api):
    _, _, client = lambda_api
    response = client.invoke(FunctionName="echo", Payload=json.dumps({"bucket": "b", "key": "a b.jpg"}))
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert json.loads(response["Payload"].read())["event"] == {"bucket": "b", "key": "a b.jpg"}


def test_a_function_error_comes_back_as_lambda_reports_it(lambda_api):
    _, _, client = lambda_api
    response = client.invoke(
        FunctionName="arn:aws:lambda:us-east-1:123456789012:function:fail:$LATEST", Payload=b'{"key": "x.mp4"}'
    )
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorMessage": "cannot handle 'x.mp4'",
        "errorType": "ValueError",
    }


def test_an_event_invocation_is_accepted_then_runs_with_retries_and_dlq(lambda_api):
    _, runtimes, client = lambda_api
    response = client.invoke(FunctionName="fail", InvocationType="Event", Payload=b'{"key": "late.mp4"}')
    assert response["StatusCode"] == 202
    wait_idle(runtimes["fail"])
    assert runtimes["fail"].failures[0]["requestPayload"] == {"key": "late.mp4"}
    assert runtimes["fail"].failures[0]["requestContext"]["approximateInvokeCount"] == 2


def test_invoke_api_errors_are_the_ones_boto3_knows(lambda_api):
    api, _, client = lambda_api
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="nope", Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="echo", Payload=b"{not json")
    assert err.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert client.invoke(FunctionName="echo", InvocationType="DryRun")["StatusCode"] == 204
    deadline = time.monotonic() + 2  # the handler thread leaves just after its reply is written
    while api.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not api.busy()


def test_function_names_arns_and_qualifiers_resolve():
    assert function_name("face-recognition") == "face-recognition"
    assert function_name("arn:aws:lambda:us-east-1:123456789012:function:face-recognition:prod") == "face-recognition"
    assert function_name("123456789012:function:face-recognition") == "face-recognition"
