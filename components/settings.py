"""The stack's settings, validated, and the environment each function gets from them.

This is the one place that turns stack config into function settings. The Pulumi program feeds it
`pulumi.Config`; the local stack feeds it a `Pulumi.<stack>.yaml` file. Both get the same
validation, the same defaults (read from the `config:` schema in `Pulumi.yaml`, the single source
of defaults and descriptions) and the same environment variables, so what runs locally is what
would be deployed.

Plain Python on purpose: importing it must not need the Pulumi engine.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT_FILE = PROJECT_DIR / "Pulumi.yaml"

EVENT_DRIVEN = "event-driven"
DIRECT_INVOCATION = "direct-invocation"
ARCHITECTURES = (EVENT_DRIVEN, DIRECT_INVOCATION)

# Where the recognizer image keeps what it needs (docker/recognizer.Dockerfile copies them there;
# a test holds the two in step).
IMAGE_TASK_ROOT = "/var/task"
IMAGE_FACE_DB = f"{IMAGE_TASK_ROOT}/face_db.pt"
# The ONNX graphs the image build exports from the vggface2 weights (tools/export_models.py).
IMAGE_MODEL_DIR = f"{IMAGE_TASK_ROOT}/models"
# Where the ffmpeg layer puts the binary (Lambda mounts layers under /opt).
LAYER_FFMPEG = "/opt/bin/ffmpeg"

# Lambda's memory range is 128..10240 MB; ours starts higher. Each function must hold the largest
# frame the pipeline accepts (pipeline_common.limits: 8K) within its setting, so the floor is its
# peak there, measured by `make bench` (bench/README.md), plus headroom: the recognizer peaks at
# 607 MB (an 8K progressive 4:4:4 JPEG; ~300 MB of that is models and database at rest), the splitter
# at ~555 MB with ffmpeg (an 8K video that needs ffmpeg's ordinary decode).
MIN_MEMORY_MB = {"splitter": 768, "recognizer": 768}
MAX_MEMORY_MB = 10240

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                      1827, 2192, 2557, 2922, 3288, 3653)

_BUCKET_PREFIX = re.compile(r"^[a-z0-9][a-z0-9.-]{1,44}$")  # leaves room for "-stage-1"
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConfigError(ValueError):
    """A stack setting is missing or out of range; the message names the setting."""


@dataclass(frozen=True)
class FunctionSettings:
    name: str
    memory_mb: int
    timeout_s: int
    ephemeral_storage_mb: int
    reserved_concurrency: int  # -1: unreserved (draws on the account's pool)


@dataclass(frozen=True)
class StackSettings:
    architecture: str
    name_prefix: str
    splitter: FunctionSettings
    recognizer: FunctionSettings
    face_database: Path  # on the machine that runs `pulumi up` (or the local stack)
    log_retention_days: int
    log_level: str
    max_retry_attempts: int
    max_event_age_s: int
    distance_threshold: Optional[float]  # None: always the nearest name
    region: str = "us-east-1"

    @property
    def input_bucket(self) -> str:
        return f"{self.name_prefix}-input"

    @property
    def stage1_bucket(self) -> str:
        return f"{self.name_prefix}-stage-1"

    @property
    def output_bucket(self) -> str:
        return f"{self.name_prefix}-output"

    @property
    def direct_invocation(self) -> bool:
        return self.architecture == DIRECT_INVOCATION


# ---------------------------------------------------------------------------------------------
# The schema: Pulumi.yaml's `config:` block


def schema(project_file: Path = PROJECT_FILE) -> dict[str, dict]:
    """`config:` from Pulumi.yaml: each key's type, default and description."""
    with open(project_file, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["config"]


def project_name(project_file: Path = PROJECT_FILE) -> str:
    with open(project_file, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["name"]


# ---------------------------------------------------------------------------------------------
# Loading


def load(get: Callable[[str], Optional[str]], *, region: Optional[str] = None,
         base_dir: Path = PROJECT_DIR, project_file: Path = PROJECT_FILE,
         check_files: bool = True) -> StackSettings:
    """Validated settings from a getter of raw config strings (None when unset).

    Unset keys take Pulumi.yaml's default. Raises ConfigError naming the setting and what it
    allows. `check_files` also requires the face database to exist (preview must fail early when
    it does not; a tool that only needs bucket names can skip that).
    """
    spec = schema(project_file)
    unknown_default = object()

    def raw(key: str):
        value = get(key)
        if value is None:
            value = spec[key].get("default", unknown_default)
        if value is unknown_default:
            raise ConfigError(f"{key}: required; set it with `pulumi config set {key} <value>` "
                              f"({spec[key].get('description', '').strip()})")
        return value

    def integer(key: str, lo: int, hi: int, why: str = "") -> int:
        value = raw(key)
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ConfigError(f"{key}: {value!r} is not a whole number (allowed {lo}..{hi})") from None
        if not lo <= number <= hi:
            raise ConfigError(f"{key}: {number} is outside the allowed range {lo}..{hi}{why}")
        return number

    def one_of(key: str, allowed) -> str:
        value = str(raw(key)).strip()
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, allowed))}")
        return value

    architecture = one_of("architecture", ARCHITECTURES)

    name_prefix = str(raw("namePrefix")).strip()
    if not _BUCKET_PREFIX.match(name_prefix) or ".." in name_prefix or name_prefix.endswith(("-", ".")):
        raise ConfigError(f"namePrefix: {name_prefix!r} must be 2-45 characters of a-z, 0-9, '-' "
                          "and '.', starting and ending with a letter or digit (S3 bucket rules)")

    function_prefix = str(raw("functionPrefix") or "").strip()

    def function(role: str) -> FunctionSettings:
        name = function_prefix + str(raw(f"{role}FunctionName")).strip()
        if not _FUNCTION_NAME.match(name):
            raise ConfigError(f"{role}FunctionName: {name!r} (with functionPrefix) must be 1-64 "
                              "characters of letters, digits, '-' and '_'")
        return FunctionSettings(
            name=name,
            memory_mb=integer(f"{role}Memory", MIN_MEMORY_MB[role], MAX_MEMORY_MB,
                              f" (below {MIN_MEMORY_MB[role]} MB the {role} may run out of memory on the "
                              "largest frame the pipeline accepts: README, Frame limits)"),
            timeout_s=integer(f"{role}Timeout", 1, 900),
            ephemeral_storage_mb=integer(f"{role}EphemeralStorage", 512, 10240),
            reserved_concurrency=integer(f"{role}ReservedConcurrency", -1, 1000),
        )

    splitter, recognizer = function("splitter"), function("recognizer")
    if splitter.name == recognizer.name:
        raise ConfigError(f"splitterFunctionName, recognizerFunctionName: both are {splitter.name!r}; "
                          "the splitter would invoke itself")

    face_database = Path(str(raw("faceDatabase")).strip()).expanduser()
    if not face_database.is_absolute():
        face_database = (base_dir / face_database).resolve()
    if check_files and not face_database.is_file():
        raise ConfigError(f"faceDatabase: {face_database} does not exist; build one with "
                          "`python -m tools.enroll` or point the setting at a `[embeddings, names]` file")

    retention = integer("logRetentionDays", 1, 3653)
    if retention not in LOG_RETENTION_DAYS:
        raise ConfigError(f"logRetentionDays: {retention} is not one of "
                          f"{', '.join(map(str, LOG_RETENTION_DAYS))}")

    threshold_raw = str(raw("distanceThreshold")).strip()
    threshold: Optional[float] = None
    if threshold_raw not in ("", "0", "off", "none"):
        try:
            threshold = float(threshold_raw)
        except ValueError:
            raise ConfigError(f"distanceThreshold: {threshold_raw!r} is not a number (or 'off')") from None
        if not (math.isfinite(threshold) and threshold > 0):
            raise ConfigError(f"distanceThreshold: {threshold_raw!r} must be a positive number (or 'off')")

    return StackSettings(
        architecture=architecture,
        name_prefix=name_prefix,
        splitter=splitter,
        recognizer=recognizer,
        face_database=face_database,
        log_retention_days=retention,
        log_level=one_of("logLevel", ("DEBUG", "INFO", "WARNING", "ERROR")),
        max_retry_attempts=integer("maxRetryAttempts", 0, 2),
        max_event_age_s=integer("maxEventAgeSeconds", 60, 21600),
        distance_threshold=threshold,
        region=region or "us-east-1",
    )


