"""Each function alone in a fresh interpreter (bench/probe.py) against S3 on a moto server in this
process, with its environment as deployed: what the core, largest-frame, live-database and timeline
benchmarks share."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from components import topology
from components.project import PROJECT_DIR
from components.settings import function_environment

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from components.settings import StackSettings


def database_file(settings: StackSettings) -> Path:
    """The face database file the stack bakes in (the benchmark measures a file, not `live`)."""
    if not isinstance(settings.face_database, Path):
        raise SystemExit("the benchmark runs the recognizer with a database file (faceDatabase: a path)")
    return settings.face_database


def probe(
    function: str,
    env: dict,
    objects: list[tuple[str, str]],
    repeats: int,
    log: Path,
    *,
    runtime: str = "onnx",
    torch_home: Path | None = None,
) -> dict:
    spec = {
        "function": function,
        "env": env,
        "objects": objects,
        "repeats": repeats,
        "runtime": runtime,
        "torch_home": str(torch_home) if torch_home else None,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
        path = Path(fh.name)
    try:
        with open(log, "ab") as err:
            # The spawn time travels on the command line: cold start counts from here.
            done = subprocess.run(
                [sys.executable, "-m", "bench.probe", str(path), repr(time.time())],
                cwd=PROJECT_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                check=False,
            )
        if done.returncode:
            raise RuntimeError(f"the {function} probe failed (exit {done.returncode}); see {log}")
        return json.loads(done.stdout)
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def alone_against_s3(settings: StackSettings) -> Iterator[tuple[dict[str, str], BaseClient]]:
    """A moto server in this process with the stack's buckets: the environment that points a probe
    at it (and nowhere else), and an S3 client for it."""
    import boto3
    from moto.server import ThreadedMotoServer

    from local.stack import sandbox_environment

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log would bury the table
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws = sandbox_environment(settings.region, AWS_ENDPOINT_URL=f"http://{host}:{port}")
        s3 = boto3.client(
            "s3",
            endpoint_url=aws["AWS_ENDPOINT_URL"],
            region_name=settings.region,
            aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
        )
        for role in topology.BUCKETS:
            s3.create_bucket(Bucket=settings.bucket(role))
        yield aws, s3
    finally:
        server.stop()


def environments(args: argparse.Namespace, settings: StackSettings, aws: dict[str, str]) -> dict[str, dict]:
    """Each function's environment as deployed (settings.function_environment), with this machine's files,
    and S3 on the probe's moto server. Alone, the splitter hands nothing to the recognizer."""
    from tools.modelbuild.ffmpeg import ffmpeg_exe

    where = topology.Locations(
        ffmpeg=ffmpeg_exe(), face_database=str(settings.face_database), models=str(args.model_dir)
    )
    env = {role: {**aws, **function_environment(role, settings, where)} for role in topology.FUNCTIONS}
    env[topology.SPLITTER].pop("RECOGNIZER_FUNCTION", None)
    # Alone, no state machine: a timeline splitter samples the whole video into one object (per frame figures)
    env[topology.SPLITTER].pop("STATE_MACHINE_NAME", None)
    if args.threads:
        env[topology.RECOGNIZER]["MODEL_THREADS"] = str(args.threads)
    return env


def largest_video(work: Path) -> Path:
    """The astronaut as a one-frame H.264 video of the largest frame the pipeline accepts (made once)."""
    from pipeline_common.limits import MAX_FRAME_HEIGHT_8K, MAX_FRAME_WIDTH_8K
    from tools.demo import samples

    video = work / "largest" / f"astronaut-{MAX_FRAME_WIDTH_8K}x{MAX_FRAME_HEIGHT_8K}.mp4"
    if not video.is_file():
        samples.make_video("astronaut", video, seconds=0.1, fps=10, size=(MAX_FRAME_WIDTH_8K, MAX_FRAME_HEIGHT_8K))
    return video
