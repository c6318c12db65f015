"""S3 in, S3 out: read each frame named by an event, recognise it, write `<stem>.txt` with the name.

Knows nothing of Lambda (handler.py is the thin entry point), so the local stack, the benchmark
and the tests drive exactly this code.

Writes are idempotent: the result key follows from the frame key and the content from the frame,
so a duplicate delivery (S3 and Lambda's async retries deliver at least once) overwrites the one
result object with the same bytes. A frame that cannot be read or decoded, or that is over the
pipeline's frame limits (pipeline_common.limits: refused from its length and its header, before it
is buffered or decoded), writes nothing and raises an error naming s3://bucket/key; the other
frames of the same event are still processed.

Each result says which face database answered: its version (face_recognizer.databases) is in the
log line and in the result object's metadata (`x-amz-meta-face-db-version`), which tools.grade and
`local run` show.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from face_recognizer import library
from face_recognizer.config import ConfigError, RecognizerConfig
from face_recognizer.databases import FixedDatabase, Held, LiveDatabase, NoDatabase
from face_recognizer.facedb import FaceDatabase, FaceDatabaseError
from face_recognizer.faces import ModelError
from face_recognizer.library import LibraryConfig, is_database_change
from face_recognizer.onnx_models import OnnxFaceModels
from face_recognizer.recognizer import FrameError, FrameTooLarge, Recognizer, check_names, decode_frame
from face_recognizer.relabel import Library
from face_recognizer.thumbnails import Crops, ThumbnailError, Thumbnails, first_frame, timeline_faces
from face_recognizer.timeline import SCHEMA_VERSION, FaceMatch, FrameFaces, build, match_faces
from face_recognizer.tracking import Tracker
from face_recognizer.workload import TimelineWork
from pipeline_common import aws, frames, limits
from pipeline_common.env import DEFAULT_MAX_FRAMES, DEFAULT_TRACKING_SECONDS, FIRST_FRAME, TIMELINE
from pipeline_common.events import Permanent, S3Object, process_each
from pipeline_common.keys import result_key, timeline_key
from pipeline_common.log import Laps, fields, get_logger, log_startup_failure, request

if TYPE_CHECKING:
    from botocore.client import BaseClient

SERVICE = "face-recognition"
SOURCE_VIDEO_METADATA = "source-video"  # the splitter's x-amz-meta-source-video on a first frame
RESULT_CONTENT_TYPE = "text/plain; charset=utf-8"
# The result object's metadata key naming the database version that answered (x-amz-meta-face-db-version).
VERSION_METADATA = "face-db-version"
TIMELINE_CONTENT_TYPE = "application/json"


class StartupError(RuntimeError):
    """The function cannot start: a setting, the face database or the weights are at fault."""


class RecognitionError(RuntimeError):
    """One or more frames of an event could not be recognised; the message names each object."""


class TimelineTooLong(RecognitionError, Permanent):
    """The frames object's timeline cannot be made in the invocation's time, and never will be."""


class RecognitionService:
    def __init__(
        self,
        recognizer: Recognizer,
        output_bucket: str,
        *,
        s3: BaseClient | None = None,
        logger: logging.Logger | None = None,
        faces: FixedDatabase | LiveDatabase | None = None,
        analysis: str = FIRST_FRAME,
        max_frames: int = DEFAULT_MAX_FRAMES,
        library: Library | None = None,
        thumbnails: Thumbnails | None = None,
        tracking_s: float = DEFAULT_TRACKING_SECONDS,
    ) -> None:
        """`faces` is where each frame's database comes from; by default the recognizer's own, fixed.
        `analysis` TIMELINE: each object is a video's sampled frames (pipeline_common.frames), at most
        `max_frames` of them."""
        self.recognizer = recognizer
        self.analysis = analysis
        self.max_frames = max_frames
        self.tracking_s = tracking_s  # timeline: a followed face is embedded again after this long; 0: every sample
        self.output_bucket = output_bucket
        self.s3 = s3 if s3 is not None else aws.client("s3")
        self.log = logger or get_logger(SERVICE)
        if faces is None:
            if recognizer.database is None:
                raise StartupError("no face database: give the recognizer one, or a live database")
            faces = FixedDatabase(recognizer.database)
        self.faces = faces
        self.library = library  # face_recognizer.relabel: files each result; None: results only
        self.thumbnails = thumbnails  # each answer's face thumbnails for the HTML report (face_recognizer.thumbnails)

    def handle_event(
        self, event: Mapping[str, Any], request_id: str | None = None, *, deadline: float | None = None
    ) -> list[dict]:
        """Recognise every frame the event names; raise RecognitionError if any failed. `deadline`
        (time.monotonic()) is when a timeline must have been written (the invocation's end, less a
        margin to report in); None: no limit."""
        with request(request_id):
            if self.library is not None and is_database_change(event, getattr(self.faces, "bucket", None)):
                return [self.relabel()]
            if self.analysis == TIMELINE:
                return process_each(
                    event, lambda obj: self.timeline(obj, deadline), log=self.log, noun="frames", error=RecognitionError
                )
            return process_each(event, self.process, log=self.log, noun="frame", error=RecognitionError)

    def process(self, obj: S3Object) -> dict:
        laps = Laps()
        held = self._held(obj)
        laps.lap("database")
        data, metadata = self._read(obj)
        laps.lap("read")
        recognition = self.recognizer.recognise_bytes(data, str(obj), held.database)
        laps.add(recognition.timings_ms)
        out_key = result_key(obj.key)
        if self.thumbnails is not None:  # before the result: whoever sees a result finds its faces
            r = recognition
            video = library.video_key(metadata.get(SOURCE_VIDEO_METADATA) or obj.key)
            image = decode_frame(data, str(obj))
            self._thumbnails(obj, lambda t: t.write(video, *first_frame(image, r.name, r.distance, r.box, r.faces)))
            del image
        self._write(obj, out_key, recognition.name, held.version)
        if self.library is not None:
            r = recognition
            faces = library.first_frame_faces(r.name, r.distance, r.box, r.embedding)
            video = library.video_key(metadata.get(SOURCE_VIDEO_METADATA) or obj.key)
            self._file(obj, video, FIRST_FRAME, out_key, None, 0.0, held.version, faces)
        laps.lap("write")
        answer = {"name": recognition.name, "distance": recognition.distance, "faces": recognition.faces}
        return self._answered("frame recognised", obj, "frame", out_key, held.version, laps, answer)

    def timeline(self, obj: S3Object, deadline: float | None = None) -> dict:
        """analysis: timeline: a video's sampled frames (one stage-1 object) in, `<stem>.json` (who
        appears when: face_recognizer.timeline) and `<stem>.txt` (the person seen most) out.

        The frames are read as a stream, one at a time: the function holds one frame and its
        detection, as in first-frame mode, however many frames the video has. All of them are
        matched against the same database version (the one current when the video started), so
        one timeline never mixes two. Past `deadline` it stops and fails naming the object and how
        far it got, rather than letting Lambda end it without a word."""
        laps = Laps()
        held = self._held(obj)
        laps.lap("database")
        crops = Crops() if self.thumbnails is not None else None
        index, results, crowded = self.frames_faces(obj, held, laps, deadline, crops)
        models = self.recognizer.models
        document = {
            "schema_version": SCHEMA_VERSION,
            "video": index.video,
            "frames_object": str(obj),
            "analysis": TIMELINE,
            "sample_fps": index.sample_fps,
            **build(results, index.interval_s),
            "distance_threshold": self.recognizer.distance_threshold,
            "max_faces_per_frame": limits.MAX_FACES_PER_FRAME,  # the largest boxes first
            "frames_over_face_cap": crowded,
            "database": {"version": held.version},
            "model": {
                "source_sha256": models.manifest.get("source_sha256"),
                "untrained": models.untrained,
                "format": models.manifest.get("format"),
                "precision": models.precision,  # each network's (recognizerPrecision: int8 moves the embedding)
            },
        }
        out_key, json_key = result_key(obj.key), timeline_key(obj.key)
        if crops is not None:  # each range's best face, before the result
            entries, thumbs = timeline_faces(document, crops.faces)
            size = list(crops.frame_size) if crops.frame_size else None
            report = {"analysis": TIMELINE, "frame_size": size, "faces": entries}
            video = library.video_key(index.video)
            self._thumbnails(obj, lambda t: t.write(video, report, thumbs))
        # The timeline first: whoever sees the text answer can read the timeline beside it.
        self._put(
            obj,
            json_key,
            json.dumps(document, indent=1, allow_nan=False).encode("utf-8"),
            TIMELINE_CONTENT_TYPE,
            held.version,
        )
        self._write(obj, out_key, document["answer"], held.version)
        if self.library is not None:
            stored = tuple(library.frames_of(results))
            video = library.video_key(index.video)
            self._file(obj, video, TIMELINE, out_key, json_key, index.interval_s, held.version, stored)
        laps.lap("write")
        answer = {
            "name": document["answer"],
            "people": [p["name"] for p in document["people"]],
            "frames": document["frames_analysed"],
            "frames_without_face": document["frames_without_face"],
            "timeline": f"s3://{self.output_bucket}/{json_key}",
        }
        return self._answered("timeline recognised", obj, "frames_object", out_key, held.version, laps, answer)

    def frames_faces(
        self, obj: S3Object, held: Held, laps: Laps, deadline: float | None = None, crops: Crops | None = None
    ) -> tuple[frames.Index, list[FrameFaces], int]:
        """Every face of every frame of a frames object, read as a stream one frame at a time, each
        matched against `held`'s database, and how many frames had more faces than the cap;
        RecognitionError naming the object (TimelineTooLong when the rest cannot fit before `deadline`).
        `crops`: each face's crop is kept there too (the report's thumbnails)."""
        body, size = self._open_frames(obj)
        results: list[FrameFaces] = []
        crowded = 0  # frames with more faces than MAX_FACES_PER_FRAME
        try:
            reader = frames.read(body, str(obj), max_frames=self.max_frames, size=size)
            index = next(reader)
            assert isinstance(index, frames.Index)
            laps.lap("read")
            work = TimelineWork(len(index.frames))
            tracker: Tracker[FaceMatch] | None = Tracker(self.tracking_s) if self.tracking_s > 0 else None
            for item in reader:
                assert isinstance(item, tuple)
                entry, jpeg = item
                laps.lap("read")
                started = time.monotonic()
                refusal = work.refusal(started, deadline, laps.stages)
                if refusal:
                    raise TimelineTooLong(f"{obj}: {refusal}")
                image = decode_frame(jpeg, f"{obj} ({entry.name}, {entry.t:g} s)")
                del jpeg
                laps.lap("decode")
                threshold = self.recognizer.distance_threshold
                faces, found = match_faces(
                    self.recognizer.models, image, held.database, threshold, laps, tracker, entry.t
                )
                if crops is not None:
                    crops.add(entry.t, image, [face.box for face in faces])
                del image
                results.append(FrameFaces(entry.t, faces))
                crowded += found > len(faces)
                work.frame_done(time.monotonic() - started, sum(not face.tracked for face in faces))
        except frames.FramesError as exc:
            raise RecognitionError(str(exc)) from None
        finally:
            body.close()
        return index, results, crowded

    def _file(
        self,
        obj: S3Object,
        video: str,
        analysis: str,
        out_key: str,
        json_key: str | None,
        interval_s: float,
        version: str,
        faces: tuple[dict, ...],
    ) -> None:
        """The library's part of a result (faces.json, the appearances table, one event)."""
        assert self.library is not None
        filed = library.Filed(
            video, analysis, self.output_bucket, out_key, json_key, str(obj), interval_s,
            self.recognizer.distance_threshold, version, library.now_iso(), faces,
        )  # fmt: skip
        try:
            self.library.record(filed)
        except Exception as exc:  # the result is written; the library's part is retried with the event
            raise RecognitionError(f"{obj}: cannot file the result in the library ({exc})") from None

    def _thumbnails(self, obj: S3Object, write: Callable[[Thumbnails], object]) -> None:
        assert self.thumbnails is not None
        try:
            write(self.thumbnails)
        except ThumbnailError as exc:
            raise RecognitionError(f"{obj}: {exc}") from None

    def relabel(self) -> dict:
        """The live database changed: match every stored result again (face_recognizer.relabel)."""
        assert self.library is not None
        refresh = getattr(self.faces, "refresh", None)
        held = refresh() if callable(refresh) else self.faces.current()
        return self.library.relabel_all(held.database, held.version)

    def _held(self, obj: S3Object) -> Held:
        """The database (and its version) that answers for this object; a live one may look for a
        new version first. None to be had: a RecognitionError naming the object."""
        try:
            return self.faces.current()
        except NoDatabase as exc:
            raise RecognitionError(f"{obj}: {exc}") from None

    def _answered(
        self, message: str, obj: S3Object, source: str, out_key: str, version: str, laps: Laps, answer: dict
    ) -> dict:
        """Both analyses end alike: one log line (what was read, what was written, the answer, the
        database version, the stages' times) and the invocation's own answer with the same facts."""
        output = f"s3://{self.output_bucket}/{out_key}"
        untrained = self.recognizer.models.untrained
        facts = {source: str(obj), "result": output, **answer, "face_db_version": version}
        self.log.info(message, extra=fields(**facts, untrained_weights=untrained, ms=laps.ms()))
        return {"bucket": obj.bucket, "key": obj.key, **answer, "output": output, "face_db_version": version}

    def _open_frames(self, obj: S3Object) -> tuple[Any, int]:
        """The frames object's body, to be read as a stream, and its length; refused from its length
        when it could not be one the splitter writes with MAX_FRAMES."""
        response = self._get(obj, "the frames")
        size, largest = int(response.get("ContentLength") or 0), frames.largest_object(self.max_frames)
        if size > largest:
            response["Body"].close()
            raise RecognitionError(
                f"{obj}: {size:,} bytes, more than {self.max_frames} frames (MAX_FRAMES) at the pipeline's "
                f"frame limit can take ({largest:,})"
            )
        return response["Body"], size

    def _get(self, obj: S3Object, what: str) -> dict:
        """GetObject's response, or a RecognitionError naming the object, `what` it is and S3's error."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.s3.get_object(Bucket=obj.bucket, Key=obj.key)
        except ClientError as exc:
            raise RecognitionError(f"{obj}: cannot read {what} ({aws.error_code(exc)})") from None
        except BotoCoreError as exc:
            raise RecognitionError(f"{obj}: cannot read {what} ({exc})") from None

    def _put(self, obj: S3Object, key: str, body: bytes, content_type: str, version: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3.put_object(
                Bucket=self.output_bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata={VERSION_METADATA: version},
            )
        except (ClientError, BotoCoreError) as exc:
            raise RecognitionError(f"{obj}: cannot write s3://{self.output_bucket}/{key} ({aws.reason(exc)})") from None

    def _read(self, obj: S3Object) -> tuple[bytes, dict]:
        from botocore.exceptions import BotoCoreError

        response = self._get(obj, "the frame")
        # The frame byte limit (pipeline_common.limits): from the object's length, and again while
        # reading, so nothing beyond it is ever buffered.
        body = response["Body"]
        try:
            refusal = limits.bytes_refusal(response.get("ContentLength") or 0)
            data = b"" if refusal else body.read(limits.MAX_FRAME_BYTES + 1)
            refusal = refusal or limits.bytes_refusal(len(data))
            if refusal:
                body.close()
                raise FrameTooLarge(f"{obj}: {refusal}")
            data += body.read()  # b"" at the end, where botocore checks the length it was told
        except BotoCoreError as exc:  # cut off while reading
            raise RecognitionError(f"{obj}: cannot read the frame ({exc})") from None
        not_jpeg = limits.jpeg_refusal(data) if data else None  # empty: decode_frame names it
        if not_jpeg:
            raise FrameError(f"{obj}: {not_jpeg}; the pipeline's frames are JPEGs")
        return data, response.get("Metadata") or {}

    def _write(self, obj: S3Object, out_key: str, name: str, version: str) -> None:
        """`<stem>.txt`: the name, as the course's grader reads it."""
        self._put(obj, out_key, name.encode("utf-8"), RESULT_CONTENT_TYPE, version)


