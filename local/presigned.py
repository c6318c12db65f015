"""Presigned S3 URLs (SigV4 query authentication), accepted as S3 accepts them: the signature is
checked with botocore's own signer against the key's secret, an expired or bad URL is refused with
S3's error codes, and a good one goes on to moto as the same request signed in its headers by the
same identity, so moto's authorizer applies that identity's policy (moto checks no query signature).
Runs inside the moto server process (local/access.py). The splitter reads a video through ffmpeg
over such a URL (functions/video_splitting/segments.py), as it does on AWS.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import UNSIGNED_PAYLOAD, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
QUERY_AUTH = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    }
)
_SIGV2_QUERY = frozenset({"AWSAccessKeyId", "Signature"})
MAX_EXPIRES = 7 * 24 * 3600  # S3's limit for a SigV4 presigned URL
_TIME = "%Y%m%dT%H%M%SZ"

# The key's secret (and session token) for an access key id and the token the URL carries;
# raises KeyError("InvalidAccessKeyId" or "InvalidToken") for a key or token the stack never made.
Lookup = Callable[[str, str | None], BotoCredentials]


@dataclass
class Refused(Exception):
    """Why a presigned URL is refused, as S3 answers it."""

    status: str
    code: str
    message: str


def _raw_uri(environ: dict[str, Any]) -> tuple[str, str]:
    """The path and query as they arrived (werkzeug's RAW_URI or REQUEST_URI), still encoded."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if not raw:
        return environ.get("PATH_INFO", "/") or "/", environ.get("QUERY_STRING", "")
    parts = urlsplit(raw) if "://" in raw.split("?", 1)[0] else None
    if parts is not None:
        return parts.path or "/", parts.query
    path, _, query = raw.partition("?")
    return path or "/", query


def query_auth_kind(environ: dict[str, Any]) -> str | None:
    """ "sigv4" for a SigV4 presigned URL, "sigv2" for the older query signature, else None."""
    names = {name for name, _ in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)}
    if names & {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"}:
        return "sigv4"
    if names >= _SIGV2_QUERY:
        return "sigv2"
    return None


def _signed_header(environ: dict[str, Any], name: str) -> str | None:
    if name == "host":
        return environ.get("HTTP_HOST")
    if name in ("content-type", "content-length"):
        return environ.get(name.upper().replace("-", "_"))
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def _check_time(auth: dict[str, str], now: dt.datetime) -> None:
    try:
        signed_at = dt.datetime.strptime(auth["X-Amz-Date"], _TIME).replace(tzinfo=dt.UTC)
        expires = int(auth["X-Amz-Expires"])
    except (KeyError, ValueError) as error:
        raise Refused("400 Bad Request", "AuthorizationQueryParametersError", f"bad query auth: {error}") from None
    if not 1 <= expires <= MAX_EXPIRES:
        raise Refused(
            "400 Bad Request",
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        )
    if now > signed_at + dt.timedelta(seconds=expires):
        raise Refused("403 Forbidden", "AccessDenied", "Request has expired")
    if signed_at - now > dt.timedelta(minutes=15):
        raise Refused("403 Forbidden", "AccessDenied", "Request is not valid yet")


def _parse(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    path, query = _raw_uri(environ)
    pairs = parse_qsl(query, keep_blank_values=True)
    auth = {name: value for name, value in pairs if name in QUERY_AUTH}
    missing = QUERY_AUTH - {"X-Amz-Security-Token"} - auth.keys()
    if missing or auth["X-Amz-Algorithm"] != ALGORITHM:
        raise Refused(
            "400 Bad Request",
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        )
    return path, pairs, auth


def _credentials(auth: dict[str, str], lookup: Lookup) -> tuple[BotoCredentials, str, str]:
    scope = auth["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or scope[1] != auth["X-Amz-Date"][:8]:
        raise Refused("400 Bad Request", "AuthorizationQueryParametersError", "bad X-Amz-Credential scope")
    key_id, _, region, service, _ = scope
    if service != "s3":
        raise Refused("403 Forbidden", "AccessDenied", "the local stack accepts presigned URLs for S3 only")
    try:
        credentials = lookup(key_id, auth.get("X-Amz-Security-Token"))
    except KeyError as error:
        code = str(error.args[0]) if error.args else "InvalidAccessKeyId"
        message = {
            "InvalidToken": "The provided token is malformed or otherwise invalid.",
        }.get(code, "The AWS Access Key Id you provided does not exist in our records.")
        raise Refused("403 Forbidden", code, message) from None
    return credentials, region, service


def verify(environ: dict[str, Any], lookup: Lookup, now: dt.datetime | None = None) -> tuple[BotoCredentials, str]:
    """Check a SigV4 presigned request; the signer's credentials and region, or Refused."""
    path, pairs, auth = _parse(environ)
    _check_time(auth, now or dt.datetime.now(dt.UTC))
    credentials, region, service = _credentials(auth, lookup)
    headers = {}
    for name in auth["X-Amz-SignedHeaders"].split(";"):
        value = _signed_header(environ, name)
        if value is None:
            raise Refused(
                "403 Forbidden",
                "AccessDenied",
                f"There were headers present in the request which were not signed: {name}",
            )
        headers[name] = value
    signer = S3SigV4QueryAuth(credentials, service, region)
    request = AWSRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        url=f"http://{headers.get('host', 'localhost')}{path}",
        headers=headers,
    )
    request.params = [(name, value) for name, value in pairs if name != "X-Amz-Signature"]
    request.context["timestamp"] = auth["X-Amz-Date"]
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, auth["X-Amz-Signature"]):
        raise Refused(
            "403 Forbidden",
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return credentials, region


def as_header_signed(environ: dict[str, Any], credentials: BotoCredentials, region: str) -> None:
    """Rewrite a verified presigned request in place: query auth parameters gone, the same request
    signed in its headers (UNSIGNED-PAYLOAD, as the URL was) by the same credentials."""
    path, query = _raw_uri(environ)
    kept = [part for part in query.split("&") if part and part.partition("=")[0] not in QUERY_AUTH]
    stripped = "&".join(kept)
    host = environ.get("HTTP_HOST", "localhost")
    request = AWSRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        url=f"http://{host}{path}" + (f"?{stripped}" if stripped else ""),
        headers={"Host": host, "X-Amz-Content-SHA256": UNSIGNED_PAYLOAD},
    )
    signer = S3SigV4Auth(credentials, "s3", region)
    signer.payload = lambda request: UNSIGNED_PAYLOAD  # as the URL was signed
    signer.add_auth(request)
    environ["QUERY_STRING"] = stripped
    for key in ("RAW_URI", "REQUEST_URI"):
        if environ.get(key):
            environ[key] = path + (f"?{stripped}" if stripped else "")
    for name, value in request.headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
