"""What every command of the project (`python -m local`, `bench`, `tools.*`) shares on its command line."""

from __future__ import annotations

import argparse


def parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose description is the module docstring's first paragraph and whose
    help ends with the whole docstring (its usage examples), as written."""
    doc = doc or ""
    return argparse.ArgumentParser(
        prog=prog, description=doc.split("\n\n")[0], epilog=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
