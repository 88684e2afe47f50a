"""Fixtures that start Glance servers: real OpenStack Glance 33 and the project's own server.

Fixture map:

* `real_glance` / `real_glance_pair`: session-scoped real Glance instances, emptied before each
  test (see `real_glance` for what that does and does not reset).
* `start_real_glance`: a factory for a private real Glance with other settings (threads, config
  overrides); stopped when the test ends.
* `serve_one` / `serve_pair` / `start_serve`: fresh project servers, run in this process
  (`tests/support/inprocess.py`: the same application and command line, in a thread).
* `start_serve_process`: a factory like `start_serve` for `python -m replicator.server` as a
  child process, for tests of what only the process does.
* `glance_kind` with `glance_any` / `glance_pair_any`: the same test once against the project's
  server and once against real Glance.

Markers (registered in pyproject.toml), set here from the fixtures a test asks for:

* `realglance`: a real Glance or Keystone (a fixture above, or the module's own mark).
* `server`: a child process (`start_serve_process`, or the test's or module's own mark: the CLI
  run as a process, the old glance-replicator, a server started by hand).
* `unit`: everything else, in this process: `make test-fast` runs these alone. A `unit` test
  that starts a process fails (`_unit_tests_start_no_process`), so the marks cannot drift.
"""

from __future__ import annotations

import http.server
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.support import glance_client
from tests.support.inprocess import InProcessServe
from tests.support.pairs import ServerPair, start_all
from tests.support.servers import GlanceTemplate, Overrides, RealGlance, ReplicatorServe, ServerProcess
from tests.support.threaded import serve_in_thread

