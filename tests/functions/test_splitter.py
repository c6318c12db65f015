"""The video-splitting function end to end: real ffmpeg on videos made from scikit-image's pictures,
S3 over a moto server, Lambda's Invoke API served on loopback, start-up in fresh interpreters."""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components import topology as T
from components.project import PROJECT_DIR
from components.settings import function_environment
from pipeline_common.keys import frame_key
from tests.s3_events import s3_event
from tools.demo import samples
from tools.modelbuild.ffmpeg import ffmpeg_exe
from video_splitting import ffmpeg as ff
from video_splitting import service as sp

INPUT, STAGE1 = "vfp-test-input", "vfp-test-stage-1"


# ---------------------------------------------------------------------------------------------
# Videos and helpers


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def stills(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stills")
    return {name: samples.write_image(name, folder / f"{name}.png") for name in ("astronaut", "camera")}


@pytest.fixture(scope="module")
def two_scenes(stills, tmp_path_factory) -> Path:
    """Half a second of the astronaut, then half a second of the cameraman (10 fps, a keyframe
    every 5 frames, so there is a keyframe showing the cameraman at 0.5 s)."""
    video = tmp_path_factory.mktemp("two-scenes") / "two_scenes.mp4"
    _ffmpeg(
        "-loop",
        "1",
        "-t",
        "0.5",
        "-i",
        str(stills["astronaut"]),
        "-loop",
        "1",
        "-t",
        "0.5",
        "-i",
        str(stills["camera"]),
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1,fps=10,format=yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "5",
        "-keyint_min",
        "5",
        str(video),
    )
    return video


@pytest.fixture(scope="module")
def trimmed(two_scenes, tmp_path_factory) -> Path:
    """two_scenes cut at 0.2 s without re-encoding: an edit list whose first frame shown (the
    astronaut) is not a keyframe, while the next keyframe shows the cameraman."""
    video = tmp_path_factory.mktemp("trimmed") / "trimmed.mp4"
    _ffmpeg("-ss", "0.2", "-i", str(two_scenes), "-c", "copy", str(video))
    return video


def rgb(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.float32)


def difference(jpeg: bytes, name: str) -> float:
    """Mean absolute difference (0-255) between a frame and sample picture `name`."""
    frame = rgb(jpeg)
    picture = samples.image(name).astype(np.float32)
    assert frame.shape == picture.shape, (frame.shape, picture.shape)
    return float(np.abs(frame - picture).mean())


def looks_like(jpeg: bytes, name: str, other: str) -> bool:
    return difference(jpeg, name) < 8 and difference(jpeg, other) > 30


def many(*events: dict) -> dict:
    return {"Records": [r for e in events for r in e["Records"]]}


def stage1(s3) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=STAGE1).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=STAGE1, Key=o["Key"])["Body"].read() for o in listing}


@pytest.fixture
def buckets(s3):
    s3.create_bucket(Bucket=INPUT)
    s3.create_bucket(Bucket=STAGE1)
    return s3


@pytest.fixture
def tmpdir_watch(tmp_path, monkeypatch) -> Path:
    """tempfile's default folder, private to the test, so leftovers can be seen."""
    folder = tmp_path / "lambda-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def env(**extra) -> dict[str, str]:
    return {"STAGE1_BUCKET": STAGE1, "FFMPEG_PATH": ffmpeg_exe(), "LOG_LEVEL": "INFO", **extra}


@pytest.fixture
def splitter(buckets, tmpdir_watch) -> sp.SplittingService:
    """Started the way the handler starts it: settings from the environment, default AWS clients."""
    return sp.start(env())


def put(s3, key: str, body: bytes) -> None:
    s3.put_object(Bucket=INPUT, Key=key, Body=body)


# ---------------------------------------------------------------------------------------------
# Splitting


def test_s3_event_writes_the_first_frame_as_a_jpeg_of_the_videos_size(splitter, buckets, two_scenes, tmpdir_watch):
    put(buckets, "clips/two.mp4", two_scenes.read_bytes())
    frames = splitter.handle_event(s3_event(INPUT, "clips/two.mp4"))
    assert frames == [{"bucket": STAGE1, "key": "clips/two.jpg"}]
    obj = buckets.get_object(Bucket=STAGE1, Key="clips/two.jpg")
    assert obj["ContentType"] == "image/jpeg"
    jpeg = obj["Body"].read()
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and image.size == (512, 512)
    assert looks_like(jpeg, "astronaut", "camera")  # the first scene, not the second
    assert list(tmpdir_watch.iterdir()) == []


