"""The appearances table: person → the videos they appear in, newest first, and video → its people.

One DynamoDB table, two kinds of item under a string partition key `pk` and sort key `sk`:
- `pk = "person#<name>"`, `sk = "<processed_at>#<video key>"`: one per person per video, with the
  time ranges, the best distance, the database version and the result. A Query on the partition,
  sort key descending, is "where does NAME appear, newest first" (tools.search).
- `pk = "video#<video key>"`, `sk = "video"`: one per video, naming its person items, so a new or
  relabelled result replaces exactly the items the old one wrote (and forget finds them).
Plain attributes (ranges as JSON text) so any client reads them without a custom decoder.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from face_recognizer.library import Filed, answer_of, appearances_of

PERSON, VIDEO, VIDEO_SK = "person#", "video#", "video"
_BATCH = 25  # BatchWriteItem's most


def _s(value: str) -> dict:
    return {"S": value}


def _n(value: float) -> dict:
    return {"N": str(Decimal(str(value)))}


class Appearances:
    def __init__(self, dynamodb: Any, table: str):
        self.db, self.table = dynamodb, table

    def video_item(self, video: str) -> dict | None:
        item = self.db.get_item(
            TableName=self.table, Key={"pk": _s(VIDEO + video), "sk": _s(VIDEO_SK)}, ConsistentRead=True
        ).get("Item")
        return None if item is None else _plain(item)

    def put(self, filed: Filed) -> None:
        """File one video's appearances, replacing what an earlier result of it filed."""
        old = self.video_item(filed.video)
        items = [
            {
                "pk": _s(PERSON + a.person),
                "sk": _s(f"{filed.processed_at}#{filed.video}"),
                "person": _s(a.person),
                "video": _s(filed.video),
                "ranges": _s(json.dumps(a.ranges)),
                "best_distance": _n(a.best_distance),
                "database_version": _s(filed.database_version),
                "processed_at": _s(filed.processed_at),
                "result": _s(filed.result_uris()[0]),
            }
            for a in appearances_of(filed)
        ]
        new_keys = {(i["pk"]["S"], i["sk"]["S"]) for i in items}
        stale = [k for k in _keys(old) if k not in new_keys]
        requests = [{"PutRequest": {"Item": i}} for i in items] + [
            {"DeleteRequest": {"Key": {"pk": _s(pk), "sk": _s(sk)}}} for pk, sk in stale
        ]
        self._batch(requests)
        answer, people = answer_of(filed)
        self.db.put_item(
            TableName=self.table,
            Item={
                "pk": _s(VIDEO + filed.video),
                "sk": _s(VIDEO_SK),
                "video": _s(filed.video),
                "answer": _s(answer),
                "people": {"L": [_s(p) for p in people]},
                "items": _s(json.dumps(sorted(new_keys))),
                "database_version": _s(filed.database_version),
                "processed_at": _s(filed.processed_at),
                "results": {"L": [_s(u) for u in filed.result_uris()]},
            },
        )

    def search(self, person: str) -> list[dict]:
        """Every video `person` appears in, newest first: {video, ranges, best_distance, ...}."""
        found: list[dict] = []
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(PERSON + person)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        while True:
            page = self.db.query(**kwargs)
            found.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_person(self, person: str) -> list[dict]:
        """Remove every item of `person`; the items removed."""
        gone = self.search(person)
        self._batch([{"DeleteRequest": {"Key": {"pk": _s(i["pk"]), "sk": _s(i["sk"])}}} for i in gone])
        return gone

    def _batch(self, requests: list[dict]) -> None:
        for start in range(0, len(requests), _BATCH):
            pending: dict = {self.table: requests[start : start + _BATCH]}
            for _ in range(8):
                unprocessed = self.db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not unprocessed:
                    break
                pending = unprocessed
            else:
                raise RuntimeError(f"{self.table}: DynamoDB left writes unprocessed eight times over")


def _keys(item: dict | None) -> list[tuple[str, str]]:
    return [tuple(k) for k in json.loads(item["items"])] if item else []


def _plain(item: dict) -> dict:
    """A DynamoDB item as plain Python (ranges decoded)."""
    out: dict = {}
    for key, value in item.items():
        if "S" in value:
            out[key] = value["S"]
        elif "N" in value:
            out[key] = float(value["N"])
        elif "L" in value:
            out[key] = [v.get("S") for v in value["L"]]
    if "ranges" in out:
        out["ranges"] = json.loads(out["ranges"])
    return out
