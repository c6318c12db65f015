"""The local stack's credentials: fresh random keys for each stack, and a SigV4 check of a request.

The stack lets in only what it hands out (local/README.md, Credentials): an administrator key
for the person and the tools (printed by `serve`, written to its outputs file), and one
assumed-role session per function, bearing that function's own policy. Keys are made here with
`secrets`, never by moto's seedable random generator, and AWS-shaped (AKIA..., 40-character
secret) so every SDK takes them.
"""

from __future__ import annotations

import hmac
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def environment(self) -> dict[str, str]:
        """As an SDK reads them from the environment (AWS_SESSION_TOKEN only for a session)."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    def as_json(self) -> dict[str, str]:
        return {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key} | (
            {"session_token": self.session_token} if self.session_token else {}
        )

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> Credentials:
        return cls(data["access_key_id"], data["secret_access_key"], data.get("session_token"))


def fresh() -> Credentials:
    """A new random access key (AKIA + 16) and secret (40 characters), as IAM shapes them."""
    key = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    return Credentials(key, "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)))


def token() -> str:
    return secrets.token_urlsafe(32)


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a secret someone presented with the one expected."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _between(text: str, start: str, end: str) -> str:
    return text.partition(start)[2].partition(end)[0]


def verify_sigv4(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_of: Callable[[str], Credentials | None],
) -> str | None:
    """The access key that signed this request, when its SigV4 signature is right for the
    credentials `secret_of(key)` returns; None for an unsigned, unknown or badly signed request.

    `path` is the request line's path with its query; the signed headers are checked as sent
    (Host included), as moto checks a request to the endpoint (moto.iam.access_control)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    lowered = {k.lower(): v for k, v in headers.items()}
    authorization = lowered.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 ") or "x-amz-date" not in lowered:
        return None
    scope = _between(authorization, "Credential=", ",").split("/")
    if len(scope) != 5:
        return None
    access_key, _, region, service, _ = scope
    known = secret_of(access_key)
    if known is None or (known.session_token or None) != (lowered.get("x-amz-security-token") or None):
        return None
    signed = _between(authorization, "SignedHeaders=", ",").split(";")
    request = AWSRequest(method=method, url=path, data=body, headers={h: lowered[h] for h in signed if h in lowered})
    request.context["timestamp"] = lowered["x-amz-date"]
    signer = BotoCredentials(known.access_key_id, known.secret_access_key, known.session_token)
    auth = SigV4Auth(signer, service, region)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    given = authorization.partition("Signature=")[2].split(",")[0].strip()
    return access_key if same(given, expected) else None
