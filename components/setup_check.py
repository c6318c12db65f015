"""Started without the venv? Say how to get it, in one line, rather than a ModuleNotFoundError for
`pipeline_common` deep in a traceback (issue 19). Standard library only: it runs before anything
`make setup` installs. The entry packages (local, tools, bench) call it first."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# What `make setup` installs into .venv (the project itself, editable, and what every entry needs).
REQUIRED = ("pipeline_common", "yaml", "boto3")
PROJECT_DIR = Path(__file__).resolve().parent.parent


def hint(missing: str) -> str:
    venv = PROJECT_DIR / ".venv"
    how = (
        f"`source {venv}/bin/activate` (or run {venv}/bin/python)"
        if (venv / "bin" / "python").exists()
        else f"`make setup` in {PROJECT_DIR}, then `source .venv/bin/activate`"
    )
    return f"No module named {missing!r}: this runs in the project's venv: {how}"


def require_setup(package: str) -> None:
    """Stop a `python -m {package}...` started outside the venv with one line saying how; a plain
    import (a library user) gets a ModuleNotFoundError carrying the same hint."""
    missing = next((name for name in REQUIRED if importlib.util.find_spec(name) is None), None)
    if missing is None:
        return
    argv = getattr(sys, "orig_argv", [])
    if "-m" in argv[:-1]:  # `python -m local ...`: the program's name is the module's
        print(f"{argv[argv.index('-m') + 1]}: {hint(missing)}", file=sys.stderr)
        raise SystemExit(2)
    raise ModuleNotFoundError(hint(missing), name=missing)
