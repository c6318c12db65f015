"""Who may use the local stack's endpoint: only the credentials the stack hands out, each for what
its IAM policy allows. Runs inside the moto server process (local/moto_process.py).

moto authenticates and authorizes a request (its "IAM-like access control") once
INITIAL_NO_AUTH_ACTION_COUNT requests have passed; here that count is 0 from the start, so no
request is let in unsigned, not even the stack's first. The administrator (the person and the
tools) is an IAM user created in moto's backend with the stack's fresh key; each function runs as
a session of its own execution role, made the way Lambda makes it (the service assumes the role),
so the role's policy, the one components/policies.py writes for `pulumi up`, decides what the
function may do. What moto does not enforce is listed in local/README.md (Credentials).

Fixed here, where moto's access control would refuse what IAM allows or let in what it refuses:
- requests without a SigV4 Authorization header (moto would fail with a 500) and moto's own API
  (/moto-api: reset, seed, its dashboard and data, switching authentication off) are refused with
  403 before moto sees them; a SigV4 presigned URL (which moto cannot check) is verified here
  (local/presigned.py) and handed to moto signed in its headers by the same identity;
- the resource of an action moto judges on "*" (DynamoDB, SNS, Step Functions, Logs, CloudWatch,
  an SQS queue it does not know) is the ARN the request names (local/resources.py), so a policy's
  resource scoping holds; where it cannot be told, a statement is judged by its action alone;
- Lambda: Invoke is authorized as IAM's `lambda:InvokeFunction` on the function's ARN (moto
  checks `lambda:Invoke` on "*", which no least-privilege policy grants);
- a policy's wildcards match as IAM's do (`*` and `?` only, over any character, newline included;
  moto reads the rest of a resource pattern as a regular expression);
- a signature is checked over the body as sent: moto took an empty body for the request's parsed
  parameters, so a signed DryRun Invoke or a GET with a query failed as SignatureDoesNotMatch.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from local import presigned, resources
from local.credentials import Credentials, fresh

ADMIN_USER = "local-admin"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# How the moto server tells the stack's Invoke handler (local/lambda_api.py) that it has
# authenticated and authorized an Invoke: a secret that only the two processes know.
INVOKE_TOKEN_HEADER = "X-Local-Invoke-Token"
_CLOSED_PATHS = ("/moto-api", "/latest/", "/favicon.ico")
_ACCOUNT_REGION = "us-east-1"  # IAM is global; moto keeps its users per account and partition


def patch_moto() -> None:
    """moto's access control on for every request (no key gets in until admit() makes one)."""
    from moto import settings

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # moto reads it per request
    _refuse_unsigned_requests()
    _lambda_as_iam_names_it()
    _resources_as_iam_names_them()
    _wildcards_as_iam_matches_them()
    _signatures_over_the_body_sent()


def admit(admin: Credentials) -> None:
    """`admin` as the one user, allowed everything."""
    _create_admin(admin)


def _iam() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    return iam_backends[DEFAULT_ACCOUNT_ID]["aws"]


