"""Derived keys (pipeline_common.keys) are injective and give the upload back, whatever a key holds."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline_common import keys

# Keys built from the characters that make trouble: slashes (doubled, leading, trailing), dots,
# every video suffix in mixed case, the derived suffixes, spaces, control characters, non-ASCII.
_PIECES = st.sampled_from(["/", "//", ".", "..", "a", "B", " ", "\x1b", "é", "%2F", "+", *keys.VIDEO_SUFFIXES])
_SUFFIX = st.sampled_from([*keys.VIDEO_SUFFIXES, *(s.upper() for s in keys.VIDEO_SUFFIXES), ".Mp4", ".jpg", ".tar"])
video_keys = st.builds(
    lambda parts, sfx: "".join(parts) + sfx, st.lists(_PIECES | st.text(max_size=3)), _SUFFIX
).filter(keys.is_video)
DERIVE = (keys.frame_key, keys.frames_key)


@settings(max_examples=400, deadline=None)
@given(video_keys)
@example("dup/x.mp4")
@example("dup//x.mp4")
@example("x.mov.mp4")
@example("/lead.mp4")
def test_every_derived_key_gives_its_upload_back(key):
    for derive in DERIVE:
        derived = derive(key)
        assert keys.video_key(derived) == key
        assert keys.video_key(keys.result_key(derived)) == key
    assert keys.video_key(keys.timeline_key(keys.frames_key(key))) == key
    assert not keys.is_video(keys.frame_key(key)) and not keys.is_video(keys.result_key(keys.frame_key(key)))


@settings(max_examples=300, deadline=None)
@given(video_keys, video_keys)
@example("dup/x.mp4", "dup//x.mp4")
@example("clip.mp4", "clip.MOV")
@example("clip.mp4", "clip.MP4")
@example("x.mov", "x.mov.mp4")
@example("a/b.mp4", "a/./b.mp4")
def test_two_uploads_never_share_a_derived_key(a, b):
    if a == b:
        return
    for key_of in (
        keys.frame_key,
        keys.frames_key,
        lambda k: keys.result_key(keys.frame_key(k)),
        lambda k: keys.result_key(keys.frames_key(k)),
        lambda k: keys.timeline_key(keys.frames_key(k)),
    ):
        assert key_of(a) != key_of(b), (a, b)


def test_the_course_contract_is_kept_and_doubled_slashes_stay():
    assert keys.frame_key("dir/clip.mp4") == "dir/clip.jpg"
    assert keys.result_key("dir/clip.jpg") == "dir/clip.txt"
    assert (keys.frames_key("a/b.mp4"), keys.timeline_key("a/b.tar")) == ("a/b.tar", "a/b.json")
    assert keys.frame_key("dup//x.mp4") == "dup//x.jpg" != keys.frame_key("dup/x.mp4")
    assert keys.frame_key("phone/Holiday.Mov") == "phone/Holiday.Mov.jpg"
    assert keys.frame_key("CLIP.MP4") == "CLIP.MP4.jpg" != keys.frame_key("CLIP.mp4")
    assert keys.video_key("notes.txt") == "notes.mp4" and keys.video_key("notes.csv") is None
    assert keys.video_key(".jpg") is None  # `.mp4` alone is no video