REAL_GLANCE_FIXTURES = {"real_glance", "real_glance_pair", "start_real_glance"}
PROCESS_FIXTURES = {"start_serve_process"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test its marker: `realglance`, `server` or `unit` (see the module docstring)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if REAL_GLANCE_FIXTURES & fixtures:
            item.add_marker(pytest.mark.realglance)
        elif PROCESS_FIXTURES & fixtures:
            item.add_marker(pytest.mark.server)
        if item.get_closest_marker("realglance") is None and item.get_closest_marker("server") is None:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `unit` test that starts a child process fails: it belongs under `server`.

    Every way Python starts a program (subprocess, asyncio's subprocesses) goes through
    `Popen._execute_child`; refusing there leaves the half-made Popen safe to collect.
    """
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(self: subprocess.Popen[bytes], args: object, *rest: object) -> None:
        raise AssertionError(f"a test marked `unit` started a process ({args!r}): mark it `server`")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


@pytest.fixture(scope="session")
def glance_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlanceTemplate]:
    """The allow-all policy and the database (a server, by default: see `glance_database`) every
    real Glance of the session uses; the database server stops when the session ends."""
    template = GlanceTemplate.build(tmp_path_factory.mktemp("glance-template"))
    try:
        yield template
    finally:
        template.close()


@pytest.fixture(scope="session")
def _session_glances(
    glance_template: GlanceTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RealGlance, RealGlance]]:
    """Two real Glance instances for the whole session, booted side by side."""
    glances = (
        RealGlance(glance_template, tmp_path_factory.mktemp("glance-a")),
        RealGlance(glance_template, tmp_path_factory.mktemp("glance-b")),
    )
    start_all(glances)
    try:
        yield glances
    finally:
        for glance in glances:
            glance.stop()


@pytest.fixture
def real_glance(_session_glances: tuple[RealGlance, RealGlance]) -> RealGlance:
    """A real Glance 33 on the session's database, shared by the session and emptied for this test.

    Starting Glance per test would cost seconds each, so one instance lives for the session and
    every image on it is deleted before each test. Deletion in Glance is soft: a deleted image's
    id can never be created again, so tests must use fresh ids (`uuid.uuid4()`), never fixed
    ones. Do not change its settings or stop it; use `start_real_glance` for other settings.
    """
    glance = _session_glances[0]
    glance_client.delete_all(glance.url)
    return glance


@pytest.fixture
def real_glance_pair(_session_glances: tuple[RealGlance, RealGlance]) -> ServerPair:
    """Two real Glance instances, source and target, shared and emptied like `real_glance`.

    The source is the instance `real_glance` gives.
    """
    for glance in _session_glances:
        glance_client.delete_all(glance.url)
    return ServerPair(*_session_glances)


@pytest.fixture
def start_real_glance(
    glance_template: GlanceTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., RealGlance]]:
    """Factory `start(threads=None, overrides=None, env=None, sqlite=False) -> RealGlance` for a
    private, started instance (`env`: extra environment variables of the server process; `sqlite`:
    on an SQLite file instead of the session's database, `threads` its gunicorn threads).

    For tests that need settings the shared instances must not have: SQLite with many threads
    (tests of retries against "database is locked"), direct upload disabled, a second store.
    Every instance started is stopped when the test ends.
    """
    started: list[RealGlance] = []

    def start(
        threads: int | None = None,
        overrides: Overrides | None = None,
        env: Mapping[str, str] | None = None,
        sqlite: bool = False,
    ) -> RealGlance:
        workdir = tmp_path_factory.mktemp("glance")
        glance = RealGlance(glance_template, workdir, threads=threads, sqlite=sqlite, overrides=overrides, env=env)
        started.append(glance)
        return glance.start()

    yield start
    for glance in started:
        glance.stop()


def _server_factory(kind: type[ReplicatorServe], folder: Path) -> Iterator[Callable[..., ReplicatorServe]]:
    started: list[ReplicatorServe] = []

    def start(*extra_args: str, control: bool = True) -> ReplicatorServe:
        server = kind(folder / f"serve-{len(started)}", extra_args=list(extra_args), control=control)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def start_serve(tmp_path: Path) -> Iterator[Callable[..., ReplicatorServe]]:
    """Factory `start(*extra_args, control=True) -> ReplicatorServe`: fresh in-process servers
    taking `replicator serve`'s arguments, stopped after the test (`control=False`: without the
    control paths, as an operator starts it)."""
    yield from _server_factory(InProcessServe, tmp_path)


@pytest.fixture
def start_serve_process(tmp_path: Path) -> Iterator[Callable[..., ReplicatorServe]]:
    """`start_serve`, but each server is `python -m replicator.server` as a child process."""
    yield from _server_factory(ReplicatorServe, tmp_path / "process")


@pytest.fixture
def serve_one(tmp_path: Path) -> Iterator[ReplicatorServe]:
    """A fresh, empty project server for this test (in process)."""
    with InProcessServe(tmp_path / "serve") as server:
        yield server


@pytest.fixture
def serve_pair(tmp_path: Path) -> Iterator[ServerPair]:
    """Two fresh, empty project servers (in process), source and target."""
    servers: list[ServerProcess] = [
        InProcessServe(tmp_path / "serve-source"),
        InProcessServe(tmp_path / "serve-target"),
    ]
    start_all(servers)
    try:
        yield ServerPair(*servers)
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(params=["serve", pytest.param("real", marks=pytest.mark.realglance)])
def glance_kind(request: pytest.FixtureRequest) -> str:
    """`"serve"` (the project's server) or `"real"` (OpenStack Glance): tests using
    `glance_any` or `glance_pair_any` run once for each."""
    return request.param


@pytest.fixture
def glance_any(glance_kind: str, request: pytest.FixtureRequest) -> ServerProcess:
    """One empty Glance v2 endpoint of kind `glance_kind`; use its `.url`."""
    return request.getfixturevalue("serve_one" if glance_kind == "serve" else "real_glance")


@pytest.fixture
def glance_pair_any(glance_kind: str, request: pytest.FixtureRequest) -> ServerPair:
    """Two empty Glance v2 endpoints of kind `glance_kind`, as a `ServerPair`."""
    return request.getfixturevalue("serve_pair" if glance_kind == "serve" else "real_glance_pair")


class _Answer(http.server.BaseHTTPRequestHandler):
    """A web server that is not a Glance: every path answers with this class's body."""

    body = b"<html><body>Welcome to nginx!</body></html>"
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A local HTTP server answering `request.param` = (status, body) to every GET."""
    status, body = request.param
    handler = type("Handler", (_Answer,), {"status": status, "body": body})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serve_in_thread(server)
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
