"""components/settings.py against Pulumi.yaml's schema and the example stack files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components import settings as S
from components import topology as T
from components.project import PROJECT_DIR
from components.settings import function_environment, function_lookups, stack_buckets

SCHEMA = S.schema()
PROJECT = S.project_name()


def getter(values: dict):
    return lambda key: None if values.get(key) is None else str(values[key])


def load(values: dict, **kwargs) -> S.StackSettings:
    return S.load(getter({"namePrefix": "vfp-unit", **values}), check_files=False, **kwargs)


def test_every_setting_is_declared_with_type_default_and_description():
    for key, spec in SCHEMA.items():
        assert spec.get("type") in ("string", "integer", "boolean"), key
        assert str(spec.get("description", "")).strip(), key
        assert ("default" in spec) == (key != "namePrefix"), key  # namePrefix is the one required setting
        if spec["type"] == "integer":
            assert isinstance(spec["default"], int), key
        if spec["type"] == "boolean":
            assert isinstance(spec["default"], bool), key


def test_load_reads_exactly_the_declared_settings():
    asked: list[str] = []

    def answer(key: str) -> str | None:
        asked.append(key)
        return "vfp-unit" if key == "namePrefix" else None

    S.load(answer, check_files=False)
    assert set(asked) == set(SCHEMA)


@pytest.mark.parametrize("stack_file", sorted(PROJECT_DIR.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_stack_files_only_set_declared_settings(stack_file: Path):
    config = yaml.safe_load(stack_file.read_text())["config"]
    for key in config:
        namespace, name = key.split(":", 1)
        assert namespace in (PROJECT, "aws"), key
        if namespace == PROJECT:
            assert name in SCHEMA, f"{stack_file.name}: {name} is not declared in Pulumi.yaml"


def test_a_misspelt_key_in_a_stack_file_is_an_error_naming_the_key_the_file_and_the_nearest(tmp_path):
    stack = tmp_path / "Pulumi.typo.yaml"
    stack.write_text(
        f"config:\n  aws:region: eu-west-1\n  {PROJECT}:namePrefix: vfp-typo\n"
        f"  {PROJECT}:architecure: direct-invocation\n  {PROJECT}:zzzz: 1\n"
    )
    with pytest.raises(S.ConfigError) as err:
        S.load_stack_file(stack, check_files=False)
    message = str(err.value)
    assert message.startswith(
        f"{stack}: {PROJECT}:architecure is not a setting of this project; did you mean {PROJECT}:architecture?"
    )
    assert f"{PROJECT}:zzzz is not a setting of this project" in message
    S.check_keys([f"{PROJECT}:architecture", "aws:region", "other:anything"], source="x")  # all fine


def test_a_misspelt_namespace_or_aws_key_is_refused_by_name(tmp_path):
    """Issue 19: both passed silently, so the stack ran with the default prefix and region."""
    stack = tmp_path / "Pulumi.typo.yaml"
    stack.write_text("config:\n  video-face-pipline:namePrefix: mine\n  aws:regoin: eu-west-1\n")
    with pytest.raises(S.ConfigError) as err:
        S.load_stack_file(stack, check_files=False)
    message = str(err.value)
    assert (
        f"video-face-pipline:namePrefix: the namespace 'video-face-pipline' is not this project's ({PROJECT}); "
        f"did you mean {PROJECT}:namePrefix?" in message
    )
    assert "aws:regoin is not a setting of the AWS provider; did you mean aws:region?" in message
    assert {"region", "defaultTags", "profile"} <= S.aws_provider_keys()  # read from the installed provider
    S.check_keys(["aws:defaultTags", "pulumi:disable-default-providers", "gcp:project"], source="x")  # all fine


def test_a_stack_file_that_is_not_yaml_names_the_file_and_line(tmp_path):
    stack = tmp_path / "Pulumi.broken.yaml"
    stack.write_text(f"config:\n  {PROJECT}:namePrefix: [unclosed\n  aws:region: us-east-1\n")
    with pytest.raises(S.ConfigError, match=rf"^{re.escape(str(stack))}, line 3, column \d+: not valid YAML: "):
        S.load_stack_file(stack, check_files=False)
    stack.write_text("- just\n- a list\n")
    with pytest.raises(S.ConfigError, match="not a Pulumi stack file"):
        S.load_stack_file(stack, check_files=False)


def test_defaults_come_from_the_schema():
    s = load({})
    assert s.architecture == SCHEMA["architecture"]["default"] == T.EVENT_DRIVEN
    assert (s.splitter.name, s.recognizer.name) == ("video-splitting", "face-recognition")
    assert s.splitter.memory_mb == SCHEMA["splitterMemory"]["default"]
    assert s.recognizer.timeout_s == SCHEMA["recognizerTimeout"]["default"]
    assert s.recognizer.reserved_concurrency == -1
    assert s.log_retention_days == SCHEMA["logRetentionDays"]["default"]
    assert s.distance_threshold is None
    assert s.face_database == PROJECT_DIR / "data" / "face_db.pt"
    assert (s.input_bucket, s.stage1_bucket, s.output_bucket) == (
        "vfp-unit-input",
        "vfp-unit-stage-1",
        "vfp-unit-output",
    )


def test_function_prefix_applies_to_both_functions():
    s = load({"functionPrefix": "staging-"})
    assert (s.splitter.name, s.recognizer.name) == ("staging-video-splitting", "staging-face-recognition")


@pytest.mark.parametrize(
    "values, message",
    [
        ({"architecture": "pipeline"}, "architecture: 'pipeline' is not one of event-driven, direct-invocation"),
        (
            {"splitterMemory": "767"},
            "splitterMemory: 767 is outside the allowed range 768..10240 (below 768 MB the "
            "splitter may run out of memory on the largest frame",
        ),
        ({"recognizerMemory": "lots"}, "recognizerMemory: 'lots' is not a whole number (allowed 768..10240)"),
        ({"splitterTimeout": "0"}, "splitterTimeout: 0 is outside the allowed range 1..900"),
        (
            {"recognizerEphemeralStorage": "10241"},
            "recognizerEphemeralStorage: 10241 is outside the allowed range 512..10240",
        ),
        (
            {"splitterReservedConcurrency": "-2"},
            "splitterReservedConcurrency: -2 is outside the allowed range -1..1000",
        ),
        ({"logRetentionDays": "2"}, "logRetentionDays: 2 is not one of 1, 3, 5"),
        ({"logLevel": "TRACE"}, "logLevel: 'TRACE' is not one of DEBUG, INFO, WARNING, ERROR"),
        ({"maxEventAgeSeconds": "59"}, "maxEventAgeSeconds: 59 is outside the allowed range 60..21600"),
        ({"distanceThreshold": "-1"}, "distanceThreshold: '-1' must be a positive number"),
        ({"namePrefix": "UPPER"}, "namePrefix: 'UPPER' must be 2-45 characters"),
        ({"namePrefix": "ends-"}, "namePrefix: 'ends-' must be"),
        (
            {"splitterFunctionName": "same", "recognizerFunctionName": "same"},
            "two functions are named alike (same, same); one would invoke itself",
        ),
        ({"functionPrefix": "x" * 60}, "splitterFunctionName: "),
    ],
)
def test_invalid_values_name_the_setting_and_what_it_allows(values, message):
    with pytest.raises(S.ConfigError) as info:
        load(values)
    assert message in str(info.value)


def test_missing_name_prefix_says_how_to_set_it():
    with pytest.raises(S.ConfigError, match=r"namePrefix: required; set it with `pulumi config set namePrefix"):
        S.load(getter({}), check_files=False)


def test_missing_face_database_is_refused_when_files_are_checked(tmp_path):
    with pytest.raises(S.ConfigError, match="faceDatabase: .*no-db.pt does not exist"):
        S.load(getter({"namePrefix": "vfp-unit", "faceDatabase": str(tmp_path / "no-db.pt")}))
    db = tmp_path / "db.pt"
    db.write_bytes(b"x")
    assert S.load(getter({"namePrefix": "vfp-unit", "faceDatabase": str(db)})).face_database == db


def test_face_database_is_a_file_or_live(tmp_path):
    live = S.load(getter({"namePrefix": "vfp-unit", "faceDatabase": "live"}))  # no file looked for
    assert live.live_database and live.faces_bucket == "vfp-unit-faces"
    assert (live.face_database_reload_s, live.face_database_history_days) == (10, 1)  # Pulumi.yaml's defaults
    assert stack_buckets(live) == (T.INPUT, T.STAGE1, T.OUTPUT, T.LIBRARY, T.FACES)
    baked = load({})
    assert not baked.live_database and baked.faces_bucket is None and stack_buckets(baked) == (*T.BUCKETS, T.LIBRARY)
    with pytest.raises(S.ConfigError, match="faceDatabase: .*Live does not exist"):  # only the exact word
        S.load(getter({"namePrefix": "vfp-unit", "faceDatabase": "Live"}), base_dir=tmp_path)
    for key, value, allowed in (
        ("faceDatabaseReloadSeconds", "-1", "0..3600"),
        ("faceDatabaseReloadSeconds", "1h", "0..3600"),
        ("faceDatabaseHistoryDays", "0", "1..3650"),
    ):
        with pytest.raises(S.ConfigError, match=f"{key}: .*{allowed}"):
            S.load(getter({"namePrefix": "vfp-unit", "faceDatabase": "live", key: value}))


def test_example_stack_files():
    dev = S.load_stack_file(PROJECT_DIR / "Pulumi.dev.yaml", check_files=False)
    assert (dev.architecture, dev.name_prefix, dev.log_retention_days) == (T.EVENT_DRIVEN, "vfp-dev", 7)
    assert dev.region == "us-east-1"
    prod = S.load_stack_file(PROJECT_DIR / "Pulumi.prod.yaml", check_files=False)
    assert prod.direct_invocation and prod.name_prefix == "vfp-prod"
    assert prod.recognizer.name == "prod-face-recognition" and prod.recognizer.reserved_concurrency == 10
    # `pulumi config set` wins over the file
    switched = S.load_stack_file(
        PROJECT_DIR / "Pulumi.dev.yaml", {"architecture": T.DIRECT_INVOCATION}, check_files=False
    )
    assert switched.direct_invocation and switched.name_prefix == "vfp-dev"


def test_splitter_environment():
    event = load({})
    assert function_environment(T.SPLITTER, event) == {
        "STAGE1_BUCKET": "vfp-unit-stage-1",
        "FFMPEG_PATH": "/opt/bin/ffmpeg",
        "LOG_LEVEL": "INFO",
    }
    direct = load({"architecture": T.DIRECT_INVOCATION, "functionPrefix": "p-"})
    assert function_environment(T.SPLITTER, direct, T.Locations(ffmpeg="/usr/bin/ffmpeg")) == {
        "STAGE1_BUCKET": "vfp-unit-stage-1",
        "FFMPEG_PATH": "/usr/bin/ffmpeg",
        "LOG_LEVEL": "INFO",
        "RECOGNIZER_FUNCTION": "p-face-recognition",
    }


def test_recognizer_environment():
    s = load({"recognizerMemory": "3538", "distanceThreshold": "0.8", "logLevel": "DEBUG"})
    assert function_environment(T.RECOGNIZER, s) == {
        "OUTPUT_BUCKET": "vfp-unit-output",
        "LIBRARY_BUCKET": "vfp-unit-library",
        "APPEARANCES_TABLE": "vfp-unit-appearances",
        "FACE_DB_PATH": "/var/task/face_db.pt",
        "MODEL_DIR": "/var/task/models",
        "LOG_LEVEL": "DEBUG",
        "MODEL_THREADS": "2",
        "DISTANCE_THRESHOLD": "0.8",
        "MODEL_PRECISION": "fp32",
    }
    assert "DISTANCE_THRESHOLD" not in function_environment(T.RECOGNIZER, load({}))
    assert function_environment(T.RECOGNIZER, load({"recognizerPrecision": "int8"}))["MODEL_PRECISION"] == "int8"
    with pytest.raises(S.ConfigError, match="recognizerPrecision: 'int4' is not one of fp32, int8"):
        load({"recognizerPrecision": "int4"})
    local = function_environment(T.RECOGNIZER, s, T.Locations(face_database="/tmp/db.pt", models="/tmp/models"))
    assert (local["FACE_DB_PATH"], local["MODEL_DIR"]) == ("/tmp/db.pt", "/tmp/models")


def test_recognizer_environment_with_a_live_database():
    s = S.load(getter({"namePrefix": "vfp-unit", "faceDatabase": "live", "faceDatabaseReloadSeconds": "30"}))
    assert function_environment(T.RECOGNIZER, s, T.Locations(face_database="ignored", models="/tmp/models")) == {
        "OUTPUT_BUCKET": "vfp-unit-output",
        "LIBRARY_BUCKET": "vfp-unit-library",
        "APPEARANCES_TABLE": "vfp-unit-appearances",
        "FACE_DB_BUCKET": "vfp-unit-faces",
        "FACE_DB_KEY": T.FACES_OBJECT,
        "FACE_DB_RELOAD_SECONDS": "30",
        "MODEL_DIR": "/tmp/models",
        "LOG_LEVEL": "INFO",
        "MODEL_THREADS": "1",
        "MODEL_PRECISION": "fp32",
    }
    assert function_lookups(T.RECOGNIZER, s) == ((T.FACES, T.FACES_OBJECT),)
    assert function_lookups(T.RECOGNIZER, load({})) == () == function_lookups(T.SPLITTER, s)


def test_a_new_setting_is_one_field_of_the_table_and_one_schema_entry():
    """Every key the table reads is declared in Pulumi.yaml, and every declared key is read: the
    table (StackSettings and each function's block) and the schema cannot drift apart."""
    assert sorted(S.declared_keys()) == sorted(SCHEMA)
    # and a setting that becomes a function's variable says so in its one field
    assert load({"logLevel": "WARNING"}).environment_of(T.SPLITTER) == {"LOG_LEVEL": "WARNING"}


@pytest.mark.parametrize(
    "memory, threads", [(128, 1), (1024, 1), (1769, 1), (2700, 2), (3538, 2), (5307, 3), (10240, 6)]
)
def test_model_threads_follow_lambda_vcpus(memory, threads):
    assert T.model_threads(memory) == threads


def test_the_functions_sampling_defaults_are_the_schemas():
    """A function whose SAMPLE_FPS / MAX_FRAMES are unset samples as a stack with the defaults does."""
    from pipeline_common import env

    schema = S.schema()
    assert float(schema["sampleFps"]["default"]) == env.DEFAULT_SAMPLE_FPS
    assert int(schema["maxFrames"]["default"]) == env.DEFAULT_MAX_FRAMES
    assert env.Env({}).sample_fps() == env.DEFAULT_SAMPLE_FPS and env.Env({}).max_frames() == env.DEFAULT_MAX_FRAMES


def test_tracking_reaches_only_a_timeline_recognizer_with_the_schemas_default():
    """trackingSeconds: TRACKING_SECONDS in a timeline stack's recognizer (unset, the same default);
    a first-frame stack's environments are what they were."""
    from pipeline_common import env

    assert float(S.schema()["trackingSeconds"]["default"]) == env.DEFAULT_TRACKING_SECONDS
    assert env.Env({}).tracking_seconds() == env.DEFAULT_TRACKING_SECONDS
    assert env.Env({"TRACKING_SECONDS": "0"}).tracking_seconds() == 0.0
    with pytest.raises(env.ConfigError, match="TRACKING_SECONDS"):
        env.Env({"TRACKING_SECONDS": "-1"}).tracking_seconds()
    timeline = load({"analysis": T.TIMELINE, "trackingSeconds": "2.5"})
    assert S.function_environment(T.RECOGNIZER, timeline)["TRACKING_SECONDS"] == "2.5"
    assert "TRACKING_SECONDS" not in S.function_environment(T.SPLITTER, timeline)
    first_frame = load({"trackingSeconds": "2.5"})
    assert not any("TRACKING_SECONDS" in S.function_environment(role, first_frame) for role in T.FUNCTIONS)
