"""S3 in, S3 out: each video an event names becomes its first frame, `<stem>.jpg` in stage-1.

Knows nothing of Lambda (handler.py is the thin entry point), so the local stack, the benchmark
and the tests drive exactly this code.

Reading: the video is downloaded to a private temp file and ffmpeg reads that file, rather than
ffmpeg reading a presigned URL. Measured on the course videos (bench/README.md): over plain
HTTP the URL saves the ~9 ms download, but over HTTPS, which is how S3 is reached in production,
ffmpeg's own TLS connection and reads cost ~50 ms more than boto3's download, and the URL loses by
~35 ms per video. The download also keeps S3 behind boto3 (verified TLS, retries, errors
that say NoSuchKey rather than an HTTP status in ffmpeg's words), keeps credentials out of
ffmpeg's command line and messages, and lets ffmpeg open local files only. Temp names come from
`tempfile`, never from the key, and the folder is gone when `process` returns or raises: warm
containers share /tmp.

Failure policy: every record of an event is processed even when an earlier one fails; the good
ones are written, and the event then fails with one error naming each failed s3://bucket/key, so
Lambda's asynchronous retries and the dead-letter queue apply. A retry of the whole event is
harmless: the frame key follows from the video key and the JPEG from the video (ffmpeg's output
is deterministic), so a repeat overwrites the one frame with the same bytes, and a repeated
recognizer invocation rewrites the same result.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline_common import aws, frames
from pipeline_common.events import S3Object, process_each
from pipeline_common.keys import VIDEO_METADATA, accepted_suffixes, frame_key, frames_key, is_folder_marker, is_video
from pipeline_common.log import Laps, fields, get_logger, log_startup_failure, request
from video_splitting import ffmpeg
from video_splitting.config import ConfigError, SplitterConfig

SERVICE = "video-splitting"
FRAME_CONTENT_TYPE = "image/jpeg"
_COPY_CHUNK = 1 << 20
_TMP_HEADROOM = 16 << 20  # left free in /tmp beside the video (ffmpeg writes nothing there itself)


class StartupError(RuntimeError):
    """The function cannot start: a setting or the ffmpeg binary is at fault."""


class SplitError(RuntimeError):
    """One or more videos of an event could not be split; the message names each object."""


class SplittingService:
    def __init__(
        self,
        config: SplitterConfig,
        *,
        s3=None,
        lambda_=None,
        logger: logging.Logger | None = None,
        temp_dir: str | None = None,
    ):
        self.config = config
        self.s3 = s3 if s3 is not None else aws.client("s3")
        self.lambda_ = None
        if config.recognizer_function:
            self.lambda_ = lambda_ if lambda_ is not None else aws.client("lambda")
        self.log = logger or get_logger(SERVICE)
        self.temp_dir = temp_dir  # None: tempfile's default (/tmp on Lambda)

    def handle_event(
        self, event: Mapping[str, Any], *, request_id: str | None = None, timeout_s: float = ffmpeg.DEFAULT_TIMEOUT_S
    ) -> list[dict]:
        """Split every video the event names; raise SplitError naming each one that failed."""
        with request(request_id):
            frames = process_each(
                event, lambda obj: self.process(obj, timeout_s=timeout_s), log=self.log, noun="video", error=SplitError
            )
        return [frame for frame in frames if frame is not None]

    def process(self, obj: S3Object, *, timeout_s: float = ffmpeg.DEFAULT_TIMEOUT_S) -> dict | None:
        """The first frame of one video written to stage-1 (and handed to the recognizer); its bucket
        and key. None for a folder marker; SplitError for any other object that is not a video."""
        # The input bucket notifies us of every object (S3's suffix filters are case-sensitive):
        # decide here, by the key alone, before reading anything.
        if is_folder_marker(obj.key):
            self.log.info(
                "skipped",
                extra=fields(video=str(obj), reason="a folder marker (an empty key ending in /), not an upload"),
            )
            return None
        if not is_video(obj.key):
            raise SplitError(f"{obj}: not a video the pipeline accepts: the name must end in {accepted_suffixes()}")
        if self.config.timeline:
            return self._timeline(obj, timeout_s=timeout_s)
        out = S3Object(self.config.stage1_bucket, frame_key(obj.key))
        laps = Laps()
        with tempfile.TemporaryDirectory(prefix="vfp-split-", dir=self.temp_dir) as folder:
            # A fixed name inside a private folder: the key never touches the file system.
            video = Path(folder) / "video"
            size = self._download(obj, video)
            laps.lap("download")
            frame = ffmpeg.first_frame(self.config.ffmpeg_path, video, label=str(obj), timeout_s=timeout_s)
        laps.lap("ffmpeg")
        self._put(obj, out, frame.jpeg, FRAME_CONTENT_TYPE, "the frame")
        laps.lap("upload")
        facts = {"frame": str(out), "video_bytes": size, "frame_bytes": len(frame.jpeg), "decode": frame.method}
        self._hand_off(obj, out, laps, "frame written", facts)
        return {"bucket": out.bucket, "key": out.key}

    def _timeline(self, obj: S3Object, *, timeout_s: float) -> dict:
        """analysis: timeline: frames sampled over the whole video, written as ONE stage-1 object,
        `<stem>.tar` (pipeline_common.frames: why one object), and handed to the recognizer as such."""
        config = self.config
        out = S3Object(config.stage1_bucket, frames_key(obj.key))
        laps = Laps()
        with tempfile.TemporaryDirectory(prefix="vfp-split-", dir=self.temp_dir) as folder:
            video = Path(folder) / "video"  # fixed names inside a private folder, as above
            size = self._download(obj, video)
            laps.lap("download")
            sampled = Path(folder) / "frames"
            sampled.mkdir()
            samples = ffmpeg.sample_frames(
                config.ffmpeg_path,
                video,
                sampled,
                label=str(obj),
                fps=config.sample_fps,
                max_frames=config.max_frames,
                timeout_s=timeout_s,
            )
            video.unlink()  # its space goes to the object written next
            laps.lap("ffmpeg")
            index = frames.Index(
                video=str(obj),
                sample_fps=config.sample_fps,
                max_frames=config.max_frames,
                frames=tuple(
                    frames.Entry(frames.frame_name(i), f.t, f.width, f.height, f.size)
                    for i, f in enumerate(samples.frames)
                ),
            )
            package = Path(folder) / "frames.tar"
            try:
                object_bytes = frames.write(package, index, [f.path for f in samples.frames])
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise SplitError(
                        f"{obj}: its {len(index.frames)} sampled frames do not fit in the function's temporary "
                        "storage (raise splitterEphemeralStorage, or lower sampleFps or maxFrames)"
                    ) from None
                raise SplitError(f"{obj}: cannot package the sampled frames ({exc})") from None
            if object_bytes > frames.S3_PUT_LIMIT:
                raise SplitError(
                    f"{obj}: its sampled frames come to {object_bytes:,} bytes, over the {frames.S3_PUT_LIMIT:,} "
                    "one S3 PUT may write (lower sampleFps or maxFrames)"
                )
            self._put(obj, out, package, frames.CONTENT_TYPE, "the sampled frames")
        laps.lap("upload")
        facts = {
            "frames_object": str(out),
            "video_bytes": size,
            "frames": len(index.frames),
            "last_frame_s": index.frames[-1].t,
            "object_bytes": object_bytes,
            "sample_fps": config.sample_fps,
        }
        self._hand_off(obj, out, laps, "frames written", facts)
        return {"bucket": out.bucket, "key": out.key, "frames": len(index.frames)}

    def _hand_off(self, obj: S3Object, out: S3Object, laps: Laps, message: str, facts: dict) -> None:
        """Both analyses end alike: the recognizer invoked (direct invocation only; event-driven
        wiring lets S3 tell it), then one log line of what was written and how long each step took."""
        if self.lambda_ is not None:
            self._invoke_recognizer(self.lambda_, obj, out)
        laps.lap("invoke")
        extra = fields(video=str(obj), **facts, recognizer=self.config.recognizer_function, ms=laps.ms())
        self.log.info(message, extra=extra)

    def _download(self, obj: S3Object, target: Path) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.s3.get_object(Bucket=obj.bucket, Key=obj.key)
        except ClientError as exc:
            raise SplitError(f"{obj}: cannot read the video ({_describe(exc)})") from None
        except BotoCoreError as exc:
            raise SplitError(f"{obj}: cannot read the video ({exc})") from None
        body = response["Body"]
        try:
            size = int(response.get("ContentLength") or 0)
            if size == 0:
                raise SplitError(f"{obj}: the object is empty (0 bytes), not a video")
            free = shutil.disk_usage(target.parent).free
            if size + _TMP_HEADROOM > free:
                raise SplitError(
                    f"{obj}: {size} bytes do not fit in the function's temporary storage "
                    f"({free} bytes free); raise splitterEphemeralStorage"
                )
            with open(target, "wb") as fh:
                shutil.copyfileobj(body, fh, _COPY_CHUNK)
            written = os.path.getsize(target)
        except (BotoCoreError, OSError) as exc:
            raise SplitError(f"{obj}: cannot download the video ({exc})") from None
        finally:
            body.close()
        if written != size:
            raise SplitError(f"{obj}: download ended after {written} of {size} bytes")
        return size

    def _put(self, obj: S3Object, out: S3Object, body: bytes | Path, content_type: str, what: str) -> None:
        """Write `what` (bytes, or a file streamed from disk, never held in memory whole) to `out`;
        a SplitError naming the video, the object and S3's error when it cannot."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if isinstance(body, Path):
                with open(body, "rb") as fh:
                    self.s3.put_object(Bucket=out.bucket, Key=out.key, Body=fh, ContentType=content_type)
            else:
                # The video it came from (face_recognizer.library files the frame's faces under it).
                metadata = {VIDEO_METADATA: urllib.parse.quote(obj.key, safe="")}
                self.s3.put_object(
                    Bucket=out.bucket, Key=out.key, Body=body, ContentType=content_type, Metadata=metadata
                )
        except ClientError as exc:
            raise SplitError(f"{obj}: cannot write {what} to {out} ({_describe(exc)})") from None
        except (BotoCoreError, OSError) as exc:
            raise SplitError(f"{obj}: cannot write {what} to {out} ({exc})") from None

    def _invoke_recognizer(self, lambda_, obj: S3Object, frame: S3Object) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # The recognizer takes the key as is (a direct payload is not URL-encoded).
        payload = json.dumps({"bucket": frame.bucket, "key": frame.key}).encode("utf-8")
        name = self.config.recognizer_function
        try:
            response = lambda_.invoke(FunctionName=name, InvocationType="Event", Payload=payload)
        except ClientError as exc:
            raise SplitError(f"{obj}: frame {frame} written, but invoking {name} failed ({_describe(exc)})") from None
        except BotoCoreError as exc:
            raise SplitError(f"{obj}: frame {frame} written, but invoking {name} failed ({exc})") from None
        status = response.get("StatusCode")
        if status != 202:  # what an accepted asynchronous invocation answers
            raise SplitError(
                f"{obj}: frame {frame} written, but {name} did not accept the invocation (status {status})"
            )