def check_keys(keys: Iterable[str], *, source: str, project_file: Path = PROJECT_FILE) -> None:
    """Refuse a key in this project's namespace that Pulumi.yaml does not declare.

    Pulumi itself ignores such a key, so `architecure: direct-invocation` would leave a stack
    event-driven without a word. The error names each key, where it was found, and the nearest
    declared setting. Keys of other namespaces (`aws:region`) are not ours to judge.
    """
    namespace = project_name(project_file) + ":"
    declared = schema(project_file)
    problems = []
    for key in sorted(keys):
        if not key.startswith(namespace) or key[len(namespace):] in declared:
            continue
        name = key[len(namespace):]
        nearest = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.6)
        problems.append(f"{key} is not a setting of this project"
                        + (f"; did you mean {namespace}{nearest[0]}?" if nearest else
                           f" (Pulumi.yaml's config: block lists them all)"))
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


def load_stack_file(stack_file: Path, overrides: Mapping[str, str] = (), **kwargs) -> StackSettings:
    """Settings from a `Pulumi.<stack>.yaml` file, as `pulumi up` on that stack would see them.

    `overrides` (un-namespaced keys) win over the file, as `pulumi config set` would.
    """
    stack_file = Path(stack_file)
    with open(stack_file, encoding="utf-8") as fh:
        config = (yaml.safe_load(fh) or {}).get("config") or {}
    project_file = kwargs.get("project_file", PROJECT_FILE)
    check_keys(config, source=str(stack_file), project_file=project_file)
    namespace = project_name(project_file) + ":"
    values = {k[len(namespace):]: v for k, v in config.items() if k.startswith(namespace)}
    values.update(dict(overrides))
    return load(lambda key: None if values.get(key) is None else str(values[key]),
                region=config.get("aws:region"), **kwargs)