def test_direct_payload_is_split_too(splitter, buckets, videos):
    put(buckets, "camera.mp4", videos["camera"].read_bytes())
    assert splitter.handle_event({"bucket": INPUT, "key": "camera.mp4"}) == [{"bucket": STAGE1, "key": "camera.jpg"}]
    assert looks_like(stage1(buckets)["camera.jpg"], "camera", "astronaut")


def test_every_record_of_an_event_is_split(splitter, buckets, videos):
    keys = ["a/astronaut.mp4", "b/camera.mp4", "c/pair.mp4"]
    for key in keys:
        put(buckets, key, videos[Path(key).stem].read_bytes())
    frames = splitter.handle_event(many(*(s3_event(INPUT, k) for k in keys)))
    assert frames == [{"bucket": STAGE1, "key": frame_key(k)} for k in keys]
    written = stage1(buckets)
    assert sorted(written) == sorted(frame_key(k) for k in keys)
    assert Image.open(io.BytesIO(written["c/pair.jpg"])).size == (1024, 512)


@pytest.mark.parametrize(
    "key",
    [
        "uploads/my clip.mp4",
        "a+b/c+d.mp4",
        "vidéos/café ☕ 100%.mp4",
        "deep/er/still/nested/clip.v2.mp4",
        "CAMERA/CLIP.MP4",
        "phone/Holiday.Mov",
    ],
)
def test_keys_are_decoded_and_keep_their_folders(splitter, buckets, videos, key):
    put(buckets, key, videos["astronaut"].read_bytes())
    event = s3_event(INPUT, key)  # URL-encoded, as S3 sends it
    assert splitter.handle_event(event) == [{"bucket": STAGE1, "key": frame_key(key)}]
    assert list(stage1(buckets)) == [frame_key(key)]


@pytest.mark.parametrize("key", ["notes.txt", "no-suffix", "clip.mp4.part", "clip.jpg"])
def test_an_object_that_is_not_a_video_is_refused_by_name_without_reading_it(splitter, buckets, key):
    """The input bucket notifies the splitter of every upload (S3's suffix filters are
    case-sensitive), so anything else must fail by name: Lambda then dead-letters the event, and the
    upload leaves a record of why it has no result."""
    with pytest.raises(
        sp.SplitError,
        match=rf"s3://{INPUT}/{re.escape(key)}: not a video the pipeline accepts: "
        r"the name must end in \.mp4, .*\(any letter case\)",
    ):
        splitter.handle_event(s3_event(INPUT, key))  # the object need not even exist: nothing is read
    assert stage1(buckets) == {}


def test_a_folder_marker_is_skipped(splitter, buckets):
    """The S3 console's "Create folder" makes an empty `name/` object: not an upload, no record."""
    assert splitter.handle_event(s3_event(INPUT, "holiday/")) == []
    assert stage1(buckets) == {}


def test_a_key_full_of_shell_metacharacters_runs_nothing(splitter, buckets, videos, tmp_path, monkeypatch):
    canary = tmp_path / "canary"
    keep = tmp_path / "keep-me"
    keep.write_text("still here")
    monkeypatch.chdir(tmp_path)
    key = f"evil/$(touch {canary}); touch {canary} && echo 'q' \"d\" `touch {canary}` | cat & rm -rf * > x <y ~ #.mp4"
    put(buckets, key, videos["astronaut"].read_bytes())
    assert splitter.handle_event(s3_event(INPUT, key)) == [{"bucket": STAGE1, "key": frame_key(key)}]
    assert not canary.exists()
    assert keep.read_text() == "still here" and not (tmp_path / "x").exists()
    assert list(stage1(buckets)) == [frame_key(key)]


def test_duplicate_delivery_leaves_one_frame_with_the_same_bytes(splitter, buckets, videos):
    put(buckets, "dup/clip.mp4", videos["camera"].read_bytes())
    event = s3_event(INPUT, "dup/clip.mp4")
    splitter.handle_event(event)
    first = stage1(buckets)
    splitter.handle_event(event)
    assert stage1(buckets) == first and list(first) == ["dup/clip.jpg"]