def _create_admin(admin: Credentials) -> None:
    iam = _iam()
    iam.create_user(_ACCOUNT_REGION, ADMIN_USER)
    iam.put_user_policy(ADMIN_USER, "administrator", json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(ADMIN_USER)
    del iam.access_keys[key.access_key_id]  # moto's own key, from its seedable generator: replaced
    key.access_key_id, key.secret_access_key = admin.access_key_id, admin.secret_access_key
    iam.access_keys[key.access_key_id] = key


def assume_role(role_arn: str, session: str) -> Credentials:
    """A session of `role_arn`, as Lambda's service principal takes one for a function's
    environment (the role trusts lambda.amazonaws.com, not the administrator; so the stack asks
    here rather than through sts:AssumeRole). Its secret and token are made with `secrets`."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sts.models import sts_backends

    _iam().get_role_by_arn(role_arn)  # the role must exist: its policy is what the session may do
    sts = sts_backends[DEFAULT_ACCOUNT_ID]["aws"]
    role = sts.assume_role(_ACCOUNT_REGION, session, role_arn, "", 12 * 3600, "")
    secret = fresh().secret_access_key
    role.secret_access_key = role.access_key.secret_access_key = secret
    role.session_token = fresh().secret_access_key + fresh().secret_access_key
    return Credentials(role.access_key_id, secret, role.session_token)


def _secret_of(key_id: str, token: str | None) -> Any:
    """The botocore credentials of a key the stack made (the administrator's, or a role session's
    with its token), looked up as moto's own authenticator does; KeyError with S3's code if none."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

    try:
        key = create_access_key(DEFAULT_ACCOUNT_ID, "aws", key_id, {"X-Amz-Security-Token": token} if token else {})
    except CreateAccessKeyFailure as failure:
        raise KeyError("InvalidToken" if failure.reason == "InvalidToken" else "InvalidAccessKeyId") from None
    return key.create_credentials()


def _refuse(start_response: Any, code: str, message: str, status: str = "403 Forbidden") -> list[bytes]:
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>local</RequestId></ErrorResponse>"
    ).encode()
    start_response(
        status,
        [("Content-Type", "text/xml"), ("Content-Length", str(len(body))), ("x-amzn-ErrorType", code)],
    )
    return [body]


def _refuse_unsigned_requests() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    call = DomainDispatcherApplication.__call__
    if getattr(call, "refuses_unsigned", False):
        return

    def guarded(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(_CLOSED_PATHS):
            return _refuse(start_response, "AccessDenied", "moto's own API is closed on the local stack")
        kind = presigned.query_auth_kind(environ)
        if kind == "sigv4" and "HTTP_AUTHORIZATION" not in environ:
            try:
                presigned.as_header_signed(environ, *presigned.verify(environ, _secret_of))
            except presigned.Refused as refused:
                return _refuse(start_response, refused.code, refused.message, refused.status)
        elif kind == "sigv2":
            return _refuse(
                start_response,
                "AccessDenied",
                "the local stack accepts SigV4 presigned URLs only (a client with signature_version='s3v4')",
            )
        if not environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-HMAC-SHA256 "):
            return _refuse(
                start_response,
                "MissingAuthenticationToken",
                "Request is missing a SigV4 Authentication Token: the local stack lets in only the "
                "credentials it hands out (its outputs file)",
            )
        return call(self, environ, start_response)

    guarded.refuses_unsigned = True  # type: ignore[attr-defined]
    # Deliberate monkeypatching of moto's WSGI entry point, for the reason in the module docstring.
    DomainDispatcherApplication.__call__ = guarded  # type: ignore[method-assign]


_FUNCTION_PATH = re.compile(r"/[^/]+/functions/([^/]+)")
_INVOKE_ACTIONS = {"lambda:Invoke", "lambda:InvokeAsync"}


def _lambda_as_iam_names_it() -> None:
    from moto.awslambda.responses import LambdaResponse
    from moto.core.exceptions import JsonRESTError
    from moto.iam.access_control import IAMRequest

    class _LambdaAccessDenied(JsonRESTError):
        code = 403

        def __init__(self, message: str) -> None:
            super().__init__("AccessDeniedException", message)

    class LambdaIAMRequest(IAMRequest):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if self._action in _INVOKE_ACTIONS:
                self._action = "lambda:InvokeFunction"

        def _raise_access_denied(self) -> None:  # Lambda speaks JSON: AccessDeniedException, as on AWS
            raise _LambdaAccessDenied(
                f"User: {self._access_key.arn} is not authorized to perform: {self._action} on resource: "
                f"{self._resource}"
            )

        def check_action_permitted(self, resource: str) -> None:
            self._resource = resource
            super().check_action_permitted(resource)

    def determine_resource(self: Any) -> str:
        match = _FUNCTION_PATH.match(self.path)
        if match is None:
            return "*"
        name = unquote(match.group(1))
        if ":function:" in name:
            name = name.split(":function:", 1)[1]
        name = name.split(":", 1)[0]
        return f"arn:aws:lambda:{self.region}:{self.current_account}:function:{name}"

    def authorize(self: Any, resource: str = "*") -> None:
        self._authenticate_and_authorize_action(LambdaIAMRequest, resource)

    LambdaResponse._determine_resource = determine_resource  # type: ignore[attr-defined]
    LambdaResponse._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign]


