"""The stack's settings, validated: one table of them, read from stack config by both the Pulumi
program and the local stack.

Pulumi.yaml's `config:` block is the schema (each setting's type, default and description);
StackSettings below is the table that says how each one is checked and which function environment
variable, if any, it becomes. The Pulumi program feeds `load` pulumi.Config; the local stack feeds
it a `Pulumi.<stack>.yaml` file. Both get the same validation, the same defaults and, through
topology.environment, the same function environments: what runs locally is what would be deployed.
Adding a setting is one entry in the schema and one field here.

Plain Python on purpose: importing it must not need the Pulumi engine.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from components.project import PROJECT_DIR, PROJECT_FILE
from components.topology import (
    ANALYSES,
    ARCHITECTURES,
    DIRECT_INVOCATION,
    FACES,
    FUNCTIONS,
    INPUT,
    LIVE_DATABASE,
    OUTPUT,
    RECOGNIZER,
    SPLITTER,
    STAGE1,
    TIMELINE,
)
from face_recognizer.config import PRECISIONS
from pipeline_common.env import MAX_FRAMES_RANGE, SAMPLE_FPS_RANGE, distance_or_off

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
MAX_MEMORY_MB = 10240  # Lambda's largest; each function's floor is in topology.FUNCTIONS

_BUCKET_PREFIX = re.compile(r"^[a-z0-9][a-z0-9.-]{1,44}$")  # leaves room for "-stage-1"
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Enough to catch a slip (a name without a domain, a stray space); AWS sends the address a
# confirmation mail, which is the real check.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """A stack setting is missing or out of range; the message names the setting."""


# ---------------------------------------------------------------------------------------------
# How a setting is checked: (key, raw text, context) -> value, or ConfigError naming the key


@dataclass(frozen=True)
class Context:
    base_dir: Path  # relative file settings are relative to this folder
    check_files: bool  # whether files a setting names must exist
    function: str = ""  # within a function's settings block: its role (topology.SPLITTER, ...)


Check = Callable[[str, str, Context], Any]


def _bounded(lo: float, hi: float, parse: Callable[[str], Any], kind: str, unit: str = "") -> Check:
    """A `kind` of number from `lo` to `hi`, parsed with `parse`; errors name the key and the range."""
    shown = "{:g}".format if parse is float else str  # 0.5, not 0.500000; 1000000, not 1e+06
    allowed = f"{shown(lo)}..{shown(hi)}{unit}"

    def check(key: str, text: str, _: Context) -> Any:
        try:
            number = parse(text)
        except ValueError:
            raise ConfigError(f"{key}: {text!r} is not {kind} (allowed {allowed})") from None
        if not lo <= number <= hi:  # also refuses nan and inf
            raise ConfigError(f"{key}: {shown(number)} is outside the allowed range {allowed}")
        return number

    return check


def integer(lo: int, hi: int) -> Check:
    return _bounded(lo, hi, int, "a whole number")


def one_of(allowed: Iterable[Any]) -> Check:
    allowed = tuple(allowed)

    def check(key: str, text: str, _: Context) -> Any:
        for value in allowed:
            if text == str(value):
                return value
        raise ConfigError(f"{key}: {text!r} is not one of {', '.join(map(str, allowed))}")

    return check


def memory(key: str, text: str, ctx: Context) -> int:
    """A function's memory: from its floor (topology.FUNCTIONS: its measured peak on the largest
    accepted frame) to Lambda's largest."""
    floor = FUNCTIONS[ctx.function].min_memory_mb
    try:
        return integer(floor, MAX_MEMORY_MB)(key, text, ctx)
    except ConfigError as error:
        raise ConfigError(
            f"{error} (below {floor} MB the {ctx.function} may run out of memory on the largest "
            "frame the pipeline accepts: functions/README.md, Frame limits)"
        ) from None


def bucket_prefix(key: str, text: str, _: Context) -> str:
    if not _BUCKET_PREFIX.match(text) or ".." in text or text.endswith(("-", ".")):
        raise ConfigError(
            f"{key}: {text!r} must be 2-45 characters of a-z, 0-9, '-' and '.', starting and "
            "ending with a letter or digit (S3 bucket rules)"
        )
    return text


