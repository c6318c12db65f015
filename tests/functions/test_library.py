"""The library's plain-Python parts against moto's S3, DynamoDB and SNS (no stack, no models): what a
result files, a relabel that changes one result and leaves another, the index replacing a video's
old items, and two relabels racing for one result announcing it once (faces.json If-Match)."""

from __future__ import annotations

import json
import logging

import boto3
import numpy as np
import pytest

from components import library as spec
from components import settings as S
from face_recognizer.facedb import FaceDatabase
from face_recognizer.library import Filed, LibraryConfig, encode_embedding, now_iso
from face_recognizer.relabel import Library, rematch
from pipeline_common.env import FIRST_FRAME, TIMELINE

REGION = "us-east-1"
A, B = np.eye(1, 512, 0, dtype=np.float32), np.eye(1, 512, 1, dtype=np.float32)


@pytest.fixture
def library(aws):
    s = S.load(lambda k: "vfp-unit" if k == "namePrefix" else None, check_files=False)
    clients = {
        name: boto3.client(name, region_name=REGION, endpoint_url=aws) for name in ("s3", "dynamodb", "sns", "sqs")
    }
    for bucket in ("lib", "out"):
        clients["s3"].create_bucket(Bucket=bucket)
    clients["s3"].put_bucket_versioning(Bucket="lib", VersioningConfiguration={"Status": "Enabled"})
    clients["dynamodb"].create_table(**{**spec.table_arguments(s), "TableName": "apps"})
    topic = clients["sns"].create_topic(Name="results")["TopicArn"]
    queue = clients["sqs"].create_queue(QueueName="sub")["QueueUrl"]
    arn = clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    clients["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    lib = Library(
        LibraryConfig("lib", "apps", topic),
        s3=clients["s3"],
        dynamodb=clients["dynamodb"],
        sns=clients["sns"],
        log=logging.getLogger("test"),
    )
    lib.queue, lib.sqs = queue, clients["sqs"]  # type: ignore[attr-defined]
    return lib


def events(lib) -> list[dict]:
    got = []
    while batch := lib.sqs.receive_message(QueueUrl=lib.queue, MaxNumberOfMessages=10).get("Messages", []):
        for m in batch:
            got.append(json.loads(m["Body"]))
            lib.sqs.delete_message(QueueUrl=lib.queue, ReceiptHandle=m["ReceiptHandle"])
    return got


def face(name: str, embedding) -> dict:
    return {
        "box": [1, 2, 3, 4],
        "probability": 0.99,
        "name": name,
        "distance": 0.5,
        "embedding": encode_embedding(embedding),
    }


def filed(video: str, analysis: str, frames: tuple) -> Filed:
    stem = video.rsplit(".", 1)[0]
    timeline = analysis == TIMELINE
    return Filed(video, analysis, "out", f"{stem}.txt", f"{stem}.json" if timeline else None,
                 f"s3://stage/{stem}.jpg", 1.0, None, "v1", now_iso(), frames)  # fmt: skip


def test_a_relabel_changes_what_the_new_database_names_otherwise_and_announces_it_once(library):
    only_a = FaceDatabase.from_entries([A], ["Ann"])
    b_video = filed("b.mp4", FIRST_FRAME, ({"t": 0.0, "faces": [face("Ann", B)]},))
    a_video = filed("a.mp4", TIMELINE, tuple({"t": float(t), "faces": [face("Ann", A)]} for t in range(3)))
    library.s3.put_object(Bucket="out", Key="a.json", Body=b'{"video": "s3://in/a.mp4", "database": {"version": "v1"}}')
    for f in (b_video, a_video):
        library.record(rematch(f, only_a, "v1"))
    assert [(e["event"], e["video"], e["answer"]) for e in events(library)] == [
        ("result", "b.mp4", "Ann"),
        ("result", "a.mp4", "Ann"),
    ]
    assert [hit["video"] for hit in library.index.search("Ann")] == ["a.mp4", "b.mp4"]  # newest first
    assert library.index.search("Ann")[0]["ranges"] == [[0.0, 3.0]]

    both = FaceDatabase.from_entries([A, B], ["Ann", "Bo"])
    summary = library.relabel_all(both, "v2")
    assert summary["changed"] == ["b.mp4"] and summary["unchanged"] == 1
    assert [(e["event"], e["video"], e["answer"], e["database_version"]) for e in events(library)] == [
        ("relabel", "b.mp4", "Bo", "v2")
    ]
    text = library.s3.get_object(Bucket="out", Key="b.txt")
    assert text["Body"].read() == b"Bo" and text["Metadata"]["face-db-version"] == "v2"
    assert [hit["video"] for hit in library.index.search("Ann")] == ["a.mp4"]  # b's old item replaced
    assert [hit["video"] for hit in library.index.search("Bo")] == ["b.mp4"]
    assert library.relabel_all(both, "v2")["changed"] == [] and events(library) == []


def test_two_relabels_of_one_result_change_and_announce_it_once(library):
    library.record(filed("b.mp4", FIRST_FRAME, ({"t": 0.0, "faces": [face("Ann", B)]},)))
    events(library)
    [key] = library.videos()
    first, second = library.read(key), library.read(key)  # both read the same version
    new = rematch(first.filed, FaceDatabase.from_entries([A, B], ["Ann", "Bo"]), "v2")
    assert library.rewrite(first, new, "relabel") is True
    assert library.rewrite(second, new, "relabel") is False  # its If-Match no longer holds
    assert [e["event"] for e in events(library)] == ["relabel"]
