"""`python -m tools.export_models`: the model build's export, tools/modelbuild/export_models.py (the
image build runs the same module from its copy of the package as `python -m modelbuild.export_models`)."""

from __future__ import annotations

import sys

from tools.modelbuild.export_models import main

if __name__ == "__main__":
    sys.exit(main())