def text_(key: str, text: str, _: Context) -> str:
    return text


def existing_file(key: str, text: str, ctx: Context) -> Path:
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (ctx.base_dir / path).resolve()
    if ctx.check_files and not path.is_file():
        raise ConfigError(
            f"{key}: {path} does not exist; build one with `python -m tools.enroll` or point "
            "the setting at a `[embeddings, names]` file"
        )
    return path


def face_database(key: str, text: str, ctx: Context) -> Path | str:
    """A database file (baked into the image), or `live` (the stack's faces bucket)."""
    if text == LIVE_DATABASE:
        return LIVE_DATABASE
    return existing_file(key, text, ctx)


def retention(key: str, text: str, ctx: Context) -> int:
    days = integer(1, 3653)(key, text, ctx)
    if days not in LOG_RETENTION_DAYS:
        raise ConfigError(f"{key}: {days} is not one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return days


def threshold(key: str, text: str, _: Context) -> float | None:
    """A positive distance, or None ('off'): read as the recognizer reads its DISTANCE_THRESHOLD."""
    try:
        return distance_or_off(text)
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None


def email_or_empty(key: str, text: str, _: Context) -> str:
    if text and not _EMAIL.match(text):
        raise ConfigError(f"{key}: {text!r} is not an email address (leave it empty for none)")
    return text


def minutes(lo: int, hi: int) -> Check:
    """A period in seconds, a whole number of minutes from `lo` to `hi` seconds (CloudWatch
    alarms on one-minute metrics take only those)."""

    def check(key: str, text: str, ctx: Context) -> int:
        seconds = integer(lo, hi)(key, text, ctx)
        if seconds % 60:
            raise ConfigError(f"{key}: {seconds} is not a multiple of 60 (allowed {lo}..{hi} in steps of 60)")
        return seconds

    return check


def rate(lo: float, hi: float) -> Check:
    """A number of events per second from `lo` to `hi` (decimals allowed: 0.5 is one every 2 s)."""
    return _bounded(lo, hi, float, "a number", " per second")


def setting(key: str, check: Check, *, env: dict[str, str] | None = None) -> Any:
    """A field of the settings table: its key in Pulumi.yaml, how it is checked, and the environment
    variable it becomes in each function that gets it ({function role: variable})."""
    return field(metadata={"key": key, "check": check, "env": env or {}})


# ---------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class FunctionSettings:
    """One function's settings block: its keys are the function's role plus the suffix below
    (splitterMemory, recognizerTimeout, ...)."""

    name: str = setting("FunctionName", text_)  # before functionPrefix; load() applies it and checks the result
    memory_mb: int = setting("Memory", memory)
    timeout_s: int = setting("Timeout", integer(1, 900))
    ephemeral_storage_mb: int = setting("EphemeralStorage", integer(512, 10240))
    reserved_concurrency: int = setting("ReservedConcurrency", integer(-1, 1000))  # -1: unreserved

    # Names AWS derives from the function's (the alarms, the dashboard and the local stack find them so)
    @property
    def dead_letter_queue_name(self) -> str:
        return f"{self.name}-dlq"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.name}"


