"""Commands a user runs against any stack, deployed or local: enroll, workload, grade."""
from __future__ import annotations

import sys
from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"


def use_function_code() -> None:
    """Put functions/ on sys.path, as Lambda puts each function's packages at its task root, so the
    tools import the very code the functions run (key naming, event parsing, the models)."""
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))


def key_rules():
    """`pipeline_common.keys`: how the functions name frames and results, and which suffixes are videos."""
    use_function_code()
    from pipeline_common import keys

    return keys
