"""Before `pulumi up`: every reason the first deploy of a stack would fail, each with its fix.

    python -m tools.preflight --stack dev [--profile P] [--region R]

Asks the account the credentials belong to (read-only calls): are the bucket names free or this
account's own, does the account's concurrency quota leave Lambda its 100 unreserved after the
stack's reserved concurrency, are the functions' runtimes supported, may this identity do every
action `pulumi up` needs (IAM's policy simulator, the actions of deploy/deploy-role-policy.json),
and does anyone hear of the alarms. One line per check: ok, warn or FAIL, and the fix. Exit 0 when
nothing fails, 1 when the deploy would fail, 2 for a bad stack, 4 for missing credentials.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from components import alarm_subscriber, runtimes, topology
from components.project import PROJECT_DIR
from components.settings import ConfigError, StackSettings, derived_name_prefix, load_stack_file, project_name
from pipeline_common.aws import error_code
from tools import cli
from tools.target import EXIT_BAD_INPUT, failure_status, stack_file_of

DEPLOY_POLICY = PROJECT_DIR / "deploy" / "deploy-role-policy.json"
DOCKERFILE = PROJECT_DIR / "docker" / "recognizer.Dockerfile"
MIN_UNRESERVED = 100  # Lambda keeps at least this much of the account's concurrency unreserved
CONCURRENCY_QUOTA = "L-B99A9384"  # Service Quotas: AWS Lambda, Concurrent executions
OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Verdict:
    check: str
    status: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        return [f"[{self.status:^4}] {self.check}: {self.detail}"] + ([f"       fix: {self.fix}"] if self.fix else [])


def deploy_actions(policy: Path = DEPLOY_POLICY) -> list[str]:
    """Every action the deploy role's policy allows: what `pulumi up` (and this check) calls."""
    document = json.loads(policy.read_text(encoding="utf-8"))
    actions: set[str] = set()
    for statement in document["Statement"]:
        if statement["Effect"] == "Allow":
            found = statement["Action"]
            actions.update([found] if isinstance(found, str) else found)
    return sorted(actions)


def principal_arn(caller_arn: str) -> str:
    """The IAM principal the simulator takes for a caller: an assumed role's session is its role."""
    if ":assumed-role/" in caller_arn:
        partition_service_account, _, rest = caller_arn.partition(":assumed-role/")
        account = partition_service_account.split(":")[4]
        partition = partition_service_account.split(":")[1]
        return f"arn:{partition}:iam::{account}:role/{rest.split('/')[0]}"
    return caller_arn


# -- the checks ------------------------------------------------------------------------------------


def check_buckets(s3: Any, settings: StackSettings) -> Verdict:
    """Free (HeadBucket: 404) or owned by this account (ListBuckets names it); anything else is taken."""
    names = [settings.bucket(role) for role in settings_bucket_roles(settings)]
    owned = {b["Name"] for page in s3.get_paginator("list_buckets").paginate() for b in page.get("Buckets", [])}
    taken, mine = [], []
    for name in names:
        if name in owned:
            mine.append(name)
            continue
        try:
            s3.head_bucket(Bucket=name)
            taken.append(name)  # it answers, and it is not ours
        except ClientError as exc:  # its code says which
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                taken.append(name)  # 403 or a redirect: another account's
    if taken:
        return Verdict(
            "bucket names",
            FAIL,
            f"{', '.join(taken)} belong to another AWS account (bucket names are global)",
            "remove namePrefix from the stack file (`pulumi config rm namePrefix`: the program then derives "
            "vfp-<stack>-<account id>) or set another one",
        )
    detail = f"{len(names) - len(mine)} of {len(names)} free" + (
        f", this account's own: {', '.join(mine)}" if mine else ""
    )
    fix = "" if not mine else "fine if this stack made them; otherwise `pulumi import` them or pick another namePrefix"
    return Verdict("bucket names", OK if not mine else WARN, detail, fix)


def settings_bucket_roles(settings: StackSettings) -> list[str]:
    return [topology.INPUT, topology.STAGE1, topology.OUTPUT] + ([topology.FACES] if settings.live_database else [])


def check_concurrency(lam: Any, settings: StackSettings) -> Verdict:
    """The stack's reserved concurrency against the account's quota (Lambda keeps 100 unreserved)."""
    wanted = {fs.name: fs.reserved_concurrency for fs in settings.functions.values() if fs.reserved_concurrency >= 0}
    limit = lam.get_account_settings()["AccountLimit"]
    quota, unreserved = limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]
    held = 0  # what these functions reserve already (a redeploy) comes back to the pool first
    for name in wanted:
        try:
            held += lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions", 0)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
    left = unreserved + held - sum(wanted.values())
    detail = f"account quota {quota}, unreserved {unreserved}; the stack reserves {sum(wanted.values())}"
    if left < MIN_UNRESERVED:
        most = max(0, unreserved + held - MIN_UNRESERVED)
        return Verdict(
            "concurrency",
            FAIL,
            f"{detail}, leaving {left} (Lambda keeps at least {MIN_UNRESERVED} unreserved)",
            f"request a higher quota (Service Quotas, AWS Lambda, Concurrent executions, {CONCURRENCY_QUOTA}) or "
            f"reserve at most {most} in all: `pulumi config set <role>ReservedConcurrency -1` unreserves a function",
        )
    return Verdict("concurrency", OK, f"{detail}, leaving {left}")


