"""Lambda's Invoke, for the stack's function runtimes, on loopback.

Clients reach it only through the moto server (local/moto_process.py), which hands it every Invoke,
so any client uses one endpoint; a request must carry the server's secret token or the admin's SigV4.
Status codes and headers: docs/decisions/0004-local-lambda-emulation.md.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from local.access import INVOKE_TOKEN_HEADER
from local.credentials import Credentials, same, verify_sigv4
from local.runtime import DEFAULT_ACCOUNT_ID, FunctionError, FunctionRuntime

PATH_PREFIX = "/2015-03-31/functions/"
PATH_SUFFIX = "/invocations"
MAX_SYNC_PAYLOAD = 6 * 2**20
MAX_ASYNC_PAYLOAD = 256 * 2**10


def function_name(identifier: str) -> str:
    """The bare name from a name, a partial or full ARN, with or without a qualifier."""
    if ":function:" in identifier:
        identifier = identifier.split(":function:", 1)[1]
    return identifier.split(":", 1)[0]


class LambdaApi:
    """A threaded HTTP server in front of the stack's function runtimes."""

    def __init__(
        self,
        functions: Mapping[str, FunctionRuntime],
        *,
        credentials: Mapping[str, Credentials],
        invoke_token: str | None = None,
        region: str = "us-east-1",
        log: Callable[[str], None] = lambda _: None,
    ):
        self.functions = functions
        self.credentials = dict(credentials)  # access key → credentials, for a SigV4-signed request
        self.invoke_token = invoke_token  # what the moto server's forwarded requests carry
        self.region = region
        self.log = log
        self._in_flight = 0
        self._lock = threading.Lock()
        self._serving: tuple[ThreadingHTTPServer, threading.Thread] | None = None  # between start() and stop()

    @property
    def _server(self) -> ThreadingHTTPServer:
        if self._serving is None:
            raise RuntimeError("the local Lambda API is not serving: start() it first")
        return self._serving[0]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        # typeshed allows bytes for other address families; an AF_INET server's host is a str.
        assert isinstance(host, str), host
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def serving(self) -> bool:
        return self._serving is not None

    def busy(self) -> bool:
        with self._lock:
            return self._in_flight > 0

    def start(self) -> None:
        api = self

        class Handler(_Handler):
            pass

        Handler.api = api
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        # shutdown() takes effect at the loop's next poll: a short one keeps the stack's stop prompt.
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="lambda-api", daemon=True)
        self._serving = (server, thread)
        thread.start()

    def stop(self) -> None:
        if self._serving is not None:
            server, thread = self._serving
            server.shutdown()
            server.server_close()  # shutdown() alone leaves the port bound
            thread.join(timeout=5)
            self._serving = None

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def authenticated(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> bool:
        """Forwarded by the moto server (its token), or signed with one of `credentials`."""
        if self.invoke_token is not None and same(headers.get(INVOKE_TOKEN_HEADER), self.invoke_token):
            return True
        signer = verify_sigv4(method=method, path=path, headers=headers, body=body, secret_of=self.credentials.get)
        return signer is not None


class _Handler(BaseHTTPRequestHandler):
    api: LambdaApi
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects
    server_version = "local-lambda"

    def log_message(self, format: str, *args: object) -> None:
        pass  # access lines would drown the function logs; errors are answered, not logged

    def do_POST(self) -> None:
        self.api._enter()
        try:
            self._invoke()
        finally:
            self.api._leave()

    def do_GET(self) -> None:
        body = self._drain()
        if not self.api.authenticated("GET", self.path, dict(self.headers.items()), body):
            self._refuse()
            return
        self._error(404, "UnknownOperationException", "only Invoke is served here")

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _refuse(self) -> None:
        self._error(
            403,
            "AccessDeniedException",
            "the local stack's Invoke port lets in only requests signed with the credentials the stack "
            "hands out (or forwarded by its endpoint)",
        )

    def _invoke(self) -> None:
        body = self._drain()
        if not self.api.authenticated("POST", self.path, dict(self.headers.items()), body):
            return self._refuse()
        path = urlsplit(self.path).path
        if not (path.startswith(PATH_PREFIX) and path.endswith(PATH_SUFFIX)):
            return self._error(404, "UnknownOperationException", f"no such operation: POST {path}")
        name = function_name(unquote(path[len(PATH_PREFIX) : -len(PATH_SUFFIX)]))
        runtime = self.api.functions.get(name)
        if runtime is None:
            arn = f"arn:aws:lambda:{self.api.region}:{DEFAULT_ACCOUNT_ID}:function:{name}"
            return self._error(404, "ResourceNotFoundException", f"Function not found: {arn}")
        kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if kind not in ("Event", "RequestResponse", "DryRun"):
            return self._error(
                400,
                "InvalidParameterValueException",
                f"X-Amz-Invocation-Type {kind!r} is not Event, RequestResponse or DryRun",
            )
        limit = MAX_ASYNC_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
        if len(body) > limit:
            return self._error(
                413,
                "RequestEntityTooLargeException",
                f"{len(body)} byte payload exceeds the {limit} byte limit for {kind}",
            )
        try:
            event = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, ValueError) as exc:
            return self._error(400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}")
        if kind == "DryRun":
            return self._reply(204, b"")
        if kind == "Event":
            request_id = runtime.invoke_async(event)
            return self._reply(202, b"", {"x-amzn-RequestId": request_id})
        try:
            result = runtime.invoke_sync(event)
        except FunctionError as exc:
            payload = json.dumps({"errorMessage": exc.message, "errorType": exc.error_type}).encode()
            return self._reply(200, payload, {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"})
        return self._reply(200, json.dumps(result).encode(), {"X-Amz-Executed-Version": "$LATEST"})

    def _error(self, status: int, error_type: str, message: str) -> None:
        payload = json.dumps({"Type": "User", "message": message}).encode()
        self._reply(status, payload, {"x-amzn-ErrorType": error_type})

    def _reply(self, status: int, payload: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)
