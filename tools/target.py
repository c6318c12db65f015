"""Which stack a tool works on, AWS or local, and what it is made of: one way to address a stack.

A stack is its outputs' JSON (Pulumi's, or `local serve`'s), so every tool works unchanged on both.
Where the outputs come from, and why explicit flags win over the Pulumi CLI: tools/README.md, Which stack.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from components.library import OUTPUT_BUCKET as LIBRARY_BUCKET
from components.library import OUTPUT_TABLE, OUTPUT_TOPIC
from components.project import DEFAULT_STACK_FILE, PROJECT_DIR
from components.topology import ANALYSES, FIRST_FRAME, RECOGNIZER, SPLITTER

if TYPE_CHECKING:
    from botocore.client import BaseClient

# The stack outputs (__main__.py's pulumi.export names) the tools read.
ARCHITECTURE = "architecture"
ANALYSIS = "analysis"  # first-frame or timeline (a stack deployed before it existed has none: first-frame)
INPUT_BUCKET, STAGE1_BUCKET, OUTPUT_BUCKET = "inputBucket", "stage1Bucket", "outputBucket"
# By topology role: the Pulumi program names each output after the role (splitterFunctionName ...).
FUNCTION_NAMES = {SPLITTER: "splitterFunctionName", RECOGNIZER: "recognizerFunctionName"}
FUNCTION_ARNS = {SPLITTER: "splitterFunctionArn", RECOGNIZER: "recognizerFunctionArn"}
DEAD_LETTER_QUEUE_URLS = {SPLITTER: "splitterDeadLetterQueueUrl", RECOGNIZER: "recognizerDeadLetterQueueUrl"}
RECOGNIZER_IMAGE = "recognizerImageUri"
FACES_BUCKET = "facesBucket"  # only a stack whose face database is live has it (and facesEnrolPolicyArn)
ALARM_TOPIC = "alarmTopicArn"
DASHBOARD_URL = "dashboardUrl"
ENDPOINT_URL = "endpointUrl"  # only a local stack's outputs have it
# A local stack's outputs carry the credentials it accepts, so a tool needs nothing in its environment.
ACCESS_KEY_ID, SECRET_ACCESS_KEY = "accessKeyId", "secretAccessKey"
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # what `pulumi stack` accepts as a name (no organisation)
LIBRARY_OUTPUTS = (OUTPUT_TABLE, OUTPUT_TOPIC, LIBRARY_BUCKET)
PULUMI_OUTPUTS = (
    ARCHITECTURE,
    ANALYSIS,
    INPUT_BUCKET,
    STAGE1_BUCKET,
    OUTPUT_BUCKET,
    *FUNCTION_NAMES.values(),
    *FUNCTION_ARNS.values(),
    RECOGNIZER_IMAGE,
    *DEAD_LETTER_QUEUE_URLS.values(),
    ALARM_TOPIC,
    DASHBOARD_URL,
    *LIBRARY_OUTPUTS,  # the library's table, topic and bucket (tools/library_target.py reads them)
)

# Exit statuses every tool shares beyond 0 (passed) and 1 (failed): bad arguments or stack, an
# endpoint that cannot be reached, credentials missing or refused.
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_CREDENTIALS = 4


@dataclass(frozen=True)
class Buckets:
    input: str
    stage1: str
    output: str
    region: str | None = None
    faces: str | None = None  # the live face database's bucket (tools.enroll); not one grade checks

    def as_dict(self) -> dict:
        return {"input": self.input, "stage-1": self.stage1, "output": self.output}


class TargetError(ValueError):
    """The stack cannot be addressed as asked; the message says what is missing."""


@dataclass(frozen=True)
class Target:
    buckets: Buckets
    functions: dict[str, str]  # role (splitter, recognizer) → function name
    dead_letter_queues: dict[str, str | None] = field(default_factory=dict)  # role → URL (None: look it up)
    endpoint_url: str | None = None  # None: AWS, or whatever AWS_ENDPOINT_URL says
    source: str = ""  # where all this came from, for messages
    analysis: str = FIRST_FRAME  # what the stack makes of a video: which objects to expect
    profile: str | None = None  # an AWS CLI profile (--profile); None: the SDK's usual chain
    credentials: tuple[str, str] | None = None  # (key id, secret) a local stack's outputs carry

    @property
    def region(self) -> str | None:
        return self.buckets.region

    def client(self, service: str, *, attempts: int = 5) -> BaseClient:
        """A boto3 client for this stack: its endpoint and region, the SDK's usual credentials."""
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(profile_name=self.profile)
        key_id, secret = self.credentials or (None, None)
        return session.client(
            service,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=Config(
                retries={"mode": "standard", "max_attempts": attempts},
                max_pool_connections=32,
                connect_timeout=10,
            ),
        )


