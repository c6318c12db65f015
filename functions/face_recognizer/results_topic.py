"""The results topic: one SNS message per result written, relabelled or forgotten.

The message is the JSON of face_recognizer.library.event (video key, answer, people, result
objects, database version); a `event` message attribute (result, relabel, forget) lets a
subscription filter on it. Subscribers get it at least once: a retried invocation may send again.
"""

from __future__ import annotations

import json
from typing import Any


def publish(sns: Any, topic_arn: str, message: dict) -> str:
    """Publish one event; its MessageId."""
    response = sns.publish(
        TopicArn=topic_arn,
        Message=json.dumps(message, sort_keys=True),
        MessageAttributes={"event": {"DataType": "String", "StringValue": str(message["event"])}},
    )
    return str(response["MessageId"])
