"""mypy follows only the pulumi-aws modules pyproject.toml lists (the rest would cost 40 s a run):
every module the Pulumi program reaches through `aws.` must be one of them, or its inputs would
type as Any and a misspelt key would pass."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = [ROOT / "__main__.py", *sorted((ROOT / "components").glob("*.py"))]


def followed_patterns() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[str] = []
    for override in config["tool"]["mypy"]["overrides"]:
        if override.get("follow_imports") == "normal":
            modules = override["module"]
            found += [modules] if isinstance(modules, str) else modules
    return found


def is_followed(module: str, patterns: list[str]) -> bool:
    return any(module == p or (p.endswith(".*") and (module == p[:-2] or module.startswith(p[:-1]))) for p in patterns)


def aws_attributes(path: Path) -> set[str]:
    """The names a file reaches as `aws.NAME`, where it imports pulumi_aws as aws."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == "pulumi_aws"
    }
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
    }


def defining_module(name: str) -> str:
    module = f"pulumi_aws.{name}"
    if importlib.util.find_spec(module) is not None:
        return module
    return str(getattr(importlib.import_module("pulumi_aws"), name).__module__)


def test_every_pulumi_aws_module_the_program_uses_is_type_checked():
    patterns = followed_patterns()
    used = {defining_module(name) for path in PROGRAM for name in aws_attributes(path)}
    assert {"pulumi_aws.s3", "pulumi_aws.lambda_", "pulumi_aws.iam"} <= used  # the scan sees the program
    assert sorted(m for m in used if not is_followed(m, patterns)) == []


def test_the_check_notices_a_service_left_out():
    patterns = followed_patterns()
    assert is_followed("pulumi_aws.s3", patterns) and is_followed("pulumi_aws.s3._inputs", patterns)
    assert not is_followed("pulumi_aws.ec2", patterns)
    assert not is_followed("pulumi_aws.s3control", patterns)  # a prefix of a name is not the module