@dataclass(frozen=True)
class StackSettings:
    architecture: str = setting("architecture", one_of(ARCHITECTURES))
    name_prefix: str = setting("namePrefix", bucket_prefix)
    function_prefix: str = setting("functionPrefix", text_)
    # A file on the machine that deploys (or runs locally), or topology.LIVE_DATABASE.
    face_database: Path | str = setting("faceDatabase", face_database)
    log_retention_days: int = setting("logRetentionDays", retention)
    log_level: str = setting("logLevel", one_of(LOG_LEVELS), env={SPLITTER: "LOG_LEVEL", RECOGNIZER: "LOG_LEVEL"})
    max_retry_attempts: int = setting("maxRetryAttempts", integer(0, 2))
    max_event_age_s: int = setting("maxEventAgeSeconds", integer(60, 21600))
    # None: always the nearest name
    distance_threshold: float | None = setting("distanceThreshold", threshold, env={RECOGNIZER: "DISTANCE_THRESHOLD"})
    # The alarms (components/alarms.py): who hears of them, over what period, at what thresholds
    alarm_email: str = setting("alarmEmail", email_or_empty)  # "": no subscription
    alarm_period_s: int = setting("alarmPeriodSeconds", minutes(60, 3600))
    alarm_evaluation_periods: int = setting("alarmEvaluationPeriods", integer(1, 24))
    alarm_errors_threshold: int = setting("alarmErrorsThreshold", integer(0, 1_000_000))
    alarm_throttles_threshold: int = setting("alarmThrottlesThreshold", integer(0, 1_000_000))
    alarm_duration_percent: int = setting("alarmDurationPercent", integer(1, 100))
    # Live database only (topology's recognizer environment makes it FACE_DB_RELOAD_SECONDS then).
    face_database_reload_s: int = setting("faceDatabaseReloadSeconds", integer(0, 3600))
    face_database_history_days: int = setting("faceDatabaseHistoryDays", integer(1, 3650))  # live only
    # The embedding network's precision; the image build makes that graph (int8 behind its gate).
    recognizer_precision: str = setting("recognizerPrecision", one_of(PRECISIONS), env={RECOGNIZER: "MODEL_PRECISION"})
    # What the functions make of a video (topology.FIRST_FRAME, TIMELINE); the sampling, timeline only.
    # Timeline only, topology's environments make them ANALYSIS, SAMPLE_FPS and MAX_FRAMES, so a
    # first-frame stack's functions keep exactly the environment they had (no redeploy, no change).
    analysis: str = setting("analysis", one_of(ANALYSES))
    sample_fps: float = setting("sampleFps", rate(*SAMPLE_FPS_RANGE))
    max_frames: int = setting("maxFrames", integer(*MAX_FRAMES_RANGE))
    functions: Mapping[str, FunctionSettings] = field(default_factory=dict)  # by role: a block each
    region: str = "us-east-1"  # aws:region, Pulumi's own setting

    def bucket(self, role: str) -> str:
        """A bucket's name from its topology name: `<namePrefix>-input`, `-stage-1`, `-output` (the
        names the course grader looks up)."""
        return f"{self.name_prefix}-{role}"

    def function(self, role: str) -> FunctionSettings:
        return self.functions[role]

    @property
    def input_bucket(self) -> str:
        return self.bucket(INPUT)

    @property
    def stage1_bucket(self) -> str:
        return self.bucket(STAGE1)

    @property
    def output_bucket(self) -> str:
        return self.bucket(OUTPUT)

    @property
    def splitter(self) -> FunctionSettings:
        return self.functions[SPLITTER]

    @property
    def recognizer(self) -> FunctionSettings:
        return self.functions[RECOGNIZER]

    @property
    def direct_invocation(self) -> bool:
        return self.architecture == DIRECT_INVOCATION

    @property
    def live_database(self) -> bool:
        """faceDatabase: live: the database is an object in the faces bucket, not a file in the image."""
        return self.face_database == LIVE_DATABASE

    @property
    def timeline(self) -> bool:
        """analysis: timeline: every face over sampled frames, `<stem>.json` beside `<stem>.txt`."""
        return self.analysis == TIMELINE

    @property
    def faces_bucket(self) -> str | None:
        return self.bucket(FACES) if self.live_database else None

    def environment_of(self, role: str) -> dict[str, str]:
        """The environment variables the settings give one function (topology.environment adds the rest)."""
        env = {}
        for f in fields(self):
            variable = f.metadata.get("env", {}).get(role)
            value = getattr(self, f.name)
            if variable and value is not None:
                env[variable] = repr(value) if isinstance(value, float) else str(value)
        return env


# ---------------------------------------------------------------------------------------------
# The schema: Pulumi.yaml's `config:` block


