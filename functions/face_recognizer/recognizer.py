"""One frame in, one name out: decode, find the face, embed it, look it up.

Every frame gets exactly one answer, so every video is accounted for:
- the nearest database name;
- NO_FACE when MTCNN finds no face in the frame;
- UNKNOWN when a distance threshold is set and the nearest entry is farther than it.
Both sentinels are words that no database may use as a name (Recognizer refuses such a database),
so a result can always be told apart from a person.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from PIL import Image, UnidentifiedImageError

from face_recognizer.facedb import FaceDatabase, FaceDatabaseError
from face_recognizer.faces import FaceFinder
from pipeline_common import limits
from pipeline_common.log import Laps

NO_FACE = "no-face"
UNKNOWN = "unknown"
SENTINELS = (NO_FACE, UNKNOWN)

Models = TypeVar("Models", bound=FaceFinder)  # the model runtime a Recognizer was given


class FrameError(ValueError):
    """The frame object is not a decodable image; the message names the object."""


class FrameTooLarge(FrameError):
    """The frame is over the pipeline's limit (pipeline_common.limits); refused before decoding."""


@dataclass(frozen=True)
class Recognition:
    name: str  # a database name, NO_FACE or UNKNOWN
    distance: float | None  # to the nearest database entry; None when no face
    faces: int  # faces found in the frame (the largest one was used)
    box: tuple[float, float, float, float] | None = None
    timings_ms: dict = field(default_factory=dict, compare=False)
    embedding: Any = field(default=None, compare=False, repr=False)  # (1, 512): kept for relabelling (library)


def decode_frame(data: bytes, source: str) -> Image.Image:
    """The frame as an RGB image, fully decoded; FrameError naming `source` otherwise.

    A frame over the pipeline's limit (pipeline_common.limits, the same the splitter applies) is
    refused from its header, before a pixel is decoded: FrameTooLarge. The limit is far below
    Pillow's own decompression-bomb threshold (89 megapixels), so that is never what decides; a
    frame beyond Pillow's hard stop (twice that) is refused with the same message.
    """
    if not data:
        raise FrameError(f"{source}: the object is empty, not an image")
    unreadable = (UnidentifiedImageError, OSError, SyntaxError, ValueError)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))  # reads the header only
        except Image.DecompressionBombError:
            raise FrameTooLarge(
                f"{source}: the frame is over {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels, "
                f"over the pipeline's limit: {limits.describe()}; refused before decoding"
            ) from None
        except unreadable as exc:
            raise FrameError(f"{source}: not a readable image ({_reason(exc)})") from None
        refusal = limits.frame_refusal(*image.size)
        if refusal:
            raise FrameTooLarge(f"{source}: {refusal}; refused before decoding")
        try:
            image.load()  # decode now, so a truncated file fails here and not inside MTCNN
        except unreadable as exc:
            raise FrameError(f"{source}: not a readable image ({_reason(exc)})") from None
    return image if image.mode == "RGB" else image.convert("RGB")


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check_names(database: FaceDatabase, source: str = "face database") -> FaceDatabase:
    """`database`, unless it names a person with a sentinel; FaceDatabaseError naming `source` then."""
    clash = sorted(set(database.names) & set(SENTINELS))
    if clash:
        raise FaceDatabaseError(
            f"{source}: {', '.join(clash)} is reserved for results that are not a person and cannot be a name"
        )
    return database


def identify(database: FaceDatabase, embedding: Any, threshold: float | None) -> tuple[str, float]:
    """One face's name and distance: the nearest entry's, or UNKNOWN when a distance threshold is set
    and the nearest is farther than it (both analyses name faces by this one rule)."""
    name, distance = database.nearest(embedding)
    return (UNKNOWN if threshold is not None and distance > threshold else name), distance


class Recognizer(Generic[Models]):
    """The models and the rule that turns a distance into a name. The database it searches is the
    one it was made with, or the one each call passes (a live database changes while it runs:
    face_recognizer.databases)."""

    def __init__(self, models: Models, database: FaceDatabase | None = None, distance_threshold: float | None = None):
        self.models = models
        self.database = None if database is None else check_names(database)
        self.distance_threshold = distance_threshold

    def recognise(self, image: Image.Image, database: FaceDatabase | None = None) -> Recognition:
        database = database if database is not None else self.database
        if database is None:
            raise FaceDatabaseError("no face database to search")  # a caller's mistake: start() always has one
        laps = Laps()
        face = self.models.find_face(image)
        laps.lap("detect")
        if face is None:
            return Recognition(NO_FACE, None, 0, None, laps.stages)
        embedding = self.models.embed_face(face)
        laps.lap("embed")
        name, distance = identify(database, embedding, self.distance_threshold)
        laps.lap("match")
        return Recognition(name, distance, face.faces, face.box, laps.stages, embedding)

    def recognise_bytes(self, data: bytes, source: str, database: FaceDatabase | None = None) -> Recognition:
        laps = Laps()
        image = decode_frame(data, source)
        laps.lap("decode")
        result = self.recognise(image, database)
        result.timings_ms.update(laps.stages)
        return result
