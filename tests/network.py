"""Ports and threads for the servers tests start on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["free_port", "serving"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (another process may still take it before it is bound:
    callers retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(
    server: socketserver.BaseServer, before_stop: Callable[[], object] | None = None
) -> Iterator[Any]:
    """Serve ``server`` on a daemon thread for the ``with`` block, then shut it down, calling
    ``before_stop`` first (to release handlers that hang on purpose)."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        if before_stop is not None:
            before_stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