# ---------------------------------------------------------------------------------------------
# What each function receives


def splitter_environment(s: StackSettings, *, ffmpeg_path: str = LAYER_FFMPEG) -> dict[str, str]:
    """The video-splitting function's environment variables."""
    env = {
        "STAGE1_BUCKET": s.stage1_bucket,
        "FFMPEG_PATH": ffmpeg_path,
        "LOG_LEVEL": s.log_level,
    }
    if s.direct_invocation:
        env["RECOGNIZER_FUNCTION"] = s.recognizer.name
    return env


def recognizer_environment(s: StackSettings, *, face_db_path: str = IMAGE_FACE_DB,
                           model_dir: str = IMAGE_MODEL_DIR) -> dict[str, str]:
    """The face-recognition function's environment variables.

    The paths default to where the image keeps the database and weights; the local stack passes
    the files on this machine instead.
    """
    env = {
        "OUTPUT_BUCKET": s.output_bucket,
        "FACE_DB_PATH": face_db_path,
        "MODEL_DIR": model_dir,
        "LOG_LEVEL": s.log_level,
        "MODEL_THREADS": str(model_threads(s.recognizer.memory_mb)),
    }
    if s.distance_threshold is not None:
        env["DISTANCE_THRESHOLD"] = repr(s.distance_threshold)
    return env


def model_threads(memory_mb: int) -> int:
    """Intra-op threads that match the vCPUs Lambda grants for this much memory.

    Lambda gives one vCPU per 1,769 MB (six at most) but shows the host's cores to the process;
    more inference threads than vCPUs only adds contention.
    """
    return max(1, min(6, round(memory_mb / 1769)))