def schema(project_file: Path = PROJECT_FILE) -> dict[str, dict]:
    """`config:` from Pulumi.yaml: each key's type, default and description."""
    with open(project_file, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["config"]


def project_name(project_file: Path = PROJECT_FILE) -> str:
    with open(project_file, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["name"]


def declared_keys() -> list[str]:
    """Every key the table reads: the stack's own and each function's block."""
    stack = [f.metadata["key"] for f in fields(StackSettings) if "key" in f.metadata]
    blocks = [role + f.metadata["key"] for role in FUNCTIONS for f in fields(FunctionSettings)]
    return stack + blocks


# ---------------------------------------------------------------------------------------------
# Loading


def derived_name_prefix(project: str, stack: str, account_id: str) -> str:
    """The bucket prefix of a stack that sets none: the project's initials, the stack and the account,
    unique to both (S3 names are global), within namePrefix's 45 characters (vfp-dev-123456789012)."""
    initials = "".join(word[0] for word in re.split(r"[^a-z0-9]+", project.lower()) if word) or "stack"
    room = 45 - len(initials) - len(account_id) - 2
    middle = re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")[:room].strip("-") or "stack"
    return f"{initials}-{middle}-{account_id}"


def load(
    get: Callable[[str], str | None],
    *,
    region: str | None = None,
    base_dir: Path = PROJECT_DIR,
    project_file: Path = PROJECT_FILE,
    check_files: bool = True,
    default_name_prefix: str | None = None,
) -> StackSettings:
    """Validated settings from a getter of raw config strings (None when unset).

    Unset keys take Pulumi.yaml's default. Raises ConfigError naming the setting and what it
    allows. `check_files` also requires the face database to exist (preview must fail early when
    it does not; a tool that only needs bucket names can skip that).
    """
    spec = schema(project_file)

    def read(key: str, check: Check, ctx: Context) -> Any:
        value = get(key)
        if key == "namePrefix" and not value and default_name_prefix:  # `pulumi up` derives one
            value = default_name_prefix
        if value is None:
            if "default" not in spec[key]:
                raise ConfigError(
                    f"{key}: required; set it with `pulumi config set {key} <value>` "
                    f"({spec[key].get('description', '').strip()})"
                )
            value = spec[key]["default"]
        return check(key, str(value).strip(), ctx)

    ctx = Context(base_dir=Path(base_dir), check_files=check_files)
    values = {
        f.name: read(f.metadata["key"], f.metadata["check"], ctx) for f in fields(StackSettings) if "key" in f.metadata
    }
    functions = {}
    for role in FUNCTIONS:
        block = Context(base_dir=Path(base_dir), check_files=check_files, function=role)
        functions[role] = FunctionSettings(
            **{f.name: read(role + f.metadata["key"], f.metadata["check"], block) for f in fields(FunctionSettings)}
        )
        name = values["function_prefix"] + functions[role].name
        if not _FUNCTION_NAME.match(name):
            raise ConfigError(
                f"{role}FunctionName: {name!r} (with functionPrefix) must be 1-64 characters of "
                "letters, digits, '-' and '_'"
            )
        functions[role] = replace(functions[role], name=name)
    names = [fs.name for fs in functions.values()]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"{', '.join(r + 'FunctionName' for r in functions)}: two functions are named alike "
            f"({', '.join(names)}); one would invoke itself"
        )
    return StackSettings(**values, functions=functions, region=region or "us-east-1")


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
        if not key.startswith(namespace) or key[len(namespace) :] in declared:
            continue
        name = key[len(namespace) :]
        nearest = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.6)
        problems.append(
            f"{key} is not a setting of this project"
            + (
                f"; did you mean {namespace}{nearest[0]}?"
                if nearest
                else " (Pulumi.yaml's config: block lists them all)"
            )
        )
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


def load_stack_file(stack_file: Path, overrides: Mapping[str, str] | None = None, **kwargs) -> StackSettings:
    """Settings from a `Pulumi.<stack>.yaml` file, as `pulumi up` on that stack would see them.

    `overrides` (un-namespaced keys) win over the file, as `pulumi config set` would.
    """
    stack_file = Path(stack_file)
    with open(stack_file, encoding="utf-8") as fh:
        config = (yaml.safe_load(fh) or {}).get("config") or {}
    project_file = kwargs.get("project_file", PROJECT_FILE)
    check_keys(config, source=str(stack_file), project_file=project_file)
    namespace = project_name(project_file) + ":"
    values = {k[len(namespace) :]: v for k, v in config.items() if k.startswith(namespace)}
    values.update(overrides or {})
    return load(
        lambda key: None if values.get(key) is None else str(values[key]), region=config.get("aws:region"), **kwargs
    )
