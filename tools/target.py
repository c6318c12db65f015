"""Which stack a tool works on, AWS or local, and what it is made of: one way to address a stack.

A stack is what its outputs say, the JSON `pulumi stack output --json` prints (names and ARNs of
the buckets, functions and dead-letter queues, __main__.py's exports); `python -m local serve`
writes the same JSON for the local stack (plus `endpointUrl`, where it listens). Where they come
from, first found wins:

1. `--outputs FILE`: such a JSON file, saved from Pulumi or written by `local serve`;
2. `pulumi stack output --json`, when the Pulumi CLI is installed and a stack is selected here,
   and neither `--stack` nor bucket names were given;
3. the stack file (`--stack`, default Pulumi.dev.yaml): its namePrefix, function names and region,
   which are what the Pulumi program would deploy.

`--name-prefix` and the `--*-bucket` flags override the buckets, `--region` the region. The endpoint
is `--endpoint-url`, else the AWS_ENDPOINT_URL the SDK reads itself, else the outputs' `endpointUrl`
(a local stack's); credentials are always the SDK's usual ones.

Explicit flags win over the Pulumi CLI on purpose: `--outputs out/local/outputs.json` must grade the
local stack even on a machine where a Pulumi stack is selected.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from components.project import DEFAULT_STACK_FILE, PROJECT_DIR
from components.topology import FIRST_FRAME, LIBRARY, RECOGNIZER, SPLITTER
from tools.workload import Buckets

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
LIBRARY_BUCKET = "libraryBucket"  # face thumbnails and boxes (a stack deployed before it existed has none)
ALARM_TOPIC = "alarmTopicArn"
DASHBOARD_URL = "dashboardUrl"
ENDPOINT_URL = "endpointUrl"  # only a local stack's outputs have it
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
    LIBRARY_BUCKET,
)

# Exit statuses every tool shares beyond 0 (passed) and 1 (failed): bad arguments or stack, an
# endpoint that cannot be reached, credentials missing or refused.
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_CREDENTIALS = 4


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

    @property
    def region(self) -> str | None:
        return self.buckets.region

    def client(self, service: str, *, attempts: int = 5):
        """A boto3 client for this stack: its endpoint and region, the SDK's usual credentials."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=Config(
                retries={"mode": "standard", "max_attempts": attempts},
                max_pool_connections=32,
                connect_timeout=10,
            ),
        )


def add_outputs_argument(group) -> None:
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


def pulumi_outputs(cwd: Path = PROJECT_DIR) -> dict | None:
    """`pulumi stack output --json` of the selected stack; None without the CLI or a selected stack."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return None
    try:
        done = subprocess.run(
            [pulumi, "stack", "output", "--json", "--non-interactive"],
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
            outputs[INPUT_BUCKET],
            outputs[STAGE1_BUCKET],
            outputs[OUTPUT_BUCKET],
            region,
            outputs.get(FACES_BUCKET),
            outputs.get(LIBRARY_BUCKET),
        ),
        functions={role: outputs.get(key) or default_function_name(role) for role, key in FUNCTION_NAMES.items()},
        dead_letter_queues={role: outputs.get(key) for role, key in DEAD_LETTER_QUEUE_URLS.items()},
        endpoint_url=outputs.get(ENDPOINT_URL),
        source=source,
        analysis=outputs.get(ANALYSIS) or FIRST_FRAME,
    )


def from_stack_file(stack_file: Path) -> Target:
    from components.settings import load_stack_file

    try:
        s = load_stack_file(stack_file, check_files=False)
    except OSError as exc:
        raise TargetError(f"stack file {stack_file}: {exc.strerror or exc}") from None
    return Target(
        buckets=Buckets(s.input_bucket, s.stage1_bucket, s.output_bucket, s.region, s.faces_bucket, s.bucket(LIBRARY)),
        functions={role: s.function(role).name for role in FUNCTION_NAMES},
        dead_letter_queues={role: None for role in FUNCTION_NAMES},
        source=f"stack file {stack_file}",
        analysis=s.analysis,
    )


def resolve_target(args: argparse.Namespace) -> Target:
    """The stack the command line names (see the module's docstring for the order)."""
    buckets_given = args.name_prefix or (args.input_bucket and args.stage1_bucket and args.output_bucket)
    if getattr(args, "outputs", None):
        target = from_outputs(read_outputs(args.outputs), f"outputs {args.outputs}")
    elif args.stack is None and not buckets_given and (outputs := pulumi_outputs()) is not None:
        target = from_outputs(outputs, "pulumi stack output")
    else:
        target = from_stack_file(args.stack or DEFAULT_STACK_FILE)
    b = target.buckets
    prefix = args.name_prefix
    buckets = Buckets(
        input=args.input_bucket or (f"{prefix}-input" if prefix else b.input),
        stage1=args.stage1_bucket or (f"{prefix}-stage-1" if prefix else b.stage1),
        output=args.output_bucket or (f"{prefix}-output" if prefix else b.output),
        region=args.region or b.region,
        faces=getattr(args, "faces_bucket", None) or (f"{prefix}-faces" if prefix else b.faces),
        library=getattr(args, "library_bucket", None) or (f"{prefix}-{LIBRARY}" if prefix else b.library),
    )
    endpoint = args.endpoint_url or (None if os.environ.get("AWS_ENDPOINT_URL") else target.endpoint_url)
    analysis = getattr(args, "analysis", None) or target.analysis
    return Target(buckets, target.functions, target.dead_letter_queues, endpoint, target.source, analysis)


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