def _describe(exc) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code") or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "error"))
    # Without s3:ListBucket, S3 answers a missing key with 403, not 404: say so rather than guess.
    denied = "access denied: the function's role does not allow it, or the object does not exist"
    meaning = {
        "NoSuchKey": "no such object",
        "404": "no such object",
        "NoSuchBucket": "no such bucket",
        "AccessDenied": denied,
        "403": denied,
        "ResourceNotFoundException": "no such function",
        "AccessDeniedException": "access denied: the function's role may not invoke it",
    }.get(code)
    return f"{code}: {meaning}" if meaning else code


def start(environ: Mapping[str, str] | None = None, *, s3=None, lambda_=None) -> SplittingService:
    """Read the settings, check the ffmpeg binary and create the AWS clients: once per process.

    Any problem becomes one StartupError whose message names the variable at fault.
    """
    environ = os.environ if environ is None else environ
    try:
        config = SplitterConfig.from_env(environ)
        version = ffmpeg.check_binary(config.ffmpeg_path)
    except (ConfigError, ffmpeg.FfmpegError) as exc:
        message = str(exc) if isinstance(exc, ConfigError) else f"FFMPEG_PATH: {exc}"
        log_startup_failure(SERVICE, message, type(exc).__name__)
        raise StartupError(message) from None
    log = get_logger(SERVICE)
    log.info(
        "started",
        extra=fields(
            stage1_bucket=config.stage1_bucket,
            ffmpeg=config.ffmpeg_path,
            ffmpeg_version=version,
            recognizer=config.recognizer_function,
            analysis=config.analysis,
            **({"sample_fps": config.sample_fps, "max_frames": config.max_frames} if config.timeline else {}),
        ),
    )
    return SplittingService(config, s3=s3, lambda_=lambda_, logger=log)
