"""How one upload's key becomes the frame's and the result's: `a/b/clip.mp4` → `a/b/clip.jpg` → `a/b/clip.txt`.

Only the last suffix is replaced, and only when it is a real suffix of the file name (a dot inside
a folder name or a leading dot is not one), so distinct uploads never share a frame or a result
unless they differ only in their video suffix (`clip.mp4` and `clip.MOV` share `clip.jpg`).

Which uploads are videos is decided here, by the key's suffix in any letter case: cameras and
phones write `CLIP.MP4` as often as `clip.mp4`, and S3's own suffix filters are case-sensitive, so
the input bucket notifies the splitter of every object and the splitter asks `is_video`.
"""

from __future__ import annotations

import posixpath
import urllib.parse

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpeg", ".mpg")  # lower case; any case accepted
FRAME_SUFFIX = ".jpg"
RESULT_SUFFIX = ".txt"
# analysis: timeline. The splitter writes ONE object per video holding every sampled frame (a tar:
# index.json, then the JPEGs), so one video is one recognizer invocation; the recognizer writes the
# timeline `<stem>.json` beside the text answer `<stem>.txt` in the output bucket.
FRAMES_SUFFIX = ".tar"
TIMELINE_SUFFIX = ".json"


def suffix(key: str) -> str:
    """The file suffix of a key's last segment as written (`.MP4`), or "" when it has none."""
    base, ext = posixpath.splitext(posixpath.basename(key))
    return ext if base else ""


def is_video(key: str) -> bool:
    """True when the key ends in one of VIDEO_SUFFIXES, in any letter case."""
    return suffix(key).lower() in VIDEO_SUFFIXES


def is_folder_marker(key: str) -> bool:
    """The empty `name/` object the S3 console creates for a folder: not an upload of anything."""
    return key.endswith("/")


def accepted_suffixes() -> str:
    """The accepted suffixes, for messages: `.mp4, .mov, ... (any letter case)`."""
    return ", ".join(VIDEO_SUFFIXES) + " (any letter case)"


def stem_key(key: str) -> str:
    """The key without its file suffix, folders kept."""
    folder, name = posixpath.split(key)
    base, ext = posixpath.splitext(name)
    if not base or not ext:
        return key
    return posixpath.join(folder, base) if folder else base


def frame_key(video_key: str) -> str:
    return stem_key(video_key) + FRAME_SUFFIX


def result_key(frame_key_: str) -> str:
    return stem_key(frame_key_) + RESULT_SUFFIX


def frames_key(video_key: str) -> str:
    """analysis: timeline: the stage-1 object holding a video's sampled frames."""
    return stem_key(video_key) + FRAMES_SUFFIX


def timeline_key(frames_key_: str) -> str:
    """analysis: timeline: the output object holding a video's timeline, beside its `.txt` answer."""
    return stem_key(frames_key_) + TIMELINE_SUFFIX


# The library bucket (`<namePrefix>-library`): per-video data that is neither the frame nor the
# result (face thumbnails for the HTML report, boxes), under one prefix per video. The video key is
# quoted whole (no `/` kept), so the prefix is injective and no video's prefix is another's prefix.
LIBRARY_FACES = "faces.json"


def library_prefix(video_key: str) -> str:
    return "videos/" + urllib.parse.quote(video_key, safe="") + "/"


def library_faces_key(video_key: str) -> str:
    return library_prefix(video_key) + LIBRARY_FACES


def thumb_name(n: int) -> str:
    """The n-th thumbnail's name inside a video's library prefix (faces.json names each range's)."""
    return f"thumb-{n}.jpg"


# The stage-1 frame's metadata naming the video it came from (the splitter writes it, quoted: S3
# metadata is ASCII; the recognizer files the frame's faces under that video's library prefix).
VIDEO_METADATA = "video-key"
