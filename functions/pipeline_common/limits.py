"""The largest frame the pipeline accepts: one definition that both functions ship with.

Both functions read these numbers at call time, so a frame the splitter writes is a frame the
recognizer takes. Why these numbers: docs/decisions/0002-frame-limits.md.
"""

from __future__ import annotations

MAX_FRAME_WIDTH_8K, MAX_FRAME_HEIGHT_8K = 7680, 4320
MAX_FRAME_PIXELS = MAX_FRAME_WIDTH_8K * MAX_FRAME_HEIGHT_8K  # 33,177,600: 8K UHD, either way up
MAX_FRAME_SIDE = 16384
MAX_FRAME_BYTES = 32 * 2**20

# analysis: timeline: the most faces of one frame that are embedded and matched, the largest boxes
# first (managed services cap the same way: Rekognition returns at most 100). Each face costs one
# embedding (~70 ms on the one thread a 1024 MB recognizer has; bench/README.md) after the frame's
# detection (~0.2 s at 720p), so at this cap a frame costs at most ~0.9 s and the default 60-frame
# timeline ~54 s, within the default recognizerTimeout of 60 s. More faces are counted, not embedded.
MAX_FACES_PER_FRAME = 10

# ffmpeg checks its -max_pixels against the picture it allocates, which is the frame rounded up
# to the codec's blocks and the decoder's row alignment (measured with the pinned ffmpeg 7.0.2:
# a 7690x4310 H.264 frame is checked as 7744x4310). So the decoder gets the limit grown by that
# rounding, enough that no frame within the limit is refused there, and the exact limit is then
# applied to the frame's real size (the JPEG ffmpeg wrote). The rounding is at most 128 pixels a
# side (H.264 and MPEG macroblocks are 16, HEVC blocks up to 64, AV1 superblocks 128, ffmpeg's row
# alignment 64), so the decoder may allocate ~13% more than the limit, never more.
CODEC_ROUNDING = 128


def decoder_max_pixels() -> int:
    """ffmpeg's -max_pixels: the largest picture a frame within the limit can be decoded into."""
    return MAX_FRAME_PIXELS + 2 * CODEC_ROUNDING * MAX_FRAME_SIDE + CODEC_ROUNDING**2


def describe() -> str:
    """The limit in words, for error messages and logs."""
    named = (
        f" ({MAX_FRAME_WIDTH_8K}x{MAX_FRAME_HEIGHT_8K}, 8K UHD)"
        if MAX_FRAME_PIXELS == MAX_FRAME_WIDTH_8K * MAX_FRAME_HEIGHT_8K
        else ""
    )
    return f"at most {MAX_FRAME_PIXELS:,} pixels{named} and {MAX_FRAME_SIDE:,} pixels a side"


def frame_refusal(width: int, height: int) -> str | None:
    """Why a width x height frame is refused, or None when the pipeline accepts it."""
    pixels = width * height
    if pixels > MAX_FRAME_PIXELS or max(width, height) > MAX_FRAME_SIDE:
        return f"the frame is {width}x{height} ({pixels:,} pixels), over the pipeline's limit: {describe()}"
    return None


def bytes_refusal(size: int) -> str | None:
    """Why a frame object of `size` bytes is refused, or None."""
    if size > MAX_FRAME_BYTES:
        mib = f" ({MAX_FRAME_BYTES // 2**20} MiB)" if MAX_FRAME_BYTES % 2**20 == 0 else ""
        return f"the frame is {size:,} bytes, over the pipeline's limit of {MAX_FRAME_BYTES:,} bytes{mib} for one frame"
    return None


# analysis: timeline: the longest and largest video one timeline takes (Amazon Rekognition Video's
# limits for a stored video). Whatever the length, a function holds one segment (pipeline_common.
# segments), never the whole video's frames; beyond these a video is refused by name.
MAX_VIDEO_SECONDS = 6 * 3600
MAX_VIDEO_BYTES = 10 * 10**9

# What the splitter writes and the recognizer reads as a frame: a JPEG (SOI, then a marker), nothing
# Pillow would also open (a PNG, a GIF) in its place.
JPEG_MAGIC = b"\xff\xd8\xff"
_SIGNATURES = {b"\x89PNG": "a PNG", b"GIF8": "a GIF", b"RIFF": "a RIFF (WebP?)", b"BM": "a BMP"}


def jpeg_refusal(data: bytes) -> str | None:
    """Why `data` is refused where a JPEG is promised (from its first bytes), or None."""
    if data.startswith(JPEG_MAGIC):
        return None
    kind = next((what for magic, what in _SIGNATURES.items() if data.startswith(magic)), None)
    return f"not a JPEG ({kind} file)" if kind else f"not a JPEG (it starts with {data[:4]!r})"
