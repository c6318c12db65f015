"""tools/preflight.py: every reason a first `pulumi up` would fail, found before it starts.

S3 and STS are moto's (a server on loopback; another account's bucket is made with credentials of a
role assumed into that account). Where moto lacks the API (Lambda's GetAccountSettings, IAM's
SimulatePrincipalPolicy) the real botocore client is fed, through botocore's Stubber, the responses
the AWS API references document, and the stub checks the request the tool sends.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber

from components.settings import derived_name_prefix, project_name
from tools import preflight as pf

REGION = "us-east-1"
MOTO_ACCOUNT = "123456789012"
CALLER = f"arn:aws:sts::{MOTO_ACCOUNT}:user/moto"  # what moto's GetCallerIdentity answers


def stack_file(folder: Path, name: str, **settings: str) -> Path:
    path = folder / f"Pulumi.{name}.yaml"
    lines = "".join(f'  video-face-pipeline:{k}: "{v}"\n' for k, v in settings.items())
    path.write_text(
        textwrap.dedent(
            f"""\
            config:
              aws:region: {REGION}
            """
        )
        + lines
    )
    return path


def account_settings(quota: int = 1000, unreserved: int = 1000) -> dict:
    """GetAccountSettings' response as the Lambda API reference documents it."""
    return {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": quota,
            "UnreservedConcurrentExecutions": unreserved,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
    }


def simulated(actions: list[str], denied: set[str]) -> dict:
    """SimulatePrincipalPolicy's response as the IAM API reference documents it."""
    return {
        "EvaluationResults": [
            {
                "EvalActionName": action,
                "EvalResourceName": "*",
                "EvalDecision": "implicitDeny" if action in denied else "allowed",
                "MatchedStatements": [],
                "MissingContextValues": [],
            }
            for action in actions
        ],
        "IsTruncated": False,
    }


class Account:
    """moto for S3 and STS; stubbed Lambda and IAM clients holding the documented responses."""

    def __init__(self, endpoint: str, *, quota: int = 1000, unreserved: int = 1000, denied: Collection[str] = ()):
        self.endpoint = endpoint
        self.lam = boto3.client("lambda", region_name=REGION)
        self.iam = boto3.client("iam", region_name=REGION)
        self.lambda_stub, self.iam_stub = Stubber(self.lam), Stubber(self.iam)
        self.lambda_stub.add_response("get_account_settings", account_settings(quota, unreserved), {})
        self.quota = quota
        actions = pf.deploy_actions()
        for start in range(0, len(actions), 50):
            chunk = actions[start : start + 50]
            self.iam_stub.add_response(
                "simulate_principal_policy",
                simulated(chunk, set(denied)),
                {"PolicySourceArn": CALLER, "ActionNames": chunk},
            )

    def reserved(self, *names: str) -> None:
        """The functions do not exist yet: GetFunctionConcurrency says so (a first deploy)."""
        for name in names:
            self.lambda_stub.add_client_error(
                "get_function_concurrency",
                service_error_code="ResourceNotFoundException",
                http_status_code=404,
                expected_params={"FunctionName": name},
            )

    def client(self) -> Callable[[str], Any]:
        def make(service: str) -> Any:
            if service == "lambda":
                return self.lam
            if service == "iam":
                return self.iam
            return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

        return make

    def run(self, path: Path) -> dict[str, pf.Verdict]:
        with self.lambda_stub, self.iam_stub:
            verdicts = pf.preflight(self.client(), path.name.split(".")[1], path)
            self.lambda_stub.assert_no_pending_responses()
            self.iam_stub.assert_no_pending_responses()
        return {v.check: v for v in verdicts}


def other_accounts_s3(endpoint: str, account: str = "222222222222") -> Any:
    sts = boto3.client("sts", region_name=REGION, endpoint_url=endpoint)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/someone", RoleSessionName="other")["Credentials"]
    theirs = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    assert theirs.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"] == account
    return theirs.client("s3", endpoint_url=endpoint)


GOOD = {"namePrefix": "vfp-pf", "alarmEmail": "oncall@team.io", "faceDatabase": "live"}


def test_a_good_account_passes(aws, tmp_path):
    account = Account(aws)
    verdicts = account.run(stack_file(tmp_path, "good", **GOOD))
    assert {k: v.status for k, v in verdicts.items()} == dict.fromkeys(verdicts, pf.OK)
    assert "4 of 4 free" in verdicts["bucket names"].detail  # input, stage-1, output, faces
    assert pf.exit_status(list(verdicts.values())) == 0


