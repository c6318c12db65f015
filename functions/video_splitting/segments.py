"""analysis: timeline, any length: the splitter's two parts of a video's Step Functions execution.

`start` (an upload's S3 event): the video's size from HeadObject and its duration from ffmpeg,
both checked against pipeline_common.limits (6 h, 10 GB), the segments planned
(pipeline_common.segments) and ONE execution started, named from the bucket, key and ETag, so a
repeated notification or the same bytes uploaded again start nothing new.

`sample` (one Map iteration): ffmpeg seeks to the segment (`-ss`, `-t` before `-i`: it reads
only from the keyframe before the start, over HTTP range requests) and samples it on the
video's sampling grid into one frames object, `segments/<video>/<n>.tar` in stage-1. The video is
read through a presigned GET URL, never downloaded: /tmp holds one segment's frames, whatever the
video's size. The URL (which carries a signature valid for the invocation's time) is replaced by
the object's name in every message. A decoder error inside the segment fails it, naming the video
and the segment: a timeline is never made of frames ffmpeg had to guess.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline_common import frames, limits, segments
from pipeline_common.events import S3Object
from pipeline_common.log import fields
from video_splitting import ffmpeg

# What ffmpeg may open: the presigned URL only (https on AWS, http on the local stack).
_PROTOCOLS = "https,tls,tcp,http"
_DURATION = re.compile(rb"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_DECODER_ERROR = re.compile(rb"^\[[^\]]+ @ 0x[0-9a-f]+\] \[(error|fatal|panic)\] .*$", re.MULTILINE)
_URL_SECONDS = 900  # a presigned URL outlives any invocation that uses it


class SegmentError(RuntimeError):
    """A video or one of its segments cannot be planned or sampled; the message names both."""


def presigned(s3: Any, obj: S3Object) -> str:
    return str(
        s3.generate_presigned_url("get_object", Params={"Bucket": obj.bucket, "Key": obj.key}, ExpiresIn=_URL_SECONDS)
    )


def probe_args(ffmpeg_path: str, url: str) -> list[str]:
    """ffmpeg opening the video and writing nothing: its header says the duration."""
    return [
        ffmpeg_path,
        "-nostdin",
        "-hide_banner",
        *ffmpeg.input_options(_PROTOCOLS),
        "-i",
        url,
        "-f",
        "null",
        "-frames:v",
        "0",
        "-",
    ]


def duration(ffmpeg_path: str, url: str, *, label: str, timeout_s: float) -> float:
    """The video's duration in seconds, from its container's header (no frame decoded)."""
    run = ffmpeg._run(probe_args(ffmpeg_path, url), timeout_s, label)
    found = _DURATION.search(run.stderr)
    if not found:
        raise SegmentError(f"{label}: {run.reason(url)}; no duration in its header")
    hours, minutes, seconds = found.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def sample_args(
    ffmpeg_path: str, url: str, folder: Path, segment: segments.Segment, fps: float, most: int
) -> list[str]:
    return [
        ffmpeg_path,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "level+error",
        *ffmpeg.input_options(_PROTOCOLS),
        "-ss",
        f"{segment.start_s:.6f}",
        "-t",
        f"{segment.end_s - segment.start_s:.6f}",
        "-i",
        url,
        "-vf",
        ffmpeg.sample_filter(fps),
        "-fps_mode",
        "passthrough",
        "-frames:v",
        str(most),
        *ffmpeg._jpeg_encoder(),
        "-stats_enc_pre",
        str(folder / ffmpeg.SAMPLE_TIMES),
        "-stats_enc_pre_fmt",
        "{n} {t}",
        "-f",
        "image2",
        str(folder / "%06d.jpg"),
    ]


def sample(
    ffmpeg_path: str,
    url: str,
    folder: Path,
    *,
    label: str,
    segment: segments.Segment,
    fps: float,
    max_frames: int,
    timeout_s: float,
) -> list[ffmpeg.Sample]:
    """The segment's samples (absolute times) as JPEGs in `folder`; SegmentError naming the segment."""
    where = f"{label} {segment.describe()}"
    run = ffmpeg._run(sample_args(ffmpeg_path, url, folder, segment, fps, max_frames), timeout_s, where)
    if run.timed_out:
        raise SegmentError(f"{where}: ffmpeg did not finish within {timeout_s:g} s (raise splitterTimeout)")
    ffmpeg._refuse_if_too_large(run, where)
    written = sorted(folder.glob("[0-9]" * 6 + ".jpg"))
    if run.ok and not written and segment.index > 0 and not _DECODER_ERROR.search(run.stderr):
        # The container's duration is its longest stream's: a video stream that ends before an
        # audio track leaves the last segments without a picture. Nothing to sample there.
        return []
    if not run.ok or not written:
        raise SegmentError(f"{where}: {run.reason(url)}")
    errors = _DECODER_ERROR.findall(run.stderr)
    if errors:
        lines = [m.group(0).decode("utf-8", "replace") for m in _DECODER_ERROR.finditer(run.stderr)]
        summary = "; ".join(re.sub(r"^\[[^\]]+\] \[\w+\] ", "", line) for line in lines[:2])
        raise SegmentError(f"{where}: corrupt: ffmpeg's decoder reported {len(lines)} error(s) ({summary})")
    times = _times(folder / ffmpeg.SAMPLE_TIMES, len(written), where)
    out = []
    for path, t in zip(written, times, strict=True):
        size = path.stat().st_size
        with open(path, "rb") as fh:
            dims = ffmpeg.jpeg_size(fh.read(min(size, 1 << 16)))
        refusal = limits.bytes_refusal(size) or (limits.frame_refusal(*dims) if dims else "no readable frame header")
        if refusal:
            raise SegmentError(f"{where}: frame at {t:g} s: {refusal}")
        assert dims is not None
        out.append(ffmpeg.Sample(path, round(segment.start_s + t, 6), dims[0], dims[1], size))
    return out


