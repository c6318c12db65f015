"""Lambda's side of S3's notifications and of the on-failure destination, on the embedded stack.

S3 cannot start a local process, so each notification goes to an SQS queue per function (moto's S3
delivers to SQS natively, filters included) and a poller hands every message to the function's
asynchronous queue, as Lambda's own queue would take it; what fails for good goes to the
function's dead-letter queue in Lambda's on-failure record format.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.client import BaseClient

# S3 sends its one-off test event to queue targets, never to Lambda targets.
_TEST_EVENT = "s3:TestEvent"


class QueuePoller:
    """One thread long-polling one queue and handing each message to `invoke` before deleting it.

    stop() waits for a hand-off in progress, never for a long poll: a poll that returns after the
    stop leaves its messages in the queue (the stop then names their uploads as without a result).
    """

    def __init__(
        self,
        sqs: BaseClient,
        url: str,
        invoke: Callable[[dict], object],
        *,
        name: str,
        log: Callable[[str], None],
        wait_s: int = 1,
    ) -> None:
        self.sqs, self.url, self.invoke, self.name, self.log, self.wait_s = sqs, url, invoke, name, log, wait_s
        self._lock = threading.Lock()  # held while handing over, and to stop
        self._handing_off = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poll-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()

    def busy(self) -> bool:
        """True while a notification is between the queue and the function's own queue."""
        return self._handing_off > 0

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_s, VisibilityTimeout=60
                ).get("Messages", [])
            except Exception as exc:
                if not self._stopping.is_set():
                    self.log(f"{self.name}: polling S3 notifications failed: {exc}")
                    time.sleep(0.5)
                continue
            if messages:
                self._hand_over(messages)

    def _hand_over(self, messages: list[dict]) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._handing_off += 1
            try:
                for message in messages:
                    try:
                        event = json.loads(message["Body"])
                        if event.get("Event") != _TEST_EVENT:
                            self.invoke(event)
                        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                    except Exception as exc:
                        self.log(f"{self.name}: could not hand over a notification: {exc}")
            finally:
                self._handing_off -= 1


class DeadLetters:
    """The on-failure destination of each function: its `<function>-dlq`, and what was sent there."""

    def __init__(self, sqs: BaseClient, queues: dict[str, str], names: dict[str, str], log: Callable[[str], None]):
        self.sqs, self.queues, self.names, self.log = sqs, queues, names, log  # by role
        self._lock = threading.Lock()
        self._records: list[dict] = []

    def sender(self, role: str) -> Callable[[dict], None]:
        """What the role's runtime calls with each on-failure record."""
        name = self.names[role]

        def send(record: dict) -> None:
            self.sqs.send_message(QueueUrl=self.queues[role], MessageBody=json.dumps(record))
            with self._lock:  # after the send: whoever sees it here finds it in the queue too
                self._records.append({"function": name, **record})
            context, payload = record["requestContext"], record["responsePayload"]
            self.log(
                f"{name}: request {context['requestId']} → {name}-dlq ({context['condition']}: "
                f"{payload['errorType']}: {payload['errorMessage']})"
            )

        return send

    def records(self) -> list[dict]:
        """Every record sent so far (copies), each with the function's name under "function"."""
        with self._lock:
            return [dict(r) for r in self._records]


def describe_event(event: dict) -> str:
    """The objects an invocation's event names, for a person reading why it was interrupted."""
    from pipeline_common.events import EventError, parse_s3_objects

    try:
        return ", ".join(map(str, parse_s3_objects(event))) or "(no object)"
    except EventError:
        return json.dumps(event)[:200]
