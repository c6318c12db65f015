"""How one upload's key becomes the frame's and the result's: `a/b/clip.mp4` → `a/b/clip.jpg` → `a/b/clip.txt`.

S3 keys are opaque strings, so derivation is a pure string operation on the key's last suffix, never
a path normalisation (`dup//x.mp4` is not `dup/x.mp4`), and it is injective: two different uploads
never share a frame, frames object, result or timeline key, whatever the keys hold, and `video_key`
gives the upload back from any key derived from it. The course's `.mp4` loses its suffix
(`clip.mp4` → `clip.jpg`, as the course grader expects); every other video keeps it (`clip.MOV` →
`clip.MOV.jpg`), and so does an `.mp4` whose stem would itself pass for a video (`x.mov.mp4` →
`x.mov.mp4.jpg`), so no two uploads meet.

Which uploads are videos is decided here, by the key's suffix in any letter case: cameras and
phones write `CLIP.MP4` as often as `clip.mp4`, and S3's own suffix filters are case-sensitive, so
the input bucket notifies the splitter of every object and the splitter asks `is_video`.
"""

from __future__ import annotations

import urllib.parse

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpeg", ".mpg")  # lower case; any case accepted
SHORT_SUFFIX = ".mp4"  # the one suffix (exactly, as the course writes it) a derived key drops
FRAME_SUFFIX = ".jpg"
RESULT_SUFFIX = ".txt"
# analysis: timeline. The splitter writes ONE object per video holding every sampled frame (a tar:
# index.json, then the JPEGs), so one video is one recognizer invocation; the recognizer writes the
# timeline `<stem>.json` beside the text answer `<stem>.txt` in the output bucket.
FRAMES_SUFFIX = ".tar"
TIMELINE_SUFFIX = ".json"
_DERIVED_SUFFIXES = (FRAME_SUFFIX, FRAMES_SUFFIX, RESULT_SUFFIX, TIMELINE_SUFFIX)


def suffix(key: str) -> str:
    """The file suffix of a key's last segment as written (`.MP4`), or "" when it has none (a name
    that is all suffix, like `.mp4` or `..mp4`, has none). Pure string work: nothing is normalised."""
    name = key[key.rfind("/") + 1 :]
    dot = name.rfind(".")
    if dot <= 0 or not name[:dot].strip("."):
        return ""
    return name[dot:]


def is_video(key: str) -> bool:
    """True when the key ends in one of VIDEO_SUFFIXES, in any letter case."""
    return suffix(key).lower() in VIDEO_SUFFIXES


def is_folder_marker(key: str) -> bool:
    """The empty `name/` object the S3 console creates for a folder: not an upload of anything."""
    return key.endswith("/")


def accepted_suffixes() -> str:
    """The accepted suffixes, for messages: `.mp4, .mov, ... (any letter case)`."""
    return ", ".join(VIDEO_SUFFIXES) + " (any letter case)"


def stem_key(video_key_: str) -> str:
    """What a video's derived keys start with: the key without `.mp4` when that leaves no other video
    suffix showing, else the whole key (its suffix kept, so `clip.mov` and `clip.mp4` stay apart)."""
    if video_key_.endswith(SHORT_SUFFIX) and is_video(video_key_):
        stem = video_key_[: -len(SHORT_SUFFIX)]
        if not is_video(stem):
            return stem
    return video_key_


def video_key(derived_key: str) -> str | None:
    """The upload a derived key (frame, frames object, result or timeline) came from, or None when no
    upload gives that key: the inverse of the derivations below."""
    for ending in _DERIVED_SUFFIXES:
        if derived_key.endswith(ending):
            stem = derived_key[: -len(ending)]
            candidate = stem if is_video(stem) else stem + SHORT_SUFFIX
            return candidate if is_video(candidate) and stem_key(candidate) == stem else None
    return None


def _swap(derived_key: str, ending: str) -> str:
    """A derived key with its derived suffix replaced: `a/b.jpg` → `a/b.txt` (an unknown ending: appended)."""
    for old in _DERIVED_SUFFIXES:
        if derived_key.endswith(old):
            return derived_key[: -len(old)] + ending
    return derived_key + ending


def frame_key(video_key_: str) -> str:
    return stem_key(video_key_) + FRAME_SUFFIX


def result_key(frame_key_: str) -> str:
    """The text answer of a frame (`.jpg`) or a frames object (`.tar`)."""
    return _swap(frame_key_, RESULT_SUFFIX)


def frames_key(video_key_: str) -> str:
    """analysis: timeline: the stage-1 object holding a video's sampled frames."""
    return stem_key(video_key_) + FRAMES_SUFFIX


def timeline_key(frames_key_: str) -> str:
    """analysis: timeline: the output object holding a video's timeline, beside its `.txt` answer."""
    return _swap(frames_key_, TIMELINE_SUFFIX)


# The library bucket (`<namePrefix>-library`): per-video data that is neither frame nor result.
LIBRARY_FACES = "faces.json"  # face_recognizer.library: each face's embedding, box, name (never a picture)
LIBRARY_REPORT = "report.json"  # face_recognizer.thumbnails: each range's best face and its thumbnail, for tools.report


def library_prefix(video_key: str) -> str:
    """Where a video's library objects live: its key percent-encoded whole (no `/` left), so the
    prefix is injective and no video's prefix is a prefix of another's."""
    return "videos/" + urllib.parse.quote(video_key, safe="") + "/"


def video_of_library_key(library_key: str) -> str:
    """The video key a library object belongs to (the inverse of library_prefix)."""
    return urllib.parse.unquote(library_key.split("/", 2)[1])


def library_report_key(video_key: str) -> str:
    """The HTML report's document of a video's faces (face_recognizer.thumbnails)."""
    return library_prefix(video_key) + LIBRARY_REPORT


def thumb_name(n: int) -> str:
    """The n-th thumbnail's name inside a video's library prefix (report.json names each range's)."""
    return f"thumb-{n}.jpg"
