"""The stack's settings, validated: one table of them, read from stack config by both the Pulumi
program and the local stack.

Pulumi.yaml's `config:` block is the schema (each setting's type, default and description);
StackSettings below is the table that says how each one is checked and which function environment
variable, if any, it becomes. The Pulumi program feeds `load` pulumi.Config; the local stack feeds
it a `Pulumi.<stack>.yaml` file. Both get the same validation, the same defaults and, through
`function_environment` below, the same function environments: what runs locally is what would be deployed.
Adding a setting is one entry in the schema and one field here.

Plain Python on purpose: importing it must not need the Pulumi engine.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from components.project import PROJECT_DIR, PROJECT_FILE
from components.state_machine import state_machine_name
from components.topology import (
    ANALYSES,
    APPEARANCES_TABLE_SUFFIX,
    ARCHITECTURES,
    BUCKETS,
    DIRECT_INVOCATION,
    FACES,
    FACES_OBJECT,
    FUNCTIONS,
    INPUT,
    LAMBDA,
    LIBRARY,
    LIVE_DATABASE,
    OUTPUT,
    RECOGNIZER,
    RESULTS_TOPIC_SUFFIX,
    SPLITTER,
    STAGE1,
    TIMELINE,
    Locations,
    model_threads,
)
from face_recognizer.config import PRECISIONS
from pipeline_common.env import MAX_FRAMES_RANGE, SAMPLE_FPS_RANGE, TRACKING_SECONDS_RANGE, distance_or_off

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


def boolean(key: str, text: str, _: Context) -> bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise ConfigError(f"{key}: {text!r} is not true or false")


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
    # The library (face_recognizer.library): stage-1 objects expire after this many days (tools.forget
    # deletes a forgotten person's at once); the appearances table's deletion protection.
    stage1_retention_days: int = setting("stage1RetentionDays", integer(1, 3650))
    appearances_deletion_protection: bool = setting("appearancesDeletionProtection", boolean)
    # Timeline only: how many segments of a video its state machine's Map runs at once (inline Map's 40 at most).
    segment_concurrency: int = setting("segmentConcurrency", integer(1, 40))
    # Timeline only: a face followed between samples keeps its embedding this long (0: every face embedded).
    tracking_s: float = setting("trackingSeconds", _bounded(*TRACKING_SECONDS_RANGE, float, "a number", " s"))
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
    def appearances_table(self) -> str:
        return self.name_prefix + APPEARANCES_TABLE_SUFFIX

    @property
    def results_topic(self) -> str:
        return self.name_prefix + RESULTS_TOPIC_SUFFIX

    @property
    def faces_bucket(self) -> str | None:
        return self.bucket(FACES) if self.live_database else None

    def environment_of(self, role: str) -> dict[str, str]:
        """The environment variables the settings give one function (`function_environment` adds the rest)."""
        env = {}
        for f in fields(self):
            variable = f.metadata.get("env", {}).get(role)
            value = getattr(self, f.name)
            if variable and value is not None:
                env[variable] = repr(value) if isinstance(value, float) else str(value)
        return env


# ---------------------------------------------------------------------------------------------
# What a stack's settings make of topology's rows: each function's environment and lookups. Here
# rather than in topology, so the table stays pure data and nothing imports back.


def _splitter_environment(s: StackSettings, where: Locations) -> dict[str, str]:
    env = {"STAGE1_BUCKET": s.bucket(STAGE1), "FFMPEG_PATH": where.ffmpeg}
    if s.architecture == DIRECT_INVOCATION and not s.timeline:  # timeline: the state machine invokes it
        env["RECOGNIZER_FUNCTION"] = s.function(RECOGNIZER).name
    if s.timeline:  # first-frame: no variable at all, so its environment is what it always was
        env.update(
            ANALYSIS=TIMELINE,
            SAMPLE_FPS=repr(float(s.sample_fps)),
            MAX_FRAMES=str(s.max_frames),
            STATE_MACHINE_NAME=state_machine_name(s.name_prefix),
        )
    return env


def _recognizer_environment(s: StackSettings, where: Locations) -> dict[str, str]:
    env = {
        "OUTPUT_BUCKET": s.bucket(OUTPUT),
        "LIBRARY_BUCKET": s.bucket(LIBRARY),
        "APPEARANCES_TABLE": s.appearances_table,
        "MODEL_DIR": where.models,
        "MODEL_THREADS": str(model_threads(s.function(RECOGNIZER).memory_mb)),
    }
    if s.live_database:  # the object its role may read (function_lookups), and how often to look
        env.update(
            FACE_DB_BUCKET=s.bucket(FACES),
            FACE_DB_KEY=FACES_OBJECT,
            FACE_DB_RELOAD_SECONDS=str(s.face_database_reload_s),
        )
    else:
        env["FACE_DB_PATH"] = where.face_database
    if s.timeline:  # how many frames one frames object may hold; the object itself says how it was sampled
        # and where a timeline too long for the timeout is dead-lettered at once (it would recur)
        env.update(
            ANALYSIS=TIMELINE,
            MAX_FRAMES=str(s.max_frames),
            TRACKING_SECONDS=repr(float(s.tracking_s)),
            DEAD_LETTER_QUEUE=s.function(RECOGNIZER).dead_letter_queue_name,
        )
    return env


# The variables only a function's wiring and packaging decide; the settings add theirs (environment_of).
_DERIVED_ENVIRONMENT: dict[str, Callable[[StackSettings, Locations], dict[str, str]]] = {
    SPLITTER: _splitter_environment,
    RECOGNIZER: _recognizer_environment,
}


def function_environment(role: str, s: StackSettings, where: Locations = LAMBDA) -> dict[str, str]:
    """A function's complete environment: what its wiring decides, then what the settings give it.
    The Pulumi program deploys exactly this; the local stack runs its workers with it."""
    return {**_DERIVED_ENVIRONMENT[role](s, where), **s.environment_of(role)}


def function_lookups(role: str, s: StackSettings) -> tuple[tuple[str, str], ...]:
    """Single objects a function reads by name besides those that invoke it, as (bucket, key): the
    live face database. IAM grants s3:GetObject on exactly these."""
    return ((FACES, FACES_OBJECT),) if role == RECOGNIZER and s.live_database else ()


def stack_buckets(s: StackSettings) -> tuple[str, ...]:
    """The stack's buckets: input, stage-1, output, library, and in live mode faces."""
    return (*BUCKETS, LIBRARY) + ((FACES,) if s.live_database else ())


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
    """Refuse a key Pulumi would silently ignore: one in this project's namespace that Pulumi.yaml
    does not declare, one in a misspelt namespace (`video-face-pipline:namePrefix`), and an `aws:`
    key the AWS provider does not have (`aws:regoin`).

    So `architecure: direct-invocation` cannot leave a stack event-driven without a word. The error
    names each key, where it was found, and the nearest right one. Keys of other namespaces
    (`pulumi:`, another provider's) are not ours to judge.
    """
    namespace = project_name(project_file)
    declared = list(schema(project_file))
    problems = [p for p in (_key_problem(key, namespace, declared) for key in sorted(keys)) if p]
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