def check_runtimes() -> Verdict:
    used = {f"{topology.SPLITTER} (zip)": topology.ZIP_RUNTIME}
    used[f"{topology.RECOGNIZER} (image)"] = runtimes.image_python(DOCKERFILE.read_text(encoding="utf-8"))
    bad = {who: r for who, r in used.items() if not runtimes.supported(r)}
    detail = ", ".join(f"{who} {r}" for who, r in used.items())
    if bad:
        return Verdict(
            "runtimes",
            FAIL,
            f"{detail}: {', '.join(bad.values())} deprecated or within a year of it",
            "move to a supported runtime (components/topology.py ZIP_RUNTIME, the Dockerfile's base)",
        )
    return Verdict("runtimes", OK, f"{detail}: supported")


def check_permissions(iam: Any, caller_arn: str, actions: list[str]) -> Verdict:
    """IAM's policy simulator, for the caller's principal and every action the deploy needs."""
    if caller_arn.endswith(":root"):
        return Verdict("permissions", WARN, "the account's root user: allowed everything", "deploy with a role instead")
    principal = principal_arn(caller_arn)
    denied: list[str] = []
    try:
        for start in range(0, len(actions), 50):
            pages = iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=principal, ActionNames=actions[start : start + 50]
            )
            for page in pages:
                denied += [r["EvalActionName"] for r in page["EvaluationResults"] if r["EvalDecision"] != "allowed"]
    except ClientError as exc:
        if error_code(exc) not in ("AccessDenied", "AccessDeniedException", "NoSuchEntity"):
            raise
        return Verdict(
            "permissions",
            WARN,
            f"cannot simulate {principal}'s policies ({error_code(exc)})",
            f"allow it iam:SimulatePrincipalPolicy ({DEPLOY_POLICY.relative_to(PROJECT_DIR)} does)",
        )
    if denied:
        return Verdict(
            "permissions",
            FAIL,
            f"{principal} may not: {', '.join(sorted(denied))}",
            f"attach {DEPLOY_POLICY.relative_to(PROJECT_DIR)} to it (README, Deploy)",
        )
    return Verdict("permissions", OK, f"{principal} may do all {len(actions)} actions the deploy needs")


def check_alarm_subscriber(settings: StackSettings, stack: str) -> Verdict:
    try:
        warning = alarm_subscriber.no_subscriber_warning(settings, stack)
    except ConfigError as error:
        address = settings.alarm_email
        return Verdict("alarm subscriber", FAIL, f"{address} is a placeholder", str(error).split("; ", 1)[-1])
    if warning is not None:
        return Verdict(
            "alarm subscriber",
            WARN,
            "none: the alarms reach nobody",
            f"pulumi config set alarmEmail you@... -s {stack}",
        )
    return Verdict("alarm subscriber", OK, f"{settings.alarm_email} (AWS mails it a confirmation link first)")


# -- running them ----------------------------------------------------------------------------------


def preflight(client: Callable[[str], Any], stack: str, stack_file: Path) -> list[Verdict]:
    """Every check, against the account `client(service)` reaches."""
    identity = client("sts").get_caller_identity()
    account, caller = identity["Account"], identity["Arn"]
    settings = load_stack_file(
        stack_file, check_files=False, default_name_prefix=derived_name_prefix(project_name(), stack, account)
    )
    return [
        Verdict("identity", OK, f"{caller} in account {account}, region {settings.region}"),
        check_buckets(client("s3"), settings),
        check_concurrency(client("lambda"), settings),
        check_runtimes(),
        check_permissions(client("iam"), caller, deploy_actions()),
        check_alarm_subscriber(settings, stack),
    ]


def exit_status(verdicts: list[Verdict]) -> int:
    """1 when any check says the deploy would fail, else 0 (warnings do not stop a deploy)."""
    return 1 if any(v.status == FAIL for v in verdicts) else 0


def stack_region(stack_file: Path) -> str | None:
    import yaml

    with open(stack_file, encoding="utf-8") as fh:
        config = (yaml.safe_load(fh) or {}).get("config") or {}
    region = config.get("aws:region")
    return str(region) if region else None


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m tools.preflight", __doc__)
    parser.add_argument("--stack", required=True, help="the stack's name (Pulumi.<name>.yaml) or its stack file")
    parser.add_argument("--profile", help="the AWS CLI profile to use (default: the SDK's usual credentials)")
    parser.add_argument("--region", help="AWS region (default: the stack file's aws:region)")
    args = parser.parse_args(argv)
    stack_file = stack_file_of(args.stack)
    if stack_file is None:
        print(f"preflight: --stack {args.stack}: no such stack file or Pulumi.{args.stack}.yaml", file=sys.stderr)
        return EXIT_BAD_INPUT
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    import boto3

    try:
        region = args.region or stack_region(stack_file)
        session = boto3.session.Session(profile_name=args.profile, region_name=region)
        verdicts = preflight(session.client, stack, stack_file)
    except ConfigError as error:
        print(f"preflight: {stack_file}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # credentials, endpoint: one line, its exit status
        return failure_status("preflight", exc)
    for verdict in verdicts:
        print("\n".join(verdict.lines()))
    failed = [v.check for v in verdicts if v.status == FAIL]
    print(f"\n{'DEPLOY WOULD FAIL: ' + ', '.join(failed) if failed else 'ready for pulumi up'}")
    return exit_status(verdicts)


if __name__ == "__main__":
    sys.exit(main())
