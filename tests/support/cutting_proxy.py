"""A forwarding proxy in front of a real Glance that loses chosen answers.

It passes every request on to the Glance, but for the requests `cut` picks it closes the client's
connection once the Glance has answered, without a byte of that answer: the request took effect
and the client never learns it, as when a connection breaks between a server and its client.
Bodies are read whole (tests send small images), and every connection carries one request.
"""

from __future__ import annotations

import http.client
import http.server
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Headers that describe one hop, not the request: never forwarded.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class CuttingProxy:
    """Listen on 127.0.0.1 (`url`), forward to `upstream`; `cut(method, path)` picks the answers
    lost, and `cuts` lists the requests whose answers were."""

    def __init__(self, upstream: str, cut: Callable[[str, str], bool]) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.cut = cut
        self.cuts: list[tuple[str, str]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(str(proxy.upstream.hostname), proxy.upstream.port, timeout=120)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                if proxy.cut(self.command, self.path):
                    proxy.cuts.append((self.command, self.path))
                    self.close_connection = True
                    return  # the answer is lost: the connection closes with nothing sent
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_HEADERS and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[CuttingProxy]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


def first(method: str, suffix: str) -> Callable[[str, str], bool]:
    """A `cut` that loses the answer to the first `method` request whose path ends with `suffix`."""
    seen: list[str] = []

    def cut(request_method: str, path: str) -> bool:
        if request_method == method and path.split("?")[0].endswith(suffix) and not seen:
            seen.append(path)
            return True
        return False

    return cut
