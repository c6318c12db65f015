"""How one upload's key becomes the frame's and the result's: `a/b/clip.mp4` → `a/b/clip.jpg` → `a/b/clip.txt`.

Only the last suffix is replaced, and only when it is a real suffix of the file name (a dot inside
a folder name or a leading dot is not one), so distinct uploads never share a frame or a result
unless they differ only in their video suffix.
"""
from __future__ import annotations

import posixpath

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpeg", ".mpg")
FRAME_SUFFIX = ".jpg"
RESULT_SUFFIX = ".txt"


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
