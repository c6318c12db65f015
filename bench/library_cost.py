"""`make plan`'s library section: the appearances table, the results topic and relabelling, per 1,000 videos.

Counted from what face_recognizer.library, appearances and relabel send per result (requests, not
measured durations): DynamoDB on demand bills per request unit, SNS per publish (and its topic's KMS
key per data key), S3 per request. A relabel's Lambda time is an estimate: it waits on one S3 or
DynamoDB round trip after another (REQUEST_MS each, not measured here: no AWS), and computes next to
nothing (a 512-float distance per face per enrolled embedding).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.prices import GB, LAMBDA_GB_SECOND, LAMBDA_REQUEST, S3_GET, S3_PUT, S3_STORAGE_GB_MONTH, gb_seconds

# Prices (us-east-1, on demand; from memory of the price pages in mid-2025, like bench/plan.py's)
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000  # on-demand write request unit (since the 2024-11 price cut)
DYNAMODB_READ_UNIT = 0.125 / 1_000_000
DYNAMODB_STORAGE_GB_MONTH = 0.25
DYNAMODB_PITR_GB_MONTH = 0.20
SNS_PUBLISH = 0.50 / 1_000_000  # per 64 KB request
KMS_REQUEST = 0.03 / 10_000  # SNS asks the topic's key for a data key (at worst once per publish)
REQUEST_MS = 25.0  # an estimate of one S3/DynamoDB round trip from Lambda, in sequence
ITEM_BYTES = 600  # a person item (ranges as JSON, keys, version, result) and a video item, about
FACES_JSON_BYTES_PER_FACE = 900  # base64 of 512 float32 (2,732 chars / 3 packed) plus box, name, distance


@dataclass(frozen=True)
class LibraryCost:
    index_writes: float
    index_storage_month: float
    topic: float
    library_objects: float
    relabel: float  # one relabel of 1,000 stored results, `changed` of them rewritten

    @property
    def per_result(self) -> float:
        return self.index_writes + self.topic + self.library_objects


def per_1000(
    *, people: float = 1.0, faces: float = 1.0, changed: float = 0.1, memory_mb: int = 1024, timeline: bool = False
) -> LibraryCost:
    """Per 1,000 videos with `people` named and `faces` stored each; a relabel rewriting `changed` of them."""
    n = 1000
    # Library.record: faces.json PUT; index: a consistent GetItem, a put per person, the video item; one publish.
    writes = n * (people + 1) * DYNAMODB_WRITE_UNIT + n * 1 * DYNAMODB_READ_UNIT
    storage = n * (people + 1) * ITEM_BYTES / GB * (DYNAMODB_STORAGE_GB_MONTH + DYNAMODB_PITR_GB_MONTH)
    topic = n * (SNS_PUBLISH + KMS_REQUEST)
    objects = n * S3_PUT + n * faces * FACES_JSON_BYTES_PER_FACE / GB * S3_STORAGE_GB_MONTH
    # relabel_all: LIST (1,000 keys a page), a GET of each faces.json; each changed result: PUT faces.json,
    # (timeline: GET and PUT the .json), PUT the .txt, the index rewrite, one publish.
    rewritten = n * changed
    s3_requests = n / 1000 * S3_PUT + n * S3_GET + rewritten * ((3 if timeline else 2) * S3_PUT + timeline * S3_GET)
    round_trips = n + rewritten * ((4 if timeline else 2) + 3 + 1)
    duration = round_trips * REQUEST_MS
    relabel = (
        s3_requests
        + rewritten * ((people + 1) * DYNAMODB_WRITE_UNIT + DYNAMODB_READ_UNIT + SNS_PUBLISH + KMS_REQUEST)
        + gb_seconds(memory_mb, duration) * LAMBDA_GB_SECOND
        + LAMBDA_REQUEST
    )
    return LibraryCost(writes, storage, topic, objects, relabel)


def report_lines(memory_mb: int, timeline: bool) -> list[str]:
    from bench.prices import money
    from bench.prices import table as _table

    c = per_1000(memory_mb=memory_mb, timeline=timeline)
    lines = [
        "",
        "The library, per 1,000 videos (counted requests at list prices; one person and one face per video, "
        f"a relabel changing 10% of them; {REQUEST_MS:g} ms per round trip, an estimate):",
        "",
    ]
    lines += _table(
        ["per 1,000 videos", "cost"],
        [
            ["appearances table writes (a person item and a video item each)", money(c.index_writes)],
            ["appearances table storage and point-in-time recovery, a month", money(c.index_storage_month)],
            ["results topic: one event each (SNS publish and its key's data key)", money(c.topic)],
            ["stored embeddings (faces.json PUT, a month of storage)", money(c.library_objects)],
            ["**each result, warm**", f"**{money(c.per_result)}**"],
            ["one relabel of all 1,000 (after an enrolment)", money(c.relabel)],
        ],
    )
    return lines
