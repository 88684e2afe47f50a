"""`replicator serve` inside the test process: the same application, in a thread of its own.

Most tests talk HTTP to the built-in server and nothing else; a child process per test costs
them half a second of interpreter start-up and imports each, and puts them out of `make
test-fast`. `InProcessServe` takes the same command line as `ReplicatorServe` (it parses it
with the server's own `from_command_line` and starts it with the server's own `start`), so a
test sees the same routes, faults and control paths; only the process around it is missing.
Tests of the process itself (its exit codes, signals, the token in its environment) start the
real one (`ReplicatorServe`, fixture `start_serve_process`).

The server runs its own event loop in a daemon thread: the tests drive it from synchronous
code, from the CLI run in process (which runs a loop of its own) and from async tests alike.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path

from aiohttp import web

from replicator.server.__main__ import from_command_line, start
from replicator.server.config import ServerConfig
from tests.support.servers import ReplicatorServe

READY_TIMEOUT = 30.0
#: How long a stop waits for requests still in flight (a fault that holds a request forever).
STOP_TIMEOUT = 5.0


class InProcessServe(ReplicatorServe):
    """A `ReplicatorServe` whose server runs in this process (see the module docstring)."""

    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The argv after `python -m replicator.server`, and the environment the child would get.
        _, config, tls = from_command_line(self.command()[3:], self.environment())
        data_dir = self.workdir / "data"
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, args=(self._loop, data_dir, config, tls), name=f"serve-{self.port}", daemon=True
        )
        self._thread.start()

    def _serve(
        self, loop: asyncio.AbstractEventLoop, data_dir: Path, config: ServerConfig, tls: ssl.SSLContext | None
    ) -> None:
        asyncio.set_event_loop(loop)
        runner: web.AppRunner | None = None
        try:
            runner = loop.run_until_complete(start("127.0.0.1", self.port, data_dir, config, tls))
        except BaseException as exc:  # reported by wait_ready, in the test's thread
            self._failure = exc
        self._ready.set()
        try:
            if runner is not None:
                loop.run_forever()
                loop.run_until_complete(asyncio.wait_for(runner.cleanup(), STOP_TIMEOUT))
        except TimeoutError:
            pass  # what is still in flight dies with the loop
        finally:
            loop.close()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        assert self._thread is not None, "launch() first"
        if not self._ready.wait(timeout):
            raise RuntimeError(f"in-process server at {self.url} did not start within {timeout:.0f} s")
        if self._failure is not None:
            raise RuntimeError(f"in-process server at {self.url} did not start") from self._failure

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        self._thread = self._loop = None
        if thread is None or loop is None:
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:
            pass  # closed already: the server never started
        thread.join(STOP_TIMEOUT * 2)

    def log(self) -> str:
        return ""
