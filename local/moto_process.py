"""The stack's S3 and SQS: a moto server in a child process on a free loopback port.

Run by the stack as `python -I -m local.moto_process PARENT_PID`; prints {"host", "port"} as one JSON line
on stdout once it listens, and serves until its stdin closes (the parent stopped or died) or the
kernel kills it with the parent (procs.die_with_parent). A process of its own, rather than a thread
of the stack, gives moto its own interpreter lock and its own state, so two stacks never share
buckets.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from local.procs import die_with_parent


def one_event_per_multipart_upload() -> None:
    """Make moto's S3 send one notification when a multipart upload completes, as S3 does.

    moto 5.2's complete_multipart_upload stores the object through put_object, which notifies
    `ObjectCreated:Put`, and then notifies `ObjectCreated:CompleteMultipartUpload` as well, so every
    upload of 8 MB or more (boto3's multipart threshold) would run the pipeline twice. Here the
    inner put_object is told not to notify while a completion runs on the same thread (moto serves
    each request on a thread of its own); the CompleteMultipartUpload event is the one S3 sends.
    """
    import threading

    from moto.s3.models import S3Backend

    completing = threading.local()
    complete, put = S3Backend.complete_multipart_upload, S3Backend.put_object

    def complete_multipart_upload(self, *args, **kwargs):
        completing.active = True
        try:
            return complete(self, *args, **kwargs)
        finally:
            completing.active = False

    def put_object(self, *args, **kwargs):
        if getattr(completing, "active", False):
            kwargs["disable_notification"] = True
        return put(self, *args, **kwargs)

    # Deliberate monkeypatching of moto's backend, for the reason above.
    S3Backend.complete_multipart_upload = complete_multipart_upload  # type: ignore[method-assign]
    S3Backend.put_object = put_object  # type: ignore[method-assign]


def main() -> None:
    die_with_parent(int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stack decides when we stop
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    from moto.server import ThreadedMotoServer

    one_event_per_multipart_upload()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    sys.stdout.write(json.dumps({"host": host, "port": port}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # returns at EOF: the stack closed our stdin or is gone
    os._exit(0)  # the server thread holds no state worth a graceful shutdown


if __name__ == "__main__":
    main()