# The resource of a request whose resource local/resources.py cannot tell: an Allow statement for
# the action matches whatever its Resource, a Deny only one whose Resource is "*".
UNDETERMINED = "local:undetermined-resource"


def _resources_as_iam_names_them() -> None:
    from moto.core.exceptions import AccessDeniedError, JsonRESTError
    from moto.core.responses import BaseResponse

    class _JsonAccessDenied(JsonRESTError):
        code = 403

        def __init__(self, message: str) -> None:
            super().__init__("AccessDeniedException", message)

    from moto.iam.access_control import IAMPolicyStatement, IAMRequest

    class ScopedIAMRequest(IAMRequest):
        def check_action_permitted(self, resource: str) -> None:
            self._resource = resource
            super().check_action_permitted(resource)

        def _raise_access_denied(self) -> None:  # in the protocol the service speaks, naming the resource
            scope = "" if self._resource in ("*", UNDETERMINED) else f" on resource: {self._resource}"
            if "x-amz-json" in str(self._headers.get("Content-Type", "")):
                message = f"User: {self._access_key.arn} is not authorized to perform: {self._action}{scope}"
                raise _JsonAccessDenied(message)
            raise AccessDeniedError(user_arn=self._access_key.arn, action=f"{self._action}{scope}")

    def authorize(self: Any, resource: str = "*") -> None:
        if resource != "*":  # moto determined it (an SQS queue it knows, an IAM role)
            self._authenticate_and_authorize_action(ScopedIAMRequest, resource)
            return
        credential = str(self.headers.get("Authorization", "")).partition("Credential=")[2].split("/")
        service = credential[3] if len(credential) > 3 else self.service_name
        found = resources.resources(
            f"{service}:{self._get_action()}",
            resources.params_of(self.querystring, getattr(self, "raw_body", None) or self.body),
            self.region,
            self.current_account,
        )
        for arn in found or [UNDETERMINED]:
            self._authenticate_and_authorize_action(ScopedIAMRequest, arn)

    judge = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self: Any, action: str, resource: str = "*", *args: Any, **kwargs: Any) -> Any:
        if resource == UNDETERMINED:
            statement = self._statement
            if statement.get("Effect") == "Allow" and statement.get("Resource"):
                return judge(IAMPolicyStatement({**statement, "Resource": "*"}), action, "*", *args, **kwargs)
            resource = "*"
        return judge(self, action, resource, *args, **kwargs)

    BaseResponse._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign]
    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]


def iam_pattern(pattern: str) -> re.Pattern[str]:
    """An IAM policy pattern as a regular expression: `*` any run of characters, `?` any one."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def _wildcards_as_iam_matches_them() -> None:
    from moto.iam.access_control import IAMPolicyStatement

    def match(pattern: str, string: str) -> re.Match[str] | None:
        return iam_pattern(pattern).fullmatch(string)

    IAMPolicyStatement._match = staticmethod(match)  # type: ignore[method-assign]


def _signatures_over_the_body_sent() -> None:
    from botocore.awsrequest import AWSRequest
    from moto.iam.access_control import IAMRequestBase

    def create_aws_request(self: Any) -> AWSRequest:
        authorization = self._headers["Authorization"]
        signed = self._get_string_between("SignedHeaders=", ",", authorization).split(";")
        headers = self._create_headers_for_aws_request(signed, self._headers)
        body: Any = self._body
        if not body:  # a form (the query protocol) arrives parsed into _data; anything else was empty
            form = "x-www-form-urlencoded" in str(self._headers.get("Content-Type", ""))
            body = self._data if form else b""
        request = AWSRequest(method=self._method, url=self._path, data=body, headers=headers)
        request.context["timestamp"] = headers["X-Amz-Date"]
        return request

    IAMRequestBase._create_aws_request = create_aws_request  # type: ignore[method-assign]
