"""Standard-library HTTP servers (the stand-in Keystone, the not-a-Glance pages) in a thread."""

from __future__ import annotations

import socketserver
import threading

#: How often `serve_forever` looks for a `shutdown()`: the standard library's 0.5 s would be
#: added to the end of every test that stops one.
POLL_SECONDS = 0.02


def serve_in_thread(server: socketserver.BaseServer) -> None:
    """Serve `server` from a daemon thread until `server.shutdown()`."""
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True).start()
