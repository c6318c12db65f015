"""The GitHub workflows: preview on pull requests, up on main, both on stacks that exist, with
pinned actions and short-lived AWS credentials."""

from __future__ import annotations

import re

import pytest
import yaml

from components.project import PROJECT_DIR

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
STACKS = {p.name[len("Pulumi.") : -len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml")}


def load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads a bare `on` as True
    return doc


def steps(doc: dict) -> list[dict]:
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def pulumi_steps(doc: dict) -> list[dict]:
    return [s for s in steps(doc) if s.get("uses", "").startswith("pulumi/actions@")]


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_actions_are_pinned_and_no_long_lived_aws_keys(name):
    text = (WORKFLOWS / name).read_text()
    for s in steps(load(name)):
        uses = s.get("uses")
        if uses and not uses.startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*|[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses
    assert "AWS_SECRET_ACCESS_KEY" not in text and "aws-secret-access-key" not in text
    for s in steps(load(name)):
        if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
            assert s["with"]["role-to-assume"].startswith("${{ vars.")


def test_preview_runs_on_pull_requests_for_every_stack_and_comments():
    doc = load("preview.yml")
    assert "pull_request" in doc["on"]
    assert doc["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    preview_job = doc["jobs"]["preview"]
    assert set(preview_job["strategy"]["matrix"]["stack"]) == STACKS
    (step,) = pulumi_steps(doc)
    assert step["with"]["command"] == "preview"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["stack-name"].endswith("/${{ matrix.stack }}")
    assert step["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    # the tests (what .ci/run runs) gate the preview
    assert preview_job["needs"] == "test"
    assert any(s.get("run") == ".ci/run" for s in doc["jobs"]["test"]["steps"])


def test_up_runs_on_main_tests_then_dev_then_prod():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = dict(deploy["jobs"])
    # nothing is deployed that has not passed the README's test command
    assert any(s.get("run") == ".ci/run" for s in jobs.pop("test")["steps"])
    assert {j["with"]["stack"] for j in jobs.values()} == STACKS
    assert jobs["dev"]["needs"] == "test"
    assert jobs["prod"]["needs"] == "dev"
    stack = load("pulumi-up-stack.yml")
    (job,) = stack["jobs"].values()
    assert job["environment"] == "${{ inputs.stack }}"
    assert job["concurrency"]["cancel-in-progress"] is False
    (step,) = pulumi_steps(stack)
    assert step["with"]["command"] == "up"
    assert step["with"]["stack-name"].endswith("/${{ inputs.stack }}")


def test_cli_version_matches_the_pinned_sdk():
    pin = re.search(r"^pulumi==([\d.]+)$", (PROJECT_DIR / "requirements.txt").read_text(), re.M)
    assert pin is not None, "requirements.txt does not pin pulumi"
    sdk = pin.group(1)
    for name in ("preview.yml", "pulumi-up-stack.yml"):
        assert {s["with"]["pulumi-version"] for s in pulumi_steps(load(name))} == {sdk}


@pytest.mark.parametrize("name", ["preview.yml", "pulumi-up-stack.yml"])
def test_the_program_gets_its_dependencies_and_face_database_before_pulumi_runs(name):
    runs = [s.get("run", "") for s in steps(load(name))]
    uses = [s.get("uses", "") for s in steps(load(name))]
    install = next(i for i, r in enumerate(runs) if "pip install" in r and "requirements/lock/deploy.txt" in r)
    assert "--require-hashes -r requirements/lock/deploy.txt" in runs[install]  # tests/infra/test_locks.py
    assert "--no-deps -e ." in runs[install]  # the program imports the functions' key rules
    fetch = next(i for i, r in enumerate(runs) if "data/face_db.pt" in r)
    pulumi_at = next(i for i, u in enumerate(uses) if u.startswith("pulumi/actions@"))
    assert install < pulumi_at and fetch < pulumi_at
    assert ".venv" in runs[install]  # Pulumi.yaml's runtime uses .venv


def test_dependabot_watches_every_place_a_version_is_pinned():
    config = yaml.safe_load((PROJECT_DIR / ".github" / "dependabot.yml").read_text())
    watched = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert watched == {("pip", "/"), ("pip", "/requirements"), ("docker", "/docker"), ("github-actions", "/")}
    assert (PROJECT_DIR / "docker" / "recognizer.Dockerfile").is_file()  # Dependabot reads *Dockerfile* names


@pytest.mark.parametrize("name", ["preview.yml", "pulumi-up-stack.yml"])
def test_a_first_run_creates_the_stack_rather_than_failing(name):
    """pulumi/actions fails on a stack that does not exist unless `upsert` (its documented input) is set."""
    (step,) = pulumi_steps(load(name))
    assert step["with"]["upsert"] is True


def test_dependabot_pull_requests_skip_only_what_needs_secrets_or_oidc():
    """Dependabot's pull requests get no secrets and no OIDC token: the preview cannot run, the tests can."""
    doc = load("preview.yml")
    assert doc["jobs"]["preview"]["if"] == "github.actor != 'dependabot[bot]'"
    assert "if" not in doc["jobs"]["test"]
    for job in doc["jobs"].values():
        uses_secrets = "secrets." in yaml.safe_dump(job) or any(
            s.get("uses", "").startswith("aws-actions/configure-aws-credentials@") for s in job.get("steps", [])
        )
        assert not uses_secrets or "dependabot" in job.get("if", ""), job.get("name")


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_python_installs_are_cached_and_tests_take_torch_from_the_cpu_index(name):
    doc = load(name)
    for s in steps(doc):
        if s.get("uses", "").startswith("actions/setup-python@"):
            paths = s["with"]["cache-dependency-path"]
            assert s["with"]["cache"] == "pip" and "requirements/*.txt" in paths and "requirements/lock/*.txt" in paths
    test_job = doc["jobs"].get("test")
    if test_job is not None:  # `make setup` installs torch: the CPU build, the rest from the hash lock
        assert test_job["env"] == {"TORCH_INDEX": "https://download.pytorch.org/whl/cpu"}
        assert "TORCH_INDEX ?=" in (PROJECT_DIR / "Makefile").read_text()


def test_the_deploy_runs_preflight_before_pulumi_up():
    doc = load("pulumi-up-stack.yml")
    runs = [s.get("run", "") or s.get("uses", "") for s in steps(doc)]
    preflight = next(i for i, r in enumerate(runs) if "-m tools.preflight --stack" in r)
    up = next(i for i, r in enumerate(runs) if r.startswith("pulumi/actions@"))
    assert preflight < up
    install = next(r for r in runs if "pip install" in r and "requirements/lock/deploy.txt" in r)
    assert "--require-hashes" in install
    assert "\nboto3==" in (PROJECT_DIR / "requirements" / "lock" / "deploy.txt").read_text()  # preflight asks AWS