def _times(path: Path, count: int, where: str) -> list[float]:
    """Each frame's time within the segment (ffmpeg's -ss makes the segment's start 0)."""
    try:
        times = [float(line.split()[1]) for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    except (OSError, ValueError, IndexError) as exc:
        raise SegmentError(f"{where}: ffmpeg gave no readable frame times ({exc})") from None
    if len(times) != count or any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise SegmentError(f"{where}: ffmpeg's frame times ({len(times)}) do not match its {count} frames")
    return [max(0.0, t) for t in times]


class Segmenter:
    """The splitter's timeline work: start a video's execution, or sample one of its segments."""

    def __init__(self, service: Any):
        self.service = service  # video_splitting.service.SplittingService: config, s3, log
        self.config = service.config

    @property
    def sfn(self) -> Any:
        """The Step Functions client, made once per process (kept on the service)."""
        client = getattr(self.service, "stepfunctions", None)
        if client is None:
            from pipeline_common import aws

            client = self.service.stepfunctions = aws.client("stepfunctions")
        return client

    def state_machine_arn(self) -> str:
        """The state machine's ARN from its name, this account and region (STS answers who we are
        without any permission). By name, because the state machine's definition names the
        splitter: the splitter naming the state machine's ARN would be a cycle Pulumi cannot create."""
        cached = getattr(self.service, "state_machine_arn", None)
        if cached is None:
            from pipeline_common import aws

            sts = aws.client("sts")
            caller = sts.get_caller_identity()
            partition, account = str(caller["Arn"]).split(":")[1], str(caller["Account"])
            region = self.sfn.meta.region_name
            cached = f"arn:{partition}:states:{region}:{account}:stateMachine:{self.config.state_machine}"
            self.service.state_machine_arn = cached
        return str(cached)

    def start(self, obj: S3Object, *, timeout_s: float) -> dict:
        """Plan the video's segments and start its one execution; the execution's name and ARN."""
        config = self.config
        if not config.state_machine:
            raise SegmentError(f"{obj}: STATE_MACHINE_NAME is not set: a timeline stack starts an execution per video")
        head = self._head(obj)
        size = int(head.get("ContentLength") or 0)
        if size == 0:
            raise SegmentError(f"{obj}: the object is empty (0 bytes), not a video")
        if size > limits.MAX_VIDEO_BYTES:
            raise SegmentError(
                f"{obj}: {size:,} bytes, over the {limits.MAX_VIDEO_BYTES:,} bytes a timeline takes (10 GB)"
            )
        seconds = duration(config.ffmpeg_path, presigned(self.service.s3, obj), label=str(obj), timeout_s=timeout_s)
        if seconds > limits.MAX_VIDEO_SECONDS:
            raise SegmentError(
                f"{obj}: {seconds:,.0f} s long, over the {limits.MAX_VIDEO_SECONDS:,} s (6 h) a timeline takes"
            )
        try:
            planned = segments.plan(seconds, config.sample_fps, config.max_frames)
        except ValueError as exc:
            raise SegmentError(f"{obj}: {exc}") from None
        etag = str(head.get("ETag") or "")
        name = segments.execution_name(obj.bucket, obj.key, etag)
        document = {
            "video": {"bucket": obj.bucket, "key": obj.key, "etag": etag.strip('"'), "bytes": size},
            "duration_s": round(seconds, 3),
            "sample_fps": config.sample_fps,
            "segment_s": segments.segment_seconds(config.sample_fps, config.max_frames),
            "segments": [s.as_dict() for s in planned],
        }
        arn = self._start(obj, name, document)
        self.service.log.info(
            "execution started" if arn else "execution exists",
            extra=fields(video=str(obj), execution=name, segments=len(planned), duration_s=round(seconds, 3)),
        )
        return {"execution": name, "executionArn": arn, "segments": len(planned), "duration_s": round(seconds, 3)}

    def _head(self, obj: S3Object) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        from pipeline_common import aws

        try:
            return dict(self.service.s3.head_object(Bucket=obj.bucket, Key=obj.key))
        except ClientError as exc:
            raise SegmentError(f"{obj}: cannot read the video ({aws.error_code(exc)})") from None
        except BotoCoreError as exc:
            raise SegmentError(f"{obj}: cannot read the video ({exc})") from None

    def _start(self, obj: S3Object, name: str, document: dict) -> str | None:
        import json

        from botocore.exceptions import BotoCoreError, ClientError

        from pipeline_common import aws

        try:
            response = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn(), name=name, input=json.dumps(document)
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ExecutionAlreadyExists":
                return None  # this upload's execution ran already: one result, once
            raise SegmentError(f"{obj}: cannot start its execution {name} ({aws.error_code(exc)})") from None
        except BotoCoreError as exc:
            raise SegmentError(f"{obj}: cannot start its execution {name} ({exc})") from None
        return str(response["executionArn"])

    def sample(self, event: dict, *, timeout_s: float) -> dict:
        """One Map iteration's first task: the segment's frames written to stage-1; their object."""
        try:
            video = S3Object(str(event["video"]["bucket"]), str(event["video"]["key"]))
            etag = str(event["video"]["etag"])
            segment = segments.Segment.from_dict(event["segment"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SegmentError(f"not a segment to sample: {exc}") from None
        config, started = self.config, time.monotonic()
        out = S3Object(config.stage1_bucket, segments.frames_key(video.key, etag, segment.index))
        with tempfile.TemporaryDirectory(prefix="vfp-seg-", dir=self.service.temp_dir) as tmp:
            folder = Path(tmp) / "frames"
            folder.mkdir()
            samples = sample(
                config.ffmpeg_path,
                presigned(self.service.s3, video),
                folder,
                label=str(video),
                segment=segment,
                fps=config.sample_fps,
                max_frames=config.max_frames,
                timeout_s=timeout_s,
            )
            if not samples:  # past the end of the video stream: the recognizer has nothing to read
                self.service.log.info("segment empty", extra=fields(video=str(video), segment=segment.index))
                return {"bucket": out.bucket, "key": out.key, "frames": 0}
            index = frames.Index(
                video=str(video),
                sample_fps=config.sample_fps,
                max_frames=config.max_frames,
                frames=tuple(
                    frames.Entry(frames.frame_name(i), f.t, f.width, f.height, f.size) for i, f in enumerate(samples)
                ),
            )
            package = Path(tmp) / "frames.tar"
            size = frames.write(package, index, [f.path for f in samples])
            self.service._put(video, out, package, frames.CONTENT_TYPE, f"{segment.describe()}'s frames")
        self.service.log.info(
            "segment sampled",
            extra=fields(
                video=str(video),
                segment=segment.index,
                frames_object=str(out),
                frames=len(samples),
                object_bytes=size,
                ms=round((time.monotonic() - started) * 1000, 1),
            ),
        )
        return {"bucket": out.bucket, "key": out.key, "frames": len(samples)}
