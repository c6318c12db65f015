"""The pipeline's functions, one row each, and how the two wirings connect them to the buckets.

Plain data, no Pulumi: the Pulumi components, the local stack, the packaging, the benchmark and the
tests all read FUNCTIONS, so a function's handler, how it ships, what it reads and writes, the
environment it gets and whether it is invoked directly are each written once, here. Adding a
function is one row (and its settings block in Pulumi.yaml); the loop check below runs on the
wiring before anything is created.

Deliberately imports nothing from components.settings (which reads this table): the environment
builders take the validated settings as an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline_common.env import FIRST_FRAME, TIMELINE
from pipeline_common.keys import FRAME_SUFFIX, FRAMES_SUFFIX, RESULT_SUFFIX, TIMELINE_SUFFIX

if TYPE_CHECKING:
    from components.settings import StackSettings

# Logical names (not AWS names): buckets and functions as the pipeline knows them. A function's
# name is also the prefix of its settings block in Pulumi.yaml (splitterMemory, recognizerTimeout...).
INPUT, STAGE1, OUTPUT = "input", "stage-1", "output"
BUCKETS = (INPUT, STAGE1, OUTPUT)
# faceDatabase: live. The stack then has a fourth bucket, `<namePrefix>-faces`, holding one object:
# the face database, versioned; the recognizer reads it (and nothing else there), tools.enroll writes it.
FACES = "faces"
FACES_OBJECT = "face_db.pt"
LIVE_DATABASE = "live"  # the faceDatabase value that selects it
# `<namePrefix>-library`: per-video data that is neither the frame nor the result (face thumbnails
# and boxes for the HTML report, tools/report), under pipeline_common.keys.library_prefix(video).
# Private, encrypted, versioned; the recognizer writes there (LIBRARY_BUCKET) and reads nothing.
LIBRARY = "library"
LIBRARY_OBJECTS = "videos/*"  # every key library_prefix makes
SPLITTER, RECOGNIZER = "splitter", "recognizer"

EVENT_DRIVEN = "event-driven"
DIRECT_INVOCATION = "direct-invocation"
ARCHITECTURES = (EVENT_DRIVEN, DIRECT_INVOCATION)

# What the two functions make of a video (the stack setting `analysis`). first-frame: the course's
# contract, one `<stem>.jpg` frame and one `<stem>.txt` answer. timeline: one `<stem>.tar` of
# sampled frames and, beside the `.txt` answer, `<stem>.json` (who appears when). Each row below
# says what its function reads and writes in each, so IAM, the notifications and the local stack follow.
ANALYSES = (FIRST_FRAME, TIMELINE)  # from pipeline_common.env, which both functions read ANALYSIS with

OBJECT_CREATED = "s3:ObjectCreated:*"
ZIP, IMAGE = "Zip", "Image"  # Lambda's package types
CPU_ARCHITECTURE = "x86_64"  # the ffmpeg layer's binary and the image are built for linux/amd64
ZIP_RUNTIME = "python3.11"

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


def _splitter_environment(s: StackSettings, where: Locations) -> dict[str, str]:
    env = {"STAGE1_BUCKET": s.bucket(STAGE1), "FFMPEG_PATH": where.ffmpeg}
    if s.architecture == DIRECT_INVOCATION:
        env["RECOGNIZER_FUNCTION"] = s.function(RECOGNIZER).name
    if s.timeline:  # first-frame: no variable at all, so its environment is what it always was
        env.update(ANALYSIS=TIMELINE, SAMPLE_FPS=repr(float(s.sample_fps)), MAX_FRAMES=str(s.max_frames))
    return env


def _recognizer_environment(s: StackSettings, where: Locations) -> dict[str, str]:
    env = {
        "OUTPUT_BUCKET": s.bucket(OUTPUT),
        "MODEL_DIR": where.models,
        "MODEL_THREADS": str(model_threads(s.function(RECOGNIZER).memory_mb)),
        "LIBRARY_BUCKET": s.bucket(LIBRARY),
    }
    if s.live_database:  # the object its role may read (_recognizer_lookups), and how often to look
        env.update(
            FACE_DB_BUCKET=s.bucket(FACES),
            FACE_DB_KEY=FACES_OBJECT,
            FACE_DB_RELOAD_SECONDS=str(s.face_database_reload_s),
        )
    else:
        env["FACE_DB_PATH"] = where.face_database
    if s.timeline:  # how many frames one frames object may hold; the object itself says how it was sampled
        env.update(ANALYSIS=TIMELINE, MAX_FRAMES=str(s.max_frames))
    return env


def _recognizer_lookups(s: StackSettings) -> tuple[tuple[str, str], ...]:
    return ((FACES, FACES_OBJECT),) if s.live_database else ()


def _no_lookups(s: StackSettings) -> tuple[tuple[str, str], ...]:
    return ()


def buckets(s: StackSettings) -> tuple[str, ...]:
    """The stack's buckets: input, stage-1, output, library, and in live mode faces."""
    return BUCKETS + (LIBRARY,) + ((FACES,) if s.live_database else ())


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
    # The variables only this function's wiring and packaging decide; the stack settings add theirs
    # (components.settings: each setting names the variable it becomes).
    derived_environment: Callable[[StackSettings, Locations], dict[str, str]]
    # The least memory it may be given: its peak on the largest frame the pipeline accepts
    # (pipeline_common.limits: 8K), measured by `make bench` (bench/README.md), plus headroom.
    min_memory_mb: int
    invoked_by: str | None = None  # direct-invocation wiring: the function that invokes it
    # The stages its one log line per object times (`ms`, pipeline_common.log.Laps; "total" besides),
    # and which of them compute rather than wait on S3 or Lambda: the dashboard charts the stages,
    # the cost plan (bench/plan.py) scales the computing ones with the CPU share a memory size buys.
    stages: tuple[str, ...] = ()
    cpu_stages: tuple[str, ...] = ()
    # Single objects it reads by name besides the ones that invoke it, as (bucket, key): the live
    # face database. IAM grants s3:GetObject on exactly these.
    looks_up: Callable[[StackSettings], tuple[tuple[str, str], ...]] = _no_lookups
    # Key patterns it writes in the library bucket (IAM grants s3:PutObject on exactly these).
    library_writes: tuple[str, ...] = ()

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
        derived_environment=_splitter_environment,
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
        derived_environment=_recognizer_environment,
        min_memory_mb=768,  # 607 MB: an 8K progressive JPEG (~300 MB of it models and database)
        invoked_by=SPLITTER,
        stages=("database", "read", "decode", "detect", "embed", "match", "write"),
        cpu_stages=("decode", "detect", "embed", "match"),
        looks_up=_recognizer_lookups,
        library_writes=(LIBRARY_OBJECTS,),
    ),
}


def environment(role: str, s: StackSettings, where: Locations = LAMBDA) -> dict[str, str]:
    """A function's complete environment: what its wiring decides, then what the settings give it.
    The Pulumi program deploys exactly this; the local stack runs its workers with it."""
    return {**FUNCTIONS[role].derived_environment(s, where), **s.environment_of(role)}


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
    )
    check(plan, analysis)
    return plan


def direct_invocations(architecture: str) -> tuple[tuple[str, str], ...]:
    """(caller, callee) pairs of function-to-function invocations."""
    if architecture != DIRECT_INVOCATION:
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
