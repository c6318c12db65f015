"""Which bucket notifies which function, and which bucket each function writes to, per wiring.

Plain data, no Pulumi: the Pulumi program renders it into notifications and permissions, tests
(and the local stack, if it likes) read the same table, and the loop check below runs on it before
anything is created.
"""
from __future__ import annotations

from dataclasses import dataclass

from components.settings import DIRECT_INVOCATION, EVENT_DRIVEN
# Through the `functions` namespace: the Pulumi program runs with only the project root on sys.path.
from functions.pipeline_common.keys import FRAME_SUFFIX, RESULT_SUFFIX

# Logical names (not AWS names): buckets and functions as the pipeline knows them.
INPUT, STAGE1, OUTPUT = "input", "stage-1", "output"
SPLITTER, RECOGNIZER = "splitter", "recognizer"

OBJECT_CREATED = "s3:ObjectCreated:*"

# Suffixes meaning "every object": the input bucket notifies the splitter of everything created
# in it, because S3's suffix filters are case-sensitive (a `.mp4` rule misses `CLIP.MP4`) and an
# upload that notified nothing would vanish without a trace. The splitter accepts the video
# suffixes in any letter case (pipeline_common.keys.is_video) and refuses the rest by name, so
# every upload ends with a result or a dead-letter record.
EVERY_OBJECT: tuple[str, ...] = ()

# What each function writes, and the suffix of what it writes. IAM policies grant exactly this.
WRITES = {SPLITTER: (STAGE1, FRAME_SUFFIX), RECOGNIZER: (OUTPUT, RESULT_SUFFIX)}
# What each function reads: the suffixes of the objects that reach it (EVERY_OBJECT: all of them).
READS = {SPLITTER: (INPUT, EVERY_OBJECT), RECOGNIZER: (STAGE1, (FRAME_SUFFIX,))}


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


def triggers(architecture: str) -> tuple[Trigger, ...]:
    """The bucket notifications of a wiring, checked against loops and overlapping filters."""
    videos = Trigger(INPUT, SPLITTER, READS[SPLITTER][1])
    frames = Trigger(STAGE1, RECOGNIZER, (FRAME_SUFFIX,))
    if architecture == EVENT_DRIVEN:
        plan = (videos, frames)
    elif architecture == DIRECT_INVOCATION:
        plan = (videos,)  # the splitter invokes the recognizer itself
    else:
        raise TopologyError(f"architecture: {architecture!r} is not one of {EVENT_DRIVEN}, {DIRECT_INVOCATION}")
    check(plan)
    return plan


def direct_invocations(architecture: str) -> tuple[tuple[str, str], ...]:
    """(caller, callee) pairs of function-to-function invocations."""
    return ((SPLITTER, RECOGNIZER),) if architecture == DIRECT_INVOCATION else ()


def check(plan: tuple[Trigger, ...]) -> None:
    """Refuse a plan in which a function's own writes would invoke it, or S3 would refuse the filters."""
    for trigger in plan:
        written_bucket, written_suffix = WRITES[trigger.function]
        if written_bucket == trigger.bucket and (not trigger.suffixes or written_suffix in trigger.suffixes):
            raise TopologyError(f"{trigger.function} writes {written_suffix} objects to the {trigger.bucket} "
                                "bucket, which would invoke it again: an endless loop")
    by_bucket: dict[str, list[str]] = {}
    for trigger in plan:
        by_bucket.setdefault(trigger.bucket, []).extend(f or "" for f in trigger.filters())
    for bucket, suffixes in by_bucket.items():
        # S3 rejects two rules for the same event whose suffixes overlap (one ends with the other;
        # a rule without a filter overlaps every other).
        for i, a in enumerate(suffixes):
            for b in suffixes[i + 1:]:
                if a.endswith(b) or b.endswith(a):
                    raise TopologyError(f"{bucket} bucket: suffix filters {a!r} and {b!r} overlap; "
                                        "S3 rejects such a notification configuration")