def add_analysis_argument(parser: argparse.ArgumentParser) -> None:
    """`--analysis`, which resolve_target() reads over what the stack's outputs or file say."""
    parser.add_argument(
        "--analysis",
        choices=ANALYSES,
        help="what the stack makes of a video (default: its outputs' or stack file's `analysis`)",
    )


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The "which stack" options every tool shares (tools/README.md, Which stack)."""
    g = parser.add_argument_group("which stack (AWS or local; tools/README.md, Which stack)")
    add_outputs_argument(g)
    g.add_argument(
        "--stack",
        default=None,
        help="a Pulumi stack name (its `pulumi stack output`, else Pulumi.<name>.yaml) or a stack file whose "
        "namePrefix names the buckets (default: `pulumi stack output` when a stack is selected, else Pulumi.dev.yaml)",
    )
    g.add_argument("--profile", help="the AWS CLI profile to use (default: the SDK's usual credentials)")
    g.add_argument("--name-prefix", help="bucket prefix: <prefix>-input, <prefix>-stage-1, <prefix>-output")
    g.add_argument("--input-bucket")
    g.add_argument("--stage1-bucket")
    g.add_argument("--output-bucket")
    g.add_argument("--faces-bucket", help="the live face database's bucket (default: <prefix>-faces)")
    g.add_argument(
        "--endpoint-url",
        help="S3 endpoint for a non-AWS stack, e.g. the local stack's (default: AWS, or $AWS_ENDPOINT_URL)",
    )
    g.add_argument("--region", help="AWS region (default: the stack file's aws:region, else your AWS config)")


def add_outputs_argument(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--outputs",
        type=Path,
        help="the stack's outputs as JSON: saved `pulumi stack output --json`, or what `python -m local serve` "
        "writes (out/local/outputs.json)",
    )


def read_outputs(path: Path) -> dict:
    try:
        outputs = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(f"--outputs {path}: not a readable JSON file of stack outputs ({exc})") from None
    missing = (
        [k for k in (INPUT_BUCKET, STAGE1_BUCKET, OUTPUT_BUCKET) if not outputs.get(k)]
        if isinstance(outputs, dict)
        else ["an object"]
    )
    if missing:
        raise TargetError(f"--outputs {path}: no {', '.join(missing)} in it; is it a stack's outputs?")
    return outputs


def pulumi_outputs(cwd: Path = PROJECT_DIR, stack: str | None = None) -> dict | None:
    """`pulumi stack output --json [-s STACK]` (the selected stack by default); None without the CLI
    or such a stack."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return None
    try:
        done = subprocess.run(
            [pulumi, "stack", "output", "--json", "--non-interactive", *(["--stack", stack] if stack else [])],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        outputs = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return outputs if isinstance(outputs, dict) and outputs.get(INPUT_BUCKET) else None


def default_function_name(role: str) -> str:
    """A function's name when nothing says otherwise: Pulumi.yaml's default (video-splitting ...)."""
    from components.settings import schema

    return str(schema()[f"{role}FunctionName"]["default"])


def from_outputs(outputs: dict, source: str) -> Target:
    arn = outputs.get(FUNCTION_ARNS[RECOGNIZER]) or outputs.get(FUNCTION_ARNS[SPLITTER]) or ""
    region = arn.split(":")[3] if arn.count(":") >= 6 else None  # arn:aws:lambda:REGION:ACCOUNT:function:NAME
    return Target(
        buckets=Buckets(
            outputs[INPUT_BUCKET], outputs[STAGE1_BUCKET], outputs[OUTPUT_BUCKET], region, outputs.get(FACES_BUCKET)
        ),
        functions={role: outputs.get(key) or default_function_name(role) for role, key in FUNCTION_NAMES.items()},
        dead_letter_queues={role: outputs.get(key) for role, key in DEAD_LETTER_QUEUE_URLS.items()},
        endpoint_url=outputs.get(ENDPOINT_URL),
        source=source,
        analysis=outputs.get(ANALYSIS) or FIRST_FRAME,
        credentials=(
            (str(outputs[ACCESS_KEY_ID]), str(outputs[SECRET_ACCESS_KEY]))
            if outputs.get(ACCESS_KEY_ID) and outputs.get(SECRET_ACCESS_KEY)
            else None
        ),
    )


def from_stack_file(stack_file: Path) -> Target:
    from components.settings import load_stack_file

    try:
        s = load_stack_file(stack_file, check_files=False)
    except OSError as exc:
        raise TargetError(f"stack file {stack_file}: {exc.strerror or exc}") from None
    return Target(
        buckets=Buckets(s.input_bucket, s.stage1_bucket, s.output_bucket, s.region, s.faces_bucket),
        functions={role: s.function(role).name for role in FUNCTION_NAMES},
        dead_letter_queues=dict.fromkeys(FUNCTION_NAMES),
        source=f"stack file {stack_file}",
        analysis=s.analysis,
    )


def stack_file_of(stack: str | Path, project_dir: Path = PROJECT_DIR) -> Path | None:
    """`--stack`'s stack file: the file it names, else a stack name's Pulumi.<name>.yaml; None if neither."""
    path = Path(stack)
    if path.is_file():
        return path
    if STACK_NAME.fullmatch(str(stack)) and (named := project_dir / f"Pulumi.{stack}.yaml").is_file():
        return named
    return None


def from_stack(stack: str | Path) -> Target:
    """`--stack`: a stack name (its `pulumi stack output -s NAME`, else Pulumi.<name>.yaml) or a stack file."""
    named = STACK_NAME.fullmatch(str(stack)) and not Path(stack).is_file()
    if named and (outputs := pulumi_outputs(stack=str(stack))) is not None:
        return from_outputs(outputs, f"pulumi stack output -s {stack}")
    stack_file = stack_file_of(stack)
    if stack_file is None:
        raise TargetError(f"--stack {stack}: neither a stack file nor a stack with a Pulumi.{stack}.yaml here")
    return from_stack_file(stack_file)


def resolve_target(args: argparse.Namespace) -> Target:
    """The stack the command line names (see the module's docstring for the order)."""
    buckets_given = args.name_prefix or (args.input_bucket and args.stage1_bucket and args.output_bucket)
    if getattr(args, "outputs", None):
        target = from_outputs(read_outputs(args.outputs), f"outputs {args.outputs}")
    elif args.stack is None and not buckets_given and (outputs := pulumi_outputs()) is not None:
        target = from_outputs(outputs, "pulumi stack output")
    else:
        target = from_stack(args.stack or DEFAULT_STACK_FILE)
    b = target.buckets
    prefix = args.name_prefix
    buckets = Buckets(
        input=args.input_bucket or (f"{prefix}-input" if prefix else b.input),
        stage1=args.stage1_bucket or (f"{prefix}-stage-1" if prefix else b.stage1),
        output=args.output_bucket or (f"{prefix}-output" if prefix else b.output),
        region=args.region or b.region,
        faces=getattr(args, "faces_bucket", None) or (f"{prefix}-faces" if prefix else b.faces),
    )
    endpoint = args.endpoint_url or (None if os.environ.get("AWS_ENDPOINT_URL") else target.endpoint_url)
    analysis = getattr(args, "analysis", None) or target.analysis
    return Target(
        buckets,
        target.functions,
        target.dead_letter_queues,
        endpoint,
        target.source,
        analysis,
        profile=getattr(args, "profile", None),
        credentials=target.credentials,
    )


def aws_failure(exc: BaseException, target: Target | None = None) -> tuple[str, int] | None:
    """One line naming what is missing, and the exit status, for the failures a user fixes outside
    the tool: an endpoint that does not answer, credentials missing or refused, a region unset, a
    bucket that is not there. None for anything else (a bug: let it show)."""
    from botocore import exceptions as bx

    where = (target.endpoint_url if target else None) or os.environ.get("AWS_ENDPOINT_URL") or "AWS"
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ConnectionClosedError):
        hint = " (is `python -m local serve` running?)" if where != "AWS" else ""
        return f"cannot reach {where}: {exc}{hint}", EXIT_UNREACHABLE
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        hint = (
            "; the local stack accepts any: export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local"
            if where != "AWS"
            else "; configure them as for the AWS CLI (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID/...)"
        )
        return f"no AWS credentials found{hint}", EXIT_CREDENTIALS
    if isinstance(exc, bx.NoRegionError):
        return "no AWS region: pass --region, set AWS_DEFAULT_REGION, or name a stack whose outputs say", EXIT_BAD_INPUT
    if isinstance(exc, bx.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in (
            "InvalidAccessKeyId",
            "InvalidClientTokenId",
            "UnrecognizedClientException",
            "SignatureDoesNotMatch",
            "ExpiredToken",
            "ExpiredTokenException",
        ):
            return f"{where} refused the credentials ({code}): {exc}", EXIT_CREDENTIALS
        if code == "NoSuchBucket" and target is not None:
            bucket = exc.response["Error"].get("BucketName") or target.buckets.input
            return f"bucket {bucket} not found at {where} ({target.source}): is this the stack meant?", EXIT_BAD_INPUT
    return None


def failure_status(prog: str, exc: BaseException, target: Target | None = None) -> int:
    """For a tool's `except`: say on stderr what the user must fix (aws_failure) and return its exit
    status; anything else is re-raised (a bug: let it show)."""
    failure = aws_failure(exc, target)
    if failure is None:
        raise exc
    print(f"{prog}: {failure[0]}", file=sys.stderr)
    return failure[1]


def preflight(target: Target) -> None:
    """Fail fast, before any waiting or uploading, when the endpoint cannot be reached or the
    credentials are missing or refused: one quick call. Any other answer (the bucket missing, or no
    permission to look at it) means the endpoint is there; the tool's own calls then say more."""
    from botocore.exceptions import ClientError

    try:
        target.client("s3", attempts=2).head_bucket(Bucket=target.buckets.input)
    except ClientError as exc:
        failure = aws_failure(exc)
        if failure is not None and failure[1] == EXIT_CREDENTIALS:
            raise
