"""The video-splitting function: a video in, its first frame out as `<stem>.jpg` in the stage-1 bucket.

Layout (a thin Lambda handler over plain-Python cores that know nothing of Lambda):
- `config.py`   the function's settings, read once from the environment and validated;
- `ffmpeg.py`   the first frame of a local video file as JPEG bytes, through the ffmpeg binary;
- `service.py`  S3 in, S3 out: downloads each video to a private temp file, writes the frame,
                optionally invokes the recognizer, logs;
- `handler.py`  the Lambda entry point (`video_splitting.handler.handler`).

Standard library plus boto3 (which the Lambda Python runtime provides): the zip holds only this
package and `pipeline_common`.
"""
