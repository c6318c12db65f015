"""Upload a folder of videos to a stack's input bucket, at once or paced like the course's generator.

    python -m tools.workload VIDEOS_DIR [--stack Pulumi.dev.yaml] [--rate 1] [--prefix run1/]
    python -m tools.workload VIDEOS_DIR --endpoint-url http://127.0.0.1:PORT   # a local stack

Works against AWS or the local stack alike: ordinary boto3, credentials and region from the usual
places, `--endpoint-url` (or AWS_ENDPOINT_URL) for anything that is not AWS. The bucket comes from
the stack's outputs (`--outputs FILE`, or `pulumi stack output`) or the stack file
(`<namePrefix>-input`) unless given (tools/target.py). Each file's key is its name (plus
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

from pipeline_common import keys
from tools import cli


@dataclass(frozen=True)
class Buckets:
    input: str
    stage1: str
    output: str
    region: str | None = None
    faces: str | None = None  # the live face database's bucket (tools.enroll); not one grade checks
    library: str | None = None  # face thumbnails and boxes (tools.report); not one grade checks

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
    from tools.target import add_outputs_argument

    g = parser.add_argument_group("which stack (AWS or local; tools/README.md, Which stack)")
    add_outputs_argument(g)
    g.add_argument(
        "--stack",
        type=Path,
        default=None,
        help="Pulumi stack file whose namePrefix names the buckets (default: `pulumi stack output` when a "
        "stack is selected, else Pulumi.dev.yaml)",
    )
    g.add_argument("--name-prefix", help="bucket prefix: <prefix>-input, <prefix>-stage-1, <prefix>-output")
    g.add_argument("--input-bucket")
    g.add_argument("--stage1-bucket")
    g.add_argument("--output-bucket")
    g.add_argument("--faces-bucket", help="the live face database's bucket (default: <prefix>-faces)")
    g.add_argument("--library-bucket", help="face thumbnails and boxes, for tools.report (default: <prefix>-library)")
    g.add_argument(
        "--endpoint-url",
        help="S3 endpoint for a non-AWS stack, e.g. the local stack's (default: AWS, or $AWS_ENDPOINT_URL)",
    )
    g.add_argument("--region", help="AWS region (default: the stack file's aws:region, else your AWS config)")


def resolve_buckets(args: argparse.Namespace) -> Buckets:
    """Explicit bucket flags win, then --name-prefix, then the stack's outputs or stack file."""
    from tools.target import resolve_target

    return resolve_target(args).buckets


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
    # disable=None: drawn on a terminal only; a pipe or a file gets no progress bar.
    bar = tqdm(
        total=len(uploads), unit="video", desc=f"upload → {bucket}", disable=None if progress else True, file=sys.stderr
    )

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
    from tools.target import failure_status, preflight, resolve_target

    try:
        files = video_files(args.videos)
        target = resolve_target(args)
    except Exception as exc:
        print(f"workload: {exc}", file=sys.stderr)
        return 2
    buckets = target.buckets
    try:
        preflight(target)
    except Exception as exc:
        return failure_status("workload", exc, target)
    s3 = target.client("s3")
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