def _key_problem(key: str, project: str, declared: list[str]) -> str | None:
    space, _, name = key.partition(":")
    if space == project:
        known, hint = declared, " (Pulumi.yaml's config: block lists them all)"
    elif space == "aws" and (provider := aws_provider_keys()):
        known, hint = sorted(provider), " (the AWS provider's settings: pulumi_aws/config/vars.py)"
    elif name and difflib.get_close_matches(space, [project], n=1, cutoff=0.8):
        meant = (difflib.get_close_matches(name, declared, n=1, cutoff=0.6) or [name])[0]
        return f"{key}: the namespace {space!r} is not this project's ({project}); did you mean {project}:{meant}?"
    else:
        return None
    if name in known:
        return None
    nearest = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"{key} is not a setting of {'this project' if space == project else 'the AWS provider'}" + (
        f"; did you mean {space}:{nearest[0]}?" if nearest else hint
    )


@functools.cache
def aws_provider_keys() -> frozenset[str]:
    """The AWS provider's own settings (`aws:region`, `aws:defaultTags` ...), read from the installed
    pulumi_aws's config module without importing the provider (slow); empty when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("pulumi_aws")
    if spec is None or spec.origin is None:
        return frozenset()
    try:
        source = (Path(spec.origin).parent / "config" / "vars.py").read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    return frozenset(re.findall(r"__config__\.get\w*\('(\w+)'", source))


def load_stack_file(
    stack_file: Path,
    overrides: Mapping[str, str] | None = None,
    *,
    base_dir: Path = PROJECT_DIR,
    project_file: Path = PROJECT_FILE,
    check_files: bool = True,
    default_name_prefix: str | None = None,
) -> StackSettings:
    """Settings from a `Pulumi.<stack>.yaml` file, as `pulumi up` on that stack would see them.

    `overrides` (un-namespaced keys) win over the file, as `pulumi config set` would.
    """
    stack_file = Path(stack_file)
    with open(stack_file, encoding="utf-8") as fh:
        try:
            document = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:  # say where, as Pulumi would, rather than a traceback
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise ConfigError(f"{stack_file}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config") or {}, dict):
        raise ConfigError(f"{stack_file}: not a Pulumi stack file (a mapping with a config: mapping)")
    config = document.get("config") or {}
    check_keys(config, source=str(stack_file), project_file=project_file)
    namespace = project_name(project_file) + ":"
    values = {k[len(namespace) :]: v for k, v in config.items() if k.startswith(namespace)}
    values.update(overrides or {})
    return load(
        lambda key: None if values.get(key) is None else str(values[key]),
        region=config.get("aws:region"),
        base_dir=base_dir,
        project_file=project_file,
        check_files=check_files,
        default_name_prefix=default_name_prefix,
    )
