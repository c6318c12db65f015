"""Upload a folder of videos to a stack's input bucket, at once or paced like the course's generator.

    python -m tools.workload VIDEOS_DIR [--stack Pulumi.dev.yaml] [--rate 1] [--prefix run1/]
    python -m tools.workload VIDEOS_DIR --endpoint-url http://127.0.0.1:PORT   # a local stack

Works against AWS or the local stack alike: ordinary boto3, credentials and region from the usual
places, `--endpoint-url` (or AWS_ENDPOINT_URL) for anything that is not AWS. Bucket names come
from the stack file (`<namePrefix>-input`) unless given. Each file's key is its name (plus
`--prefix`); only files with a video suffix the pipeline accepts are sent. A failed upload is
reported by name at the end and the others still go.

This module also holds the "which stack" options every tool shares (add_target_arguments).
"""

from __future__ import annotations

import argparse
import mimetypes
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from components.project import DEFAULT_STACK_FILE
from pipeline_common import keys
from tools import cli


@dataclass(frozen=True)
class Buckets:
    input: str
    stage1: str
    output: str
    region: str | None = None
    faces: str | None = None  # the live face database's bucket (tools.enroll); not one grade checks

    def as_dict(self) -> dict:
        return {"input": self.input, "stage-1": self.stage1, "output": self.output}


@dataclass
class Upload:
    path: Path
    key: str
    started: float = 0.0  # epoch seconds, this machine's clock
    finished: float = 0.0
    error: str | None = None


# -- which stack -----------------------------------------------------------------------------------


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("which stack (AWS or local)")
    g.add_argument(
        "--stack",
        type=Path,
        default=None,
        help="Pulumi stack file whose namePrefix names the buckets (default: Pulumi.dev.yaml)",
    )
    g.add_argument("--name-prefix", help="bucket prefix: <prefix>-input, <prefix>-stage-1, <prefix>-output")
    g.add_argument("--input-bucket")
    g.add_argument("--stage1-bucket")
    g.add_argument("--output-bucket")
    g.add_argument("--faces-bucket", help="the live face database's bucket (default: <prefix>-faces)")
    g.add_argument(
        "--endpoint-url",
        help="S3 endpoint for a non-AWS stack, e.g. the local stack's (default: AWS, or $AWS_ENDPOINT_URL)",
    )
    g.add_argument("--region", help="AWS region (default: the stack file's aws:region, else your AWS config)")


def resolve_buckets(args: argparse.Namespace) -> Buckets:
    """Explicit bucket flags win, then --name-prefix, then the stack file."""
    prefix, region = args.name_prefix, args.region
    needs_stack = prefix is None and not (args.input_bucket and args.stage1_bucket and args.output_bucket)
    if needs_stack or (args.stack is not None and region is None):
        from components.settings import load_stack_file

        settings = load_stack_file(args.stack or DEFAULT_STACK_FILE, check_files=False)
        prefix = prefix or settings.name_prefix
        region = region or settings.region
    return Buckets(
        input=args.input_bucket or f"{prefix}-input",
        stage1=args.stage1_bucket or f"{prefix}-stage-1",
        output=args.output_bucket or f"{prefix}-output",
        region=region,
        faces=args.faces_bucket or (f"{prefix}-faces" if prefix else None),
    )


def s3_client(endpoint_url: str | None = None, region: str | None = None):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32),
    )


# -- uploading ---------------------------------------------------------------------------------------


def video_files(folder: Path, *, warn: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> list[Path]:
    """The videos directly inside `folder`, by name. Every other file is named in a warning and
    left out: the stack would refuse it (into the splitter's dead-letter queue), never process it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    entries = sorted(f for f in folder.iterdir() if f.is_file())
    files = [f for f in entries if keys.is_video(f.name)]
    for other in entries:
        if other not in files and not other.name.startswith("."):
            warn(f"skipping {other}: the stack processes only videos whose names end in {keys.accepted_suffixes()}")
    if not files:
        raise ValueError(f"{folder}: no videos (names ending in {keys.accepted_suffixes()})")
    return files


def upload_videos(
    s3,
    bucket: str,
    files: list[Path],
    *,
    rate: float | None = None,
    prefix: str = "",
    workers: int = 8,
    progress: bool = True,
) -> list[Upload]:
    """Upload every file as `prefix + name`; `rate` per second starts them on a fixed schedule
    (upload i at i / rate seconds), otherwise `workers` at a time. Failures are recorded, not raised."""
    from tqdm import tqdm

    uploads = [Upload(Path(f), prefix + Path(f).name) for f in files]
    lock = threading.Lock()
    bar = tqdm(total=len(uploads), unit="video", desc=f"upload → {bucket}", disable=not progress, file=sys.stderr)

    def send(upload: Upload) -> None:
        upload.started = time.time()
        content_type = mimetypes.guess_type(upload.path.name)[0] or "application/octet-stream"
        try:
            s3.upload_file(str(upload.path), bucket, upload.key, ExtraArgs={"ContentType": content_type})
        except Exception as exc:
            upload.error = f"{upload.path} → s3://{bucket}/{upload.key}: {exc}"
        upload.finished = time.time()
        with lock:
            bar.update(1)

    pool_size = max(1, workers if rate is None else min(workers, 32))
    try:
        with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="upload") as pool:
            t0 = time.monotonic()
            for i, upload in enumerate(uploads):
                if rate:
                    delay = t0 + i / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                pool.submit(send, upload)
    finally:
        bar.close()
    return uploads


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m tools.workload", __doc__)
    parser.add_argument("videos", type=Path, help="folder of videos to upload")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="uploads per second (the course's generator: 1); default: as fast as possible",
    )
    parser.add_argument("--prefix", default="", help="key prefix, e.g. run1/ (default: none)")
    parser.add_argument("--workers", type=int, default=8, help="parallel uploads (default 8)")
    parser.add_argument("--no-progress", action="store_true")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    try:
        files = video_files(args.videos)
        buckets = resolve_buckets(args)
    except Exception as exc:
        print(f"workload: {exc}", file=sys.stderr)
        return 2
    s3 = s3_client(args.endpoint_url, buckets.region)
    uploads = upload_videos(
        s3,
        buckets.input,
        files,
        rate=args.rate,
        prefix=args.prefix,
        workers=args.workers,
        progress=not args.no_progress,
    )
    failed = [u for u in uploads if u.error]
    for upload in failed:
        print(f"workload: upload failed: {upload.error}", file=sys.stderr)
    good = [u for u in uploads if not u.error]
    if good:
        span = max(u.finished for u in good) - min(u.started for u in good)
        print(f"uploaded {len(good)} of {len(uploads)} videos to s3://{buckets.input}/{args.prefix} in {span:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
