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


def atomic_conditional_writes(stripes: int = 64) -> None:
    """Make moto's conditional writes atomic, as S3's are.

    moto 5.2's PutObject and DeleteObject compare If-Match / If-None-Match with the stored object
    and then write, on the request's own thread with nothing held in between: two writers that read
    the same version can both pass the check, and the second silently replaces the first (measured:
    8 writers with the same If-Match, two of them "won" in 2 of 5 rounds). S3 lets exactly one win
    and answers the others 412 (or 409), which is what tools.enroll relies on never to lose a
    concurrent enrolment. Here every write to a key (put, copy, delete) holds that key's lock from
    its check to its write, so exactly one wins here too.
    """
    import functools
    import threading

    from moto.s3.responses import S3Response

    if getattr(S3Response.put_object, "one_writer_per_key", False):
        return  # already made atomic in this process
    locks = [threading.Lock() for _ in range(stripes)]

    def one_writer_per_key(method):
        @functools.wraps(method)  # keeps moto's own as __wrapped__
        def write(self, *args, **kwargs):
            with locks[hash((self.bucket_name, self.parse_key_name())) % stripes]:
                return method(self, *args, **kwargs)

        write.one_writer_per_key = True  # type: ignore[attr-defined]
        return write

    # Deliberate monkeypatching of moto's request handlers, for the reason above.
    S3Response.put_object = one_writer_per_key(S3Response.put_object)  # type: ignore[method-assign]
    S3Response.copy_object = one_writer_per_key(S3Response.copy_object)  # type: ignore[method-assign]
    S3Response.delete_object = one_writer_per_key(S3Response.delete_object)  # type: ignore[method-assign]


def main() -> None:
    die_with_parent(int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stack decides when we stop
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    from moto.server import ThreadedMotoServer

    one_event_per_multipart_upload()
    atomic_conditional_writes()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    sys.stdout.write(json.dumps({"host": host, "port": port}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # returns at EOF: the stack closed our stdin or is gone
    os._exit(0)  # the server thread holds no state worth a graceful shutdown


if __name__ == "__main__":
    main()
