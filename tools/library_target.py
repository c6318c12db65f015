"""The library of a stack (its appearances table, results topic and library bucket), addressed as the
other tools address a stack (tools/target.py): from `--outputs` when given, else from the bucket
prefix the target resolves to (`<namePrefix>-appearances`, `-results`, `-library`: components/topology.py)."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

from components import library as spec
from components.topology import APPEARANCES_TABLE_SUFFIX, LIBRARY, RESULTS_TOPIC_SUFFIX
from face_recognizer.library import LibraryConfig
from face_recognizer.relabel import Library
from tools.target import Target, TargetError, read_outputs, resolve_target


@dataclass(frozen=True)
class LibraryTarget:
    target: Target
    table: str
    bucket: str
    topic_arn: str | None  # None: looked up by name when first needed

    def library(self, log: logging.Logger | None = None) -> Library:
        topic = self.topic_arn or self._find_topic()
        config = LibraryConfig(self.bucket, self.table, topic)
        t = self.target
        return Library(
            config,
            s3=t.client("s3"),
            dynamodb=t.client("dynamodb"),
            sns=t.client("sns"),
            log=log or logging.getLogger("tools.library"),
        )

    def _find_topic(self) -> str:
        wanted = ":" + self.table[: -len(APPEARANCES_TABLE_SUFFIX)] + RESULTS_TOPIC_SUFFIX
        for page in self.target.client("sns").get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].endswith(wanted):
                    return str(topic["TopicArn"])
        raise TargetError(f"no results topic *{wanted} at {self.target.endpoint_url or 'AWS'}; give --outputs")


def resolve(args: argparse.Namespace) -> LibraryTarget:
    target = resolve_target(args)
    outputs = read_outputs(args.outputs) if getattr(args, "outputs", None) else {}
    output = target.buckets.output
    prefix = args.name_prefix or (output[: -len("-output")] if output.endswith("-output") else None)
    table = outputs.get(spec.OUTPUT_TABLE) or (prefix and prefix + APPEARANCES_TABLE_SUFFIX)
    bucket = outputs.get(spec.OUTPUT_BUCKET) or (prefix and f"{prefix}-{LIBRARY}")
    if not table or not bucket:
        raise TargetError(
            f"{target.source}: cannot tell the library's table and bucket; give --outputs or --name-prefix"
        )
    return LibraryTarget(target, table, bucket, outputs.get(spec.OUTPUT_TOPIC))