def load(environ: Mapping[str, str], *, warm_up: bool = False) -> tuple[RecognizerConfig, Recognizer[OnnxFaceModels]]:
    """The settings, the face database file and the models the function would start with, checked;
    StartupError (caused by the original error) naming the variable or file at fault. A live
    database is not read here (the Recognizer then has none): faces() reads it.

    start() runs this at init; the local stack runs it before starting anything, so a database or
    model the function would refuse stops the stack with the function's own message.
    """
    try:
        config = RecognizerConfig.from_env(environ)
        path = config.face_db_path
        database = None if path is None else check_names(FaceDatabase.load(path), f"face database {path}")
        models = OnnxFaceModels.load(config.model_dir, config.threads, precision=config.precision, warm_up=warm_up)
        return config, Recognizer(models, database, config.distance_threshold)
    except (ConfigError, FaceDatabaseError, ModelError) as exc:
        raise StartupError(str(exc)) from exc


def faces(
    config: RecognizerConfig, recognizer: Recognizer, s3: BaseClient, log: logging.Logger
) -> FixedDatabase | LiveDatabase:
    """Where each frame's database comes from: the file load() read, or the live object, read now."""
    live = config.live_database
    if live is None:
        assert recognizer.database is not None  # load() read the file
        return FixedDatabase(recognizer.database)
    return LiveDatabase(s3, live.bucket, live.key, reload_s=live.reload_s, log=log).load()


