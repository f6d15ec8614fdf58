"""Worker-process side of the Processes executor.

A worker is a fresh interpreter (``python -c`` running :func:`main`, see
``supervisor.BOOTSTRAP``; the spawn model, never fork) given one end of a socket
pair. It imports the compute function once, reports
``["ready", pid]`` (or ``["failed", traceback]``), then serves one batch message at a
time until the socket closes. Unlike multiprocessing's spawn it does not re-import
the parent's ``__main__``, so user scripts need no ``if __name__ == "__main__"``
guard. Keep this module's imports light: every worker pays for them at start.
"""

from __future__ import annotations

import os
import signal
import traceback
from multiprocessing.connection import Connection


def serve(conn: Connection, spec: str, codec_name: str) -> None:
    """Load ``spec`` and answer batches on ``conn`` until it closes."""
    from slither_stream.dispatch.compute import resolve
    from slither_stream.dispatch.wire import get_codec, serve_request

    codec = get_codec(codec_name)
    try:
        function = resolve(spec)
    except BaseException:
        conn.send_bytes(codec.encode(["failed", traceback.format_exc()]))
        conn.close()
        return
    conn.send_bytes(codec.encode(["ready", os.getpid()]))
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            break
        conn.send_bytes(serve_request(function, spec, codec, request))
    conn.close()


def main(argv: list[str]) -> None:
    """``worker.py FD SPEC CODEC``: serve on the inherited socket ``FD``."""
    # Ctrl-C goes to the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd, spec, codec_name = int(argv[0]), argv[1], argv[2]
    serve(Connection(fd), spec, codec_name)