# ---------------------------------------------------------------------------------------------
# Bad input


CORRUPT = {
    "empty": b"",
    "random bytes": bytes(range(256)) * 64,
    "text": b"this is not a video\n" * 100,
    "hls playlist posing as mp4": b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
}


@pytest.mark.parametrize("body", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_bad_video_is_a_clear_error_writes_nothing_and_the_process_goes_on(
    splitter, buckets, videos, tmpdir_watch, body
):
    put(buckets, "bad/clip one.mp4", body)
    with pytest.raises(sp.SplitError) as error:
        splitter.handle_event(s3_event(INPUT, "bad/clip one.mp4"))
    message = str(error.value)
    assert f"s3://{INPUT}/bad/clip one.mp4" in message
    assert ("empty (0 bytes)" in message) if not body else ("not a readable video" in message)
    assert str(tmpdir_watch) not in message  # the temp file is not what the user uploaded
    assert stage1(buckets) == {}
    assert list(tmpdir_watch.iterdir()) == []
    # the same warm process handles the next good video
    put(buckets, "good.mp4", videos["astronaut"].read_bytes())
    assert splitter.handle_event(s3_event(INPUT, "good.mp4")) == [{"bucket": STAGE1, "key": "good.jpg"}]
    assert list(tmpdir_watch.iterdir()) == []


def test_truncated_video_is_a_clear_error(splitter, buckets, videos):
    data = videos["astronaut"].read_bytes()
    put(buckets, "cut.mp4", data[: len(data) // 3])
    with pytest.raises(sp.SplitError, match=rf"s3://{INPUT}/cut\.mp4: not a readable video"):
        splitter.handle_event(s3_event(INPUT, "cut.mp4"))
    assert stage1(buckets) == {}


def test_audio_only_file_is_not_a_video(splitter, buckets, tmp_path):
    audio = tmp_path / "tone.mp4"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "aac", str(audio))
    put(buckets, "tone.mp4", audio.read_bytes())
    with pytest.raises(sp.SplitError, match="it has no video stream"):
        splitter.handle_event(s3_event(INPUT, "tone.mp4"))


def test_a_bad_record_does_not_stop_the_good_ones(splitter, buckets, videos):
    put(buckets, "one.mp4", videos["astronaut"].read_bytes())
    put(buckets, "two.mp4", b"garbage" * 100)
    put(buckets, "three.mp4", videos["camera"].read_bytes())
    event = many(*(s3_event(INPUT, k) for k in ("one.mp4", "two.mp4", "three.mp4", "missing.mp4")))
    with pytest.raises(sp.SplitError) as error:
        splitter.handle_event(event)
    message = str(error.value)
    assert f"s3://{INPUT}/two.mp4" in message and f"s3://{INPUT}/missing.mp4" in message
    assert "one.mp4" not in message and "three.mp4" not in message
    assert sorted(stage1(buckets)) == ["one.jpg", "three.jpg"]


def test_missing_object_and_missing_bucket_are_named(splitter, buckets):
    with pytest.raises(
        sp.SplitError, match=rf"s3://{INPUT}/nope\.mp4: cannot read the video \(NoSuchKey: no such object\)"
    ):
        splitter.handle_event(s3_event(INPUT, "nope.mp4"))
    with pytest.raises(
        sp.SplitError, match=r"s3://no-such-bucket-here/x\.mp4: cannot read the video \(NoSuchBucket: no such bucket\)"
    ):
        splitter.handle_event({"bucket": "no-such-bucket-here", "key": "x.mp4"})


def test_missing_stage1_bucket_is_named(buckets, videos, tmpdir_watch):
    splitter = sp.start(env(STAGE1_BUCKET="vfp-test-no-stage-1"))
    put(buckets, "clip.mp4", videos["astronaut"].read_bytes())
    with pytest.raises(
        sp.SplitError, match=r"cannot write the frame to s3://vfp-test-no-stage-1/clip\.jpg \(NoSuchBucket"
    ):
        splitter.handle_event(s3_event(INPUT, "clip.mp4"))
    assert list(tmpdir_watch.iterdir()) == []


def test_a_video_larger_than_tmp_is_refused_before_downloading(splitter, buckets, videos, monkeypatch, tmpdir_watch):
    monkeypatch.setattr(sp, "_TMP_HEADROOM", 1 << 62)  # as if /tmp were full
    put(buckets, "big.mp4", videos["astronaut"].read_bytes())
    with pytest.raises(sp.SplitError, match=r"s3://.*/big\.mp4: \d+ bytes do not fit .*splitterEphemeralStorage"):
        splitter.handle_event(s3_event(INPUT, "big.mp4"))
    assert list(tmpdir_watch.iterdir()) == []


def test_ffmpeg_is_bounded_by_the_timeout(splitter, buckets, videos, tmpdir_watch):
    put(buckets, "slow.mp4", videos["pair"].read_bytes())
    with pytest.raises(sp.SplitError, match=r"s3://.*/slow\.mp4: ffmpeg found no frame within 0\.001 s"):
        splitter.handle_event(s3_event(INPUT, "slow.mp4"), timeout_s=0.001)
    assert stage1(buckets) == {} and list(tmpdir_watch.iterdir()) == []


def test_a_malformed_event_is_refused(splitter):
    from pipeline_common.events import EventError

    with pytest.raises(EventError):
        splitter.handle_event({"Records": [{"eventSource": "aws:sqs"}]})


# ---------------------------------------------------------------------------------------------
# The frame: first frame, fast path proven, fallback exact


def test_fast_path_gives_the_same_bytes_as_the_ordinary_decode(videos, two_scenes, tmp_path):
    exe = ffmpeg_exe()
    for video in [*videos.values(), two_scenes]:
        fast = subprocess.run(ff.fast_args(exe, video), capture_output=True, check=True).stdout
        full = subprocess.run(ff.full_args(exe, video), capture_output=True, check=True).stdout
        assert fast == full, video.name
        frame = ff.first_frame(exe, video, label=video.name)
        assert frame.method == ff.FAST and frame.jpeg == full and len(frame.attempts_ms) == 1


COURSE_VIDEOS = PROJECT_DIR.parent / "shared" / "data" / "cse546" / "test_case_2"


@pytest.mark.skipif(not COURSE_VIDEOS.is_dir(), reason="the course workload is optional reference data")
def test_course_videos_take_the_fast_path_and_get_the_ordinary_decodes_bytes():
    exe = ffmpeg_exe()
    for video in sorted(COURSE_VIDEOS.glob("test_0[0-7].mp4")):  # the 8 distinct clips
        frame = ff.first_frame(exe, video, label=video.name)
        assert frame.method == ff.FAST, video.name
        assert frame.jpeg == subprocess.run(ff.full_args(exe, video), capture_output=True, check=True).stdout


def test_an_edit_list_that_starts_after_a_keyframe_falls_back_and_keeps_the_first_frame(trimmed):
    exe = ffmpeg_exe()
    args = ff.fast_args(exe, trimmed)
    at = args.index("-vf")
    unguarded = subprocess.run(args[:at] + args[at + 2 :], capture_output=True, check=True).stdout
    assert looks_like(unguarded, "camera", "astronaut")  # what decoding keyframes alone would show
    assert subprocess.run(args, capture_output=True).stdout == b""  # the guard lets no frame through
    frame = ff.first_frame(exe, trimmed, label="trimmed.mp4")
    assert frame.method == ff.FULL and len(frame.attempts_ms) == 2
    assert looks_like(frame.jpeg, "astronaut", "camera")
    assert frame.jpeg == subprocess.run(ff.full_args(exe, trimmed), capture_output=True, check=True).stdout


def test_a_container_that_needs_probing_falls_back(stills, tmp_path):
    video = tmp_path / "clip.mpg"  # MPEG program stream: no stream headers until probed
    _ffmpeg("-loop", "1", "-t", "0.3", "-i", str(stills["camera"]), "-c:v", "mpeg2video", "-q:v", "2", str(video))
    frame = ff.first_frame(ffmpeg_exe(), video, label="clip.mpg")
    assert frame.method == ff.FULL
    assert looks_like(frame.jpeg, "camera", "astronaut")


def test_output_is_deterministic(videos):
    exe = ffmpeg_exe()
    assert ff.first_frame(exe, videos["pair"], label="p").jpeg == ff.first_frame(exe, videos["pair"], label="p").jpeg


def test_mpeg_ts_is_refused_not_crashed_on(stills, tmp_path):
    video = tmp_path / "clip.ts"
    _ffmpeg("-loop", "1", "-t", "0.3", "-i", str(stills["camera"]), "-c:v", "libx264", "-f", "mpegts", str(video))
    with pytest.raises(ff.FfmpegError, match=r"^clip\.ts: not a readable video \(.*whitelist"):
        ff.first_frame(ffmpeg_exe(), video, label="clip.ts")


def test_a_crash_is_reported_with_its_signal(tmp_path, videos):
    crashing = tmp_path / "ffmpeg"
    crashing.write_text("#!/bin/sh\nkill -SEGV $$\n")  # stands in for a decoder crash
    crashing.chmod(0o755)
    with pytest.raises(ff.FfmpegError, match=r"^v: ffmpeg crashed \(SIGSEGV\)"):
        ff.first_frame(str(crashing), videos["astronaut"], label="v")


# ---------------------------------------------------------------------------------------------
# The frame limit (pipeline_common.limits, the one the recognizer applies)


@pytest.mark.parametrize(
    "size, says",
    [
        # decoded (within the decoder's bound), then refused by the JPEG's own size
        ((8192, 4320), "the frame is 8192x4320 (35,389,440 pixels), over the pipeline's limit: "),
        # refused by ffmpeg's decoder before it allocates the picture
        ((9728, 4320), "the video's frames are over the pipeline's limit: "),
    ],
    ids=["dci-8k", "beyond-the-decoder-bound"],
)
def test_a_video_over_the_frame_limit_is_refused_naming_the_object_and_the_limit(
    splitter, buckets, tmp_path, tmpdir_watch, size, says
):
    from pipeline_common import limits

    video = tmp_path / "big.mp4"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c=gray:s={size[0]}x{size[1]}:d=0.2:r=5",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(video),
    )
    put(buckets, "big/clip 8k.mp4", video.read_bytes())
    with pytest.raises(sp.SplitError) as error:
        splitter.handle_event(s3_event(INPUT, "big/clip 8k.mp4"))
    message = str(error.value)
    assert message.startswith(f"s3://{INPUT}/big/clip 8k.mp4: {says}{limits.describe()}")
    assert "33,177,600 pixels (7680x4320, 8K UHD)" in message
    assert stage1(buckets) == {} and list(tmpdir_watch.iterdir()) == []


def test_the_decoder_is_bounded_by_the_limit_grown_only_by_codec_rounding():
    """ffmpeg checks -max_pixels against the picture it allocates, the frame rounded up (a 7690x4310
    H.264 frame is checked as 7744x4310): the bound lets every frame within the limit through."""
    from pipeline_common import limits

    bound = limits.decoder_max_pixels()
    assert bound < 1.15 * limits.MAX_FRAME_PIXELS
    r = limits.CODEC_ROUNDING
    for width, height in ((7680, 4320), (4320, 7680), (16384, limits.MAX_FRAME_PIXELS // 16384), (7690, 4310)):
        assert limits.frame_refusal(width, height) is None
        assert (width + r) * (height + r) <= bound


PEAK_PROBE = r"""
import json, resource, sys
from pathlib import Path
from video_splitting import ffmpeg

frame = ffmpeg.first_frame(sys.argv[1], Path(sys.argv[2]), label="s3://in/astronaut-8k.mp4")
with open("/proc/self/status") as fh:
    python = next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))
print(json.dumps({"method": frame.method, "bytes": len(frame.jpeg), "python_mb": python,
                  "ffmpeg_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


@pytest.mark.slow
def test_the_largest_video_splits_within_the_splitters_memory_setting(video_8k, tmp_path):
    """An 8K video, the largest frame the pipeline accepts, split in a fresh interpreter: the
    function's own peak plus ffmpeg's stays within the default splitterMemory (Pulumi.yaml)."""
    from components import settings as S

    done = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, ffmpeg_exe(), str(video_8k)],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(done.stdout)
    assert probe["method"] == ff.FAST and probe["bytes"] > 0
    memory = S.load(lambda key: {"namePrefix": "vfp-test"}.get(key), check_files=False).splitter.memory_mb
    assert probe["python_mb"] + probe["ffmpeg_mb"] < memory, probe


# ---------------------------------------------------------------------------------------------
# Direct invocation: the ordinary boto3 Lambda client against Lambda's Invoke API on loopback


class _InvokeApi(http.server.BaseHTTPRequestHandler):
    """Lambda's Invoke API, enough of it: records each request, answers like an accepted Event."""

    calls: list = []
    status = 202

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).calls.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if type(self).status == 202:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            payload = json.dumps({"Type": "User", "message": "Function not found"}).encode()
            self.send_response(404)
            self.send_header("x-amzn-ErrorType", "ResourceNotFoundException")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def invoke_api(monkeypatch):
    _InvokeApi.calls = []
    _InvokeApi.status = 202
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _InvokeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{server.server_address[1]}")
    yield _InvokeApi
    server.shutdown()
    server.server_close()


def test_direct_invocation_sends_an_event_invoke_with_the_frame(buckets, videos, invoke_api, tmpdir_watch):
    splitter = sp.start(env(RECOGNIZER_FUNCTION="face-recognition"))
    key = "direct/my clip é.mp4"
    put(buckets, key, videos["astronaut"].read_bytes())
    assert splitter.handle_event(s3_event(INPUT, key)) == [{"bucket": STAGE1, "key": "direct/my clip é.jpg"}]
    [call] = invoke_api.calls
    assert call["path"] == "/2015-03-31/functions/face-recognition/invocations"
    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert headers["x-amz-invocation-type"] == "Event"
    assert "authorization" in headers  # signed like any AWS request
    assert json.loads(call["body"]) == {"bucket": STAGE1, "key": "direct/my clip é.jpg"}  # not URL-encoded
    assert list(stage1(buckets)) == ["direct/my clip é.jpg"]  # written before the recognizer is told


def test_a_failed_invocation_fails_the_record_and_names_the_function(buckets, videos, invoke_api):
    invoke_api.status = 404
    splitter = sp.start(env(RECOGNIZER_FUNCTION="face-recognition"))
    put(buckets, "clip.mp4", videos["camera"].read_bytes())
    with pytest.raises(
        sp.SplitError,
        match=r"s3://.*/clip\.mp4: frame s3://.*/clip\.jpg written, but invoking "
        r"face-recognition failed \(ResourceNotFoundException",
    ):
        splitter.handle_event(s3_event(INPUT, "clip.mp4"))
    assert list(stage1(buckets)) == ["clip.jpg"]  # a retry rewrites the same frame and invokes again


def test_event_driven_wiring_invokes_nothing(splitter, buckets, videos, invoke_api):
    put(buckets, "clip.mp4", videos["camera"].read_bytes())
    splitter.handle_event(s3_event(INPUT, "clip.mp4"))
    assert invoke_api.calls == [] and splitter.lambda_ is None


# ---------------------------------------------------------------------------------------------
# Logging


def test_one_json_line_per_video_with_the_fields_and_not_the_event(splitter, buckets, videos):
    [handler] = splitter.log.handlers  # pipeline_common.log's JSON handler; read what it writes
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        put(buckets, "logs/clip+1.mp4", videos["astronaut"].read_bytes())
        splitter.handle_event(s3_event(INPUT, "logs/clip+1.mp4"), request_id="req-1")
    finally:
        handler.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [line] = lines
    assert line["message"] == "frame written" and line["level"] == "INFO"
    assert line["video"] == f"s3://{INPUT}/logs/clip+1.mp4" and line["frame"] == f"s3://{STAGE1}/logs/clip+1.jpg"
    assert line["request_id"] == "req-1" and line["decode"] == ff.FAST
    # The stages the dashboard charts and the cost plan scales (components/topology.py), and the total.
    assert (
        set(line["ms"])
        == {"download", "ffmpeg", "upload", "invoke", "total"}
        == {*T.FUNCTIONS[T.SPLITTER].stages, "total"}
    )
    assert line["video_bytes"] == videos["astronaut"].stat().st_size and line["frame_bytes"] > 1000
    text = stream.getvalue()
    assert "Records" not in text and "clip%2B1" not in text and "testing" not in text  # no event, no credentials


# ---------------------------------------------------------------------------------------------
# The handler and start-up


def _import_handler(environ: dict, code: str = "import video_splitting.handler") -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_DIR,
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ({"STAGE1_BUCKET": None}, "STAGE1_BUCKET is not set"),
        ({"STAGE1_BUCKET": "Not_A_Bucket"}, "STAGE1_BUCKET='Not_A_Bucket' is not a valid S3 bucket name"),
        (
            {"FFMPEG_PATH": None},
            "FFMPEG_PATH=/opt/bin/ffmpeg: no such file (the default: is the ffmpeg layer attached?)",
        ),
        ({"FFMPEG_PATH": "/nonexistent/ffmpeg"}, "FFMPEG_PATH=/nonexistent/ffmpeg: no such file"),
        ({"FFMPEG_PATH": "relative/ffmpeg"}, "FFMPEG_PATH='relative/ffmpeg' must be an absolute path"),
        (
            {"FFMPEG_PATH": str(PROJECT_DIR / "pyproject.toml")},
            f"FFMPEG_PATH={PROJECT_DIR / 'pyproject.toml'}: not executable",
        ),
        ({"FFMPEG_PATH": "/bin/true"}, "FFMPEG_PATH: /bin/true is not a working ffmpeg"),
        (
            {"RECOGNIZER_FUNCTION": "no spaces allowed"},
            "RECOGNIZER_FUNCTION='no spaces allowed' is not a Lambda function",
        ),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_misconfiguration_fails_at_start_up_naming_the_variable(override, message):
    environ = {k: v for k, v in {**env(), **override}.items() if v is not None}
    result = _import_handler(environ)
    assert result.returncode != 0
    assert f"StartupError: {message}" in result.stderr.replace("video_splitting.service.", "")
    assert result.stderr.count("Traceback") == 1  # one short report, raised from start(), nothing chained


@pytest.mark.parametrize(
    "recognizer", [None, "face-recognition", "arn:aws:lambda:us-east-1:123456789012:function:face-recognition:live"]
)
def test_a_good_environment_starts(recognizer):
    environ = env(**({"RECOGNIZER_FUNCTION": recognizer} if recognizer else {}))
    result = _import_handler(environ, "import video_splitting.handler as h; print(h._splitter.config)")
    assert result.returncode == 0, result.stderr
    assert "ffmpeg version 7.0.2" in result.stderr  # the start-up line names the binary it checked


class _Context:
    """What Lambda passes as `context`, the two members the handler reads."""

    aws_request_id = "request-42"

    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_handler_splits_and_returns_the_frames(buckets, videos, monkeypatch, tmpdir_watch):
    for name, value in env().items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("video_splitting.handler", None)
    import video_splitting.handler as handler

    try:
        put(buckets, "h/clip.mp4", videos["camera"].read_bytes())
        result = handler.handler(s3_event(INPUT, "h/clip.mp4"), _Context(30_000))
        assert result == {"frames": [{"bucket": STAGE1, "key": "h/clip.jpg"}]}
        assert list(tmpdir_watch.iterdir()) == []
    finally:
        sys.modules.pop("video_splitting.handler", None)


@pytest.mark.parametrize(
    "remaining_ms, expected",
    [(None, ff.DEFAULT_TIMEOUT_S), (900_000, ff.DEFAULT_TIMEOUT_S), (10_000, 7.0), (3_500, 1.0), (1, 1.0)],
)
def test_ffmpeg_gets_the_invocations_remaining_time_less_a_margin_to_report(monkeypatch, remaining_ms, expected):
    for name, value in env().items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("video_splitting.handler", None)
    import video_splitting.handler as handler

    try:
        context = None if remaining_ms is None else _Context(remaining_ms)
        assert handler.ffmpeg_timeout(context) == pytest.approx(expected)
    finally:
        sys.modules.pop("video_splitting.handler", None)


@pytest.mark.parametrize("architecture", T.ARCHITECTURES)
def test_the_environment_the_stack_sets_is_the_one_the_splitter_reads(buckets, architecture):
    from components import settings as S

    settings = S.load(lambda k: {"namePrefix": "vfp-test", "architecture": architecture}.get(k), check_files=False)
    splitter = sp.start(function_environment(T.SPLITTER, settings, T.Locations(ffmpeg=ffmpeg_exe())))
    assert splitter.config.stage1_bucket == settings.stage1_bucket
    assert splitter.config.recognizer_function == (settings.recognizer.name if settings.direct_invocation else None)
    # the zip cannot import components/, so the layer's path is written twice; held in step here
    from video_splitting.config import DEFAULT_FFMPEG

    assert DEFAULT_FFMPEG == T.LAYER_FFMPEG == function_environment(T.SPLITTER, settings)["FFMPEG_PATH"]
