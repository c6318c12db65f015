"""Where the project's things are: each folder and file named once, for every layer above functions/."""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT_FILE = PROJECT_DIR / "Pulumi.yaml"  # the project, and its settings' schema
DEFAULT_STACK_FILE = PROJECT_DIR / "Pulumi.dev.yaml"  # what the local stack and the tools read by default
FUNCTIONS_DIR = PROJECT_DIR / "functions"  # each Lambda function's task root
BUILD_DIR = PROJECT_DIR / "build"  # the archives `pulumi up` uploads
DATA_DIR = PROJECT_DIR / "data"  # local, uncommitted: face databases, weights
DEFAULT_TORCH_HOME = DATA_DIR / "torch"  # vggface2 weights and their ONNX exports
OUT_DIR = PROJECT_DIR / "out"  # reports, logs and samples of local runs
