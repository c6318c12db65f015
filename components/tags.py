"""Cost-allocation tags: every resource AWS bills carries `project`, `stack` and `owner`.

They are the AWS provider's default tags, set in each stack file (`aws:defaultTags`), so the
provider adds them to every resource that takes tags and nothing can be created without them; the
program refuses a stack whose file does not set all three (or names another project or stack).
Activate them once as cost allocation tags in the Billing console to see costs by stack and owner.

Plain Python: the program reads the provider's config and calls `check`; tests read the stack files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components.settings import ConfigError

CONFIG_KEY = "aws:defaultTags"
PROJECT, STACK, OWNER = "project", "stack", "owner"
REQUIRED = (PROJECT, STACK, OWNER)


def expected(project: str, stack: str) -> dict[str, str]:
    """The tags whose values the stack decides (the owner is the user's)."""
    return {PROJECT: project, STACK: stack}


def check(value: Any, *, project: str, stack: str) -> dict[str, str]:
    """The default tags from the provider's `aws:defaultTags` config (an object, or its JSON text);
    ConfigError naming what is missing or wrong and how to set it."""
    how = (
        f"set them in Pulumi.{stack}.yaml under {CONFIG_KEY}: tags: ({PROJECT}: {project}, {STACK}: {stack}, "
        f"{OWNER}: <you or your team>), or `pulumi config set --path '{CONFIG_KEY}.tags.{OWNER}' <owner>`"
    )
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(f"{CONFIG_KEY}: not an object ({value[:60]!r}); {how}") from None
    tags = value.get("tags") if isinstance(value, Mapping) else None
    if not isinstance(tags, Mapping):
        raise ConfigError(f"{CONFIG_KEY}: no tags, so resources would be created without cost-allocation tags; {how}")
    missing = [key for key in REQUIRED if not str(tags.get(key) or "").strip()]
    if missing:
        raise ConfigError(f"{CONFIG_KEY}: tags {', '.join(missing)} missing or empty; {how}")
    wrong = [f"{k} is {tags[k]!r}, not {v!r}" for k, v in expected(project, stack).items() if tags[k] != v]
    if wrong:
        raise ConfigError(f"{CONFIG_KEY}: {'; '.join(wrong)} (a stack file copied from another?); {how}")
    return {str(k): str(v) for k, v in tags.items()}