def start(
    environ: Mapping[str, str] | None = None, *, s3: BaseClient | None = None, warm_up: bool = True
) -> RecognitionService:
    """Read the settings, load the face database and the models: once per process.

    Any problem becomes one StartupError whose message names the variable or file at fault. A live
    database that is not there yet is not a problem: the function starts and answers once one is.
    """
    environ = os.environ if environ is None else environ
    try:
        config, recognizer = load(environ, warm_up=warm_up)
    except StartupError as exc:
        log_startup_failure(SERVICE, str(exc), type(exc.__cause__).__name__)
        raise StartupError(str(exc)) from None
    models = recognizer.models
    log = get_logger(SERVICE)
    s3 = s3 if s3 is not None else aws.client("s3")
    database = faces(config, recognizer, s3, log)
    log.info(
        "started",
        extra=fields(
            **database.describe(),
            output_bucket=config.output_bucket,
            threads=config.threads,
            distance_threshold=config.distance_threshold,
            models=str(config.model_dir),
            weights=str(models.checkpoint),
            weights_sha256=models.manifest.get("source_sha256"),
            untrained_weights=models.untrained,
            precision=models.precision,
            int8_agreement=models.agreement,  # what each int8 graph was checked against (export_models)
            int8_sums_exact=models.int8_sums_exact,
            analysis=config.analysis,
        ),
    )
    if models.int8_sums_exact is False:
        log.warning(
            "this CPU's int8 kernels add products in 16 bits (no VNNI): the int8 graphs may not give "
            "exactly what their agreement figures were measured with"
        )
    if models.untrained:
        log.warning(
            "the vggface2 weights are an untrained stand-in: names are only meaningful against "
            "faces enrolled with the same file"
        )
    return RecognitionService(
        recognizer,
        config.output_bucket,
        s3=s3,
        logger=log,
        faces=database,
        analysis=config.analysis,
        max_frames=config.max_frames,
        tracking_s=config.tracking_s,
        library=(opened := open_library(environ, s3, log)),
        thumbnails=None if opened is None else Thumbnails(s3, opened.config.bucket),
    )


def open_library(environ: Mapping[str, str], s3: Any, log: logging.Logger) -> Library | None:
    """The library (face_recognizer.library) when the stack gives one; None otherwise."""
    try:
        config = LibraryConfig.from_env(environ)
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    if config is None:
        return None
    return Library(config, s3=s3, dynamodb=aws.client("dynamodb"), sns=aws.client("sns"), log=log)