def test_a_bucket_name_another_account_holds_fails_and_ones_own_warns(aws, tmp_path):
    other_accounts_s3(aws).create_bucket(Bucket="vfp-pf-input")
    verdicts = Account(aws).run(stack_file(tmp_path, "taken", **GOOD))
    taken = verdicts["bucket names"]
    assert taken.status == pf.FAIL and "vfp-pf-input" in taken.detail and "namePrefix" in taken.fix
    assert pf.exit_status(list(verdicts.values())) == 1

    boto3.client("s3", region_name=REGION, endpoint_url=aws).create_bucket(Bucket="vfp-own-output")
    own = Account(aws).run(stack_file(tmp_path, "own", **{**GOOD, "namePrefix": "vfp-own"}))["bucket names"]
    assert own.status == pf.WARN and "vfp-own-output" in own.detail


def test_a_stack_without_a_name_prefix_is_checked_under_the_derived_one(aws, tmp_path):
    derived = derived_name_prefix(project_name(), "fresh", MOTO_ACCOUNT)
    other_accounts_s3(aws).create_bucket(Bucket=f"{derived}-stage-1")
    settings = {k: v for k, v in GOOD.items() if k != "namePrefix"}
    verdict = Account(aws).run(stack_file(tmp_path, "fresh", **settings))["bucket names"]
    assert verdict.status == pf.FAIL and f"{derived}-stage-1" in verdict.detail


def test_reserved_concurrency_over_a_new_accounts_quota_fails(aws, tmp_path):
    """A new account's quota is 10: prod's recognizerReservedConcurrency 10 would leave 0 of Lambda's 100."""
    account = Account(aws, quota=10, unreserved=10)
    account.reserved("prod-face-recognition")
    path = stack_file(tmp_path, "small", **GOOD, functionPrefix="prod-", recognizerReservedConcurrency="10")
    verdict = account.run(path)["concurrency"]
    assert verdict.status == pf.FAIL and "quota 10" in verdict.detail and "L-B99A9384" in verdict.fix

    roomy = Account(aws, quota=1000, unreserved=1000)
    roomy.reserved("prod-face-recognition")
    assert roomy.run(path)["concurrency"].status == pf.OK


def test_a_missing_permission_fails_naming_it(aws, tmp_path):
    """The deploy needs ecr:SetRepositoryPolicy (Lambda edits the repository's policy) and kms:PutKeyPolicy."""
    denied = {"ecr:SetRepositoryPolicy", "kms:PutKeyPolicy"}
    verdict = Account(aws, denied=denied).run(stack_file(tmp_path, "perm", **GOOD))["permissions"]
    assert verdict.status == pf.FAIL
    assert "ecr:SetRepositoryPolicy" in verdict.detail and "kms:PutKeyPolicy" in verdict.detail
    assert "deploy/deploy-role-policy.json" in verdict.fix


def test_alarms_without_a_real_subscriber_are_reported(aws, tmp_path):
    placeholder = Account(aws).run(stack_file(tmp_path, "ph", **{**GOOD, "alarmEmail": "ops@example.com"}))
    assert placeholder["alarm subscriber"].status == pf.FAIL
    nobody = Account(aws).run(stack_file(tmp_path, "nobody", **{k: v for k, v in GOOD.items() if k != "alarmEmail"}))
    assert nobody["alarm subscriber"].status == pf.WARN and "alarmEmail" in nobody["alarm subscriber"].fix


def test_the_deploy_needs_what_issue_24_found_missing():
    actions = pf.deploy_actions()
    assert {"ecr:SetRepositoryPolicy", "ecr:GetRepositoryPolicy", "kms:PutKeyPolicy"} <= set(actions)
    assert {"iam:SimulatePrincipalPolicy", "lambda:GetAccountSettings", "s3:ListAllMyBuckets"} <= set(actions)


def test_an_assumed_roles_session_is_simulated_as_its_role():
    arn = "arn:aws:sts::111122223333:assumed-role/deploy/pulumi-up-dev-42"
    assert pf.principal_arn(arn) == "arn:aws:iam::111122223333:role/deploy"
    assert pf.principal_arn("arn:aws:iam::111122223333:user/ci") == "arn:aws:iam::111122223333:user/ci"


def test_a_stack_that_is_not_there_exits_2(tmp_path, capsys):
    assert pf.main(["--stack", "no-such-stack"]) == 2
    assert "no-such-stack" in capsys.readouterr().err


def test_the_runtimes_are_checked():
    assert pf.check_runtimes().status == pf.OK
