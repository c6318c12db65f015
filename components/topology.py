"""The pipeline's functions, one row each, and how the two wirings connect them to the buckets.

Plain data, no Pulumi: the Pulumi components, the local stack, the packaging, the benchmark and the
tests all read FUNCTIONS, so a function's handler, how it ships, what it reads and writes, the
environment it gets and whether it is invoked directly are each written once, here. Adding a
function is one row (and its settings block in Pulumi.yaml); the loop check below runs on the
wiring before anything is created.

Pure data: the environments and lookups that depend on a stack's settings are built in
components.settings, which reads this table (never the other way round).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline_common.env import FIRST_FRAME, TIMELINE
from pipeline_common.keys import FRAME_SUFFIX, FRAMES_SUFFIX, RESULT_SUFFIX, TIMELINE_SUFFIX

# Logical names (not AWS names): buckets and functions as the pipeline knows them. A function's
# name is also the prefix of its settings block in Pulumi.yaml (splitterMemory, recognizerTimeout...).
INPUT, STAGE1, OUTPUT = "input", "stage-1", "output"
BUCKETS = (INPUT, STAGE1, OUTPUT)
# faceDatabase: live. The stack then has a fourth bucket, `<namePrefix>-faces`, holding one object:
# the face database, versioned; the recognizer reads it (and nothing else there), tools.enroll writes it.
FACES = "faces"
FACES_OBJECT = "face_db.pt"
LIVE_DATABASE = "live"  # the faceDatabase value that selects it
SPLITTER, RECOGNIZER = "splitter", "recognizer"
# The library (face_recognizer.library): every stack has a private, versioned `<namePrefix>-library`
# bucket (stored face embeddings per video), the appearances table and the results topic; the
# recognizer writes all three. Their names follow from namePrefix, written once here.
LIBRARY = "library"
APPEARANCES_TABLE_SUFFIX, RESULTS_TOPIC_SUFFIX = "-appearances", "-results"
RESULTS_TOPIC_VARIABLE = "RESULTS_TOPIC_ARN"  # its ARN holds the account: the deployer adds it

EVENT_DRIVEN = "event-driven"
DIRECT_INVOCATION = "direct-invocation"
ARCHITECTURES = (EVENT_DRIVEN, DIRECT_INVOCATION)

# What the two functions make of a video (the stack setting `analysis`). first-frame: the course's
# contract, one `<stem>.jpg` frame and one `<stem>.txt` answer. timeline: one `<stem>.tar` of
# sampled frames and, beside the `.txt` answer, `<stem>.json` (who appears when). Each row below
# says what its function reads and writes in each, so IAM, the notifications and the local stack follow.
ANALYSES = (FIRST_FRAME, TIMELINE)  # from pipeline_common.env, which both functions read ANALYSIS with

OBJECT_CREATED = "s3:ObjectCreated:*"
OBJECT_REMOVED = "s3:ObjectRemoved:*"
ZIP, IMAGE = "Zip", "Image"  # Lambda's package types
CPU_ARCHITECTURE = "x86_64"  # the ffmpeg layer's binary and the image are built for linux/amd64
ZIP_RUNTIME = "python3.13"

# Suffixes meaning "every object": the input bucket notifies the splitter of everything created
# in it, because S3's suffix filters are case-sensitive (a `.mp4` rule misses `CLIP.MP4`) and an
# upload that notified nothing would vanish without a trace. The splitter accepts the video
# suffixes in any letter case (pipeline_common.keys.is_video) and refuses the rest by name, so
# every upload ends with a result or a dead-letter record.
EVERY_OBJECT: tuple[str, ...] = ()

# Where the deployed functions find their files: the recognizer image's task root (the Dockerfile
# copies them there; a test holds the two in step) and the ffmpeg layer (Lambda mounts layers at /opt).
IMAGE_TASK_ROOT = "/var/task"
IMAGE_FACE_DB = f"{IMAGE_TASK_ROOT}/face_db.pt"
IMAGE_MODEL_DIR = f"{IMAGE_TASK_ROOT}/models"  # the ONNX graphs tools/export_models.py writes
LAYER_FFMPEG = "/opt/bin/ffmpeg"


@dataclass(frozen=True)
class Locations:
    """Where a function finds its files: on Lambda (the defaults), or on this machine (the local
    stack and the benchmark pass their own)."""

    ffmpeg: str = LAYER_FFMPEG
    face_database: str = IMAGE_FACE_DB
    models: str = IMAGE_MODEL_DIR


LAMBDA = Locations()


def model_threads(memory_mb: int) -> int:
    """Intra-op threads that match the vCPUs Lambda grants for this much memory.

    Lambda gives one vCPU per 1,769 MB (six at most) but shows the host's cores to the process;
    more inference threads than vCPUs only adds contention.
    """
    return max(1, min(6, round(memory_mb / 1769)))


@dataclass(frozen=True)
class Function:
    """Everything the rest of the project needs to know about one function."""

    role: str  # SPLITTER, RECOGNIZER: also its settings block's prefix
    handler: str  # module.attr, importable from its task root
    package: str  # ZIP or IMAGE
    packages: tuple[str, ...]  # the folders of functions/ it ships, each at its task root
    # By analysis (FIRST_FRAME, TIMELINE): (bucket, suffixes of the objects that reach it), and
    # (bucket, suffixes of what it writes); IAM grants exactly these.
    reads: Mapping[str, tuple[str, tuple[str, ...]]]
    writes: Mapping[str, tuple[str, tuple[str, ...]]]
    # The least memory it may be given: its peak on the largest frame the pipeline accepts
    # (pipeline_common.limits: 8K), measured by `make bench` (bench/README.md), plus headroom.
    min_memory_mb: int
    invoked_by: str | None = None  # direct-invocation wiring: the function that invokes it
    # The stages its one log line per object times (`ms`, pipeline_common.log.Laps; "total" besides),
    # and which of them compute rather than wait on S3 or Lambda: the dashboard charts the stages,
    # the cost plan (bench/plan.py) scales the computing ones with the CPU share a memory size buys.
    stages: tuple[str, ...] = ()
    cpu_stages: tuple[str, ...] = ()
    # analysis timeline: a task of the video's state machine (components/state_machine.py), which
    # invokes it per segment; no bucket notifies it and no function invokes it then.
    state_machine_task: bool = False

    @property
    def zip_name(self) -> str:
        return f"{self.role}.zip"


FUNCTIONS: dict[str, Function] = {
    SPLITTER: Function(
        role=SPLITTER,
        handler="video_splitting.handler.handler",
        package=ZIP,
        packages=("video_splitting", "pipeline_common"),
        reads={FIRST_FRAME: (INPUT, EVERY_OBJECT), TIMELINE: (INPUT, EVERY_OBJECT)},
        writes={FIRST_FRAME: (STAGE1, (FRAME_SUFFIX,)), TIMELINE: (STAGE1, (FRAMES_SUFFIX,))},
        min_memory_mb=768,  # ~555 MB with ffmpeg: an 8K video that needs ffmpeg's ordinary decode
        stages=("download", "ffmpeg", "upload", "invoke"),
        cpu_stages=("ffmpeg",),
    ),
    RECOGNIZER: Function(
        role=RECOGNIZER,
        handler="face_recognizer.handler.handler",
        package=IMAGE,
        packages=("face_recognizer", "pipeline_common"),
        reads={FIRST_FRAME: (STAGE1, (FRAME_SUFFIX,)), TIMELINE: (STAGE1, (FRAMES_SUFFIX,))},
        writes={FIRST_FRAME: (OUTPUT, (RESULT_SUFFIX,)), TIMELINE: (OUTPUT, (RESULT_SUFFIX, TIMELINE_SUFFIX))},
        min_memory_mb=768,  # 607 MB: an 8K progressive JPEG (~300 MB of it models and database)
        invoked_by=SPLITTER,
        stages=("database", "read", "decode", "detect", "embed", "match", "write"),
        cpu_stages=("decode", "detect", "embed", "match"),
        state_machine_task=True,
    ),
}


class TopologyError(ValueError):
    """The wiring would loop or S3 would reject it."""


@dataclass(frozen=True)
class Trigger:
    """S3 `bucket` invokes `function` for each object created with one of `suffixes` (EVERY_OBJECT:
    for each object created)."""

    bucket: str
    function: str
    suffixes: tuple[str, ...]
    events: tuple[str, ...] = (OBJECT_CREATED,)

    def filters(self) -> tuple[str | None, ...]:
        """One notification rule per entry: a suffix filter, or None for a rule without a filter."""
        return self.suffixes or (None,)


def triggers(architecture: str, analysis: str = FIRST_FRAME) -> tuple[Trigger, ...]:
    """The bucket notifications of a wiring, checked against loops and overlapping filters.

    Every function is notified by the bucket it reads (for the objects it reads in this analysis),
    except one that another function invokes directly in direct-invocation wiring."""
    if architecture not in ARCHITECTURES:
        raise TopologyError(f"architecture: {architecture!r} is not one of {', '.join(ARCHITECTURES)}")
    if analysis not in ANALYSES:
        raise TopologyError(f"analysis: {analysis!r} is not one of {', '.join(ANALYSES)}")
    plan = tuple(
        Trigger(f.reads[analysis][0], f.role, f.reads[analysis][1])
        for f in FUNCTIONS.values()
        if not (architecture == DIRECT_INVOCATION and f.invoked_by)
        and not (analysis == TIMELINE and f.state_machine_task)
    )
    check(plan, analysis)
    return plan


def direct_invocations(architecture: str, analysis: str = FIRST_FRAME) -> tuple[tuple[str, str], ...]:
    """(caller, callee) pairs of function-to-function invocations (timeline: none, the state machine invokes)."""
    if architecture != DIRECT_INVOCATION or analysis == TIMELINE:
        return ()
    return tuple((f.invoked_by, f.role) for f in FUNCTIONS.values() if f.invoked_by)


def check(plan: tuple[Trigger, ...], analysis: str = FIRST_FRAME) -> None:
    """Refuse a plan in which a function's own writes would invoke it, or S3 would refuse the filters."""
    for trigger in plan:
        written_bucket, written_suffixes = FUNCTIONS[trigger.function].writes[analysis]
        for written_suffix in written_suffixes:
            if written_bucket == trigger.bucket and (
                not trigger.suffixes or any(written_suffix.endswith(f) for f in trigger.suffixes)
            ):
                raise TopologyError(
                    f"{trigger.function} writes {written_suffix} objects to the {trigger.bucket} "
                    "bucket, which would invoke it again: an endless loop"
                )
    by_bucket: dict[str, list[str]] = {}
    for trigger in plan:
        by_bucket.setdefault(trigger.bucket, []).extend(f or "" for f in trigger.filters())
    for bucket, suffixes in by_bucket.items():
        # S3 rejects two rules for the same event whose suffixes overlap (one ends with the other;
        # a rule without a filter overlaps every other).
        for i, a in enumerate(suffixes):
            for b in suffixes[i + 1 :]:
                if a.endswith(b) or b.endswith(a):
                    raise TopologyError(
                        f"{bucket} bucket: suffix filters {a!r} and {b!r} overlap; "
                        "S3 rejects such a notification configuration"
                    )


def database_triggers(live_database: bool) -> tuple[Trigger, ...]:
    """With a live database, each change of its object (enrol, remove, restore, forget) invokes the
    recognizer, which matches every stored result again (face_recognizer.relabel)."""
    if not live_database:
        return ()
    return (Trigger(FACES, RECOGNIZER, (FACES_OBJECT,), (OBJECT_CREATED, OBJECT_REMOVED)),)
