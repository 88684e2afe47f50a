"""Start and stop the server processes the tests talk to.

Two kinds of Glance v2 endpoint run as child processes, both on a free 127.0.0.1 port:

* `RealGlance`: OpenStack Glance 33 itself under gunicorn, so tests learn what the real service
  does rather than what we believe it does.
* `ReplicatorServe`: the project's own Glance-compatible server (`python -m replicator.server`),
  with its control paths (`/_faults`, `/_token`) on and an admin token of its own, unless told
  otherwise.

Each server runs in its own process group and writes stdout and stderr to `server.log` in its
work folder; `log()` returns that text, and start-up failures quote its tail.
"""

from __future__ import annotations

import configparser
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

from replicator.server.control import TOKEN_VARIABLE
from tests.support import glance_client
from tests.support.glance_database import GlanceDatabases, SqliteDatabases, databases_from_environment

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
LOG_TAIL_CHARS = 4000
TESTS_DIR = str(Path(__file__).parent)

Overrides = Mapping[str, Mapping[str, str]]
"""Extra glance-api.conf settings: `{section: {option: value}}`, applied over the defaults."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The OS picks it; another process could take it before the server binds, which is rare
    enough for tests and surfaces as a clear start-up error.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_bin(name: str) -> str:
    """Path of a console script installed beside the running interpreter."""
    return str(Path(sys.executable).parent / name)


class ServerProcess(ABC):
    """One child server process: launch, wait until it answers, stop.

    `launch` and `wait_ready` are separate so that several servers can boot in parallel
    (Glance spends seconds importing); `start` does both.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that runs the server."""

    def environment(self) -> dict[str, str]:
        """The child's environment: ours, plus whatever the server needs."""
        return dict(os.environ)

    def prepare(self) -> None:  # noqa: B027 (a hook: most servers need nothing written first)
        """Write whatever the server needs in its work folder before launch."""

    def launch(self) -> None:
        """Prepare the work folder and start the process; does not wait for it to listen."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll `GET /versions` until it answers; on failure stop and raise with the log tail."""
        assert self._process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"exited with code {self._process.returncode} before answering")
            if self._answers():
                return
            time.sleep(0.1)
        self._fail(f"did not answer GET /versions within {timeout:.0f} s")

    def start(self) -> Self:
        """Launch and wait until ready; returns self for chaining."""
        self.launch()
        self.wait_ready()
        return self

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL it if it has not exited in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def log(self) -> str:
        """Everything the server has written to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answers(self) -> bool:
        # Any HTTP answer means the app is up: Glance answers /versions with 200 or 300
        # depending on version negotiation.
        try:
            with glance_client.OPENER.open(self.url + "/versions", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except urllib.error.URLError as error:
            # A certificate we do not trust (a test's self-signed one) still means it is up.
            return isinstance(error.reason, ssl.SSLError)
        except OSError:
            return False

    def _fail(self, reason: str) -> None:
        self.stop()
        tail = self.log()[-LOG_TAIL_CHARS:]
        raise RuntimeError(f"{type(self).__name__} at {self.url} {reason}; log tail:\n{tail}")


class GlanceTemplate:
    """What every Glance instance of a test session shares, built once.

    The allow-all policy needs Glance imported, and each database is a copy of one migrated by
    `glance-manage db_sync` (see `glance_database`): both take seconds and are the same for every
    instance. `databases` is the session's choice (a server database unless told otherwise);
    `sqlite()` gives SQLite files for the tests that need SQLite itself.
    """

    def __init__(self, folder: Path, databases: GlanceDatabases) -> None:
        self.folder = folder
        self.policy_file = folder / "policy.json"
        self.paste_ini = folder / "glance-api-paste.ini"
        self.databases = databases
        self._sqlite = databases if isinstance(databases, SqliteDatabases) else None

    @classmethod
    def build(
        cls, folder: Path, databases: Callable[[Path], GlanceDatabases] = databases_from_environment
    ) -> GlanceTemplate:
        folder.mkdir(parents=True, exist_ok=True)
        write_paste_ini(folder / "glance-api-paste.ini")
        # The two steps are independent: run them side by side.
        policy = subprocess.Popen(
            [sys.executable, "-c", _ALLOW_ALL_POLICY_SCRIPT, str(folder / "policy.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            template = cls(folder, databases(folder / "database"))
        finally:
            policy_output, _ = policy.communicate()
        if policy.returncode != 0:
            template.close()
            raise RuntimeError(f"policy generation failed:\n{policy_output.decode()}")
        return template

    def sqlite(self) -> SqliteDatabases:
        """SQLite files, migrated on first use."""
        if self._sqlite is None:
            self._sqlite = SqliteDatabases(self.folder / "sqlite")
        return self._sqlite

    def close(self) -> None:
        """Stop the database server the session started, if any (call after every Glance stopped)."""
        self.databases.close()


# Every policy rule Glance knows, each allowed to anyone ("@"): with Glance's default rules even
# the no-auth pipeline's admin gets 403 "You are not authorized to complete get_images action".
_ALLOW_ALL_POLICY_SCRIPT = """
import json, sys
import glance.policies
rules = {rule.name: "@" for rule in glance.policies.list_rules()}
with open(sys.argv[1], "w") as f:
    json.dump(rules, f, indent=1, sort_keys=True)
"""


SHIPPED_PASTE_INI = Path(sys.prefix) / "etc" / "glance" / "glance-api-paste.ini"
NO_AUTH_CONTEXT = "glance.api.middleware.context:UnauthenticatedContextMiddleware.factory"
ADMIN_PROJECT_CONTEXT = "glance_context:AdminProjectContext.factory"


def write_paste_ini(path: Path) -> None:
    """Copy Glance's paste pipelines, with our admin-with-a-project context as the no-auth one.

    See `glance_context` for why Glance's own no-auth context is not enough.
    """
    text = SHIPPED_PASTE_INI.read_text()
    if text.count(NO_AUTH_CONTEXT) != 1:
        raise RuntimeError(f"{SHIPPED_PASTE_INI} no longer names {NO_AUTH_CONTEXT} once")
    path.write_text(text.replace(NO_AUTH_CONTEXT, ADMIN_PROJECT_CONTEXT))


def write_glance_config(
    path: Path, workdir: Path, template: GlanceTemplate, connection: str, overrides: Overrides
) -> None:
    """Write a glance-api.conf for one instance whose files live in `workdir`, its records in the
    database at `connection`."""
    sections: dict[str, dict[str, str]] = {
        "DEFAULT": {"enabled_backends": "fs:file"},
        "database": {"connection": connection},
        # Empty flavor: the no-auth pipeline (an admin context, see `glance_context`).
        "paste_deploy": {"flavor": "", "config_file": str(template.paste_ini)},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": f"{workdir}/images/"},
        # The reserved stores the interoperable import methods need.
        "os_glance_staging_store": {"filesystem_store_datadir": f"{workdir}/staging/"},
        "os_glance_tasks_store": {"filesystem_store_datadir": f"{workdir}/tasks/"},
        "oslo_policy": {
            "enforce_new_defaults": "False",
            "enforce_scope": "False",
            "policy_file": str(template.policy_file),
        },
    }
    for section, options in overrides.items():
        sections.setdefault(section, {}).update(options)
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_dict(sections)
    with path.open("w") as f:
        parser.write(f)


class RealGlance(ServerProcess):
    """A real OpenStack Glance 33 API under gunicorn, with its own database and stores.

    It runs on the session's database (`GlanceTemplate.databases`: a server database unless
    `REPLICATOR_TEST_GLANCE_DB` says otherwise) with that database's `workers` and `threads` unless
    given. `sqlite=True` runs it on an SQLite file instead, for the tests about SQLite itself
    (which refuses parallel uploads with "database is locked" and cut connections once it has
    more than one thread). `overrides` adds or replaces glance-api.conf options.
    """

    def __init__(
        self,
        template: GlanceTemplate,
        workdir: Path,
        *,
        workers: int | None = None,
        threads: int | None = None,
        sqlite: bool = False,
        overrides: Overrides | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.template = template
        self.databases = template.sqlite() if sqlite else template.databases
        self.workers = workers or self.databases.workers
        self.threads = threads or self.databases.threads
        self.overrides = overrides or {}
        self.env = dict(env or {})

    def prepare(self) -> None:
        connection = self.databases.new_database(self.workdir)
        write_glance_config(self.workdir / "glance-api.conf", self.workdir, self.template, connection, self.overrides)

    def command(self) -> list[str]:
        return [
            venv_bin("gunicorn"),
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers),
            "--threads", str(self.threads),
            # A stop should not wait the default 30 s for requests still in flight.
            "--graceful-timeout", "2",
            "glance.wsgi.api:application",
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        # PYTHONPATH: the paste ini loads `glance_context` from this folder.
        python_path = os.pathsep.join(filter(None, [TESTS_DIR, os.environ.get("PYTHONPATH")]))
        return {
            **os.environ,
            "OS_GLANCE_CONFIG_DIR": str(self.workdir),
            "PYTHONPATH": python_path,
            **self.env,
        }


class ReplicatorServe(ServerProcess):
    """The project's own Glance-compatible server, storing its data in `workdir/data`.

    With `control` (the default), it is started with `--control` and an admin token of its own
    (through the environment, out of `ps`), which `set_faults`, `faults` and `issue_token` send;
    `control=False` starts it as an operator would, with no control paths at all.
    """

    def __init__(self, workdir: Path, *, extra_args: list[str] | None = None, control: bool = True) -> None:
        super().__init__(workdir)
        self.extra_args = extra_args or []
        self.control_token = secrets.token_hex(16) if control else None
        if "--cert-file" in self.extra_args:
            self.url = self.url.replace("http://", "https://")

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "replicator.server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--data-dir", str(self.workdir / "data"),
            *(["--control"] if self.control_token else []),
            *self.extra_args,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        environment = super().environment()
        if self.control_token:
            environment[TOKEN_VARIABLE] = self.control_token
        return environment

    def control(self, method: str, path: str, document: Any = None) -> glance_client.Response:
        """A request to a control path with the admin token, whatever its answer."""
        headers = {"X-Auth-Token": self.control_token or ""}
        body = None
        if document is not None:
            body = json.dumps(document).encode()
            headers["Content-Type"] = "application/json"
        return glance_client.request(method, self.url + path, body, headers)

    def set_faults(self, **switches: object) -> None:
        """Change fault switches at run time through `POST /_faults`."""
        self._expect("POST", "/_faults", 200, switches)

    def faults(self) -> dict[str, Any]:
        """The switches as the server holds them, with `fired`: how often each fault fired."""
        return self._expect("GET", "/_faults", 200).json()

    def issue_token(self) -> str:
        """A fresh API token from `POST /_token` (from then on, every request needs one)."""
        return self._expect("POST", "/_token", 200).json()["token"]

    def _expect(self, method: str, path: str, status: int, document: Any = None) -> glance_client.Response:
        response = self.control(method, path, document)
        if response.status != status:
            raise glance_client.GlanceError(method, self.url + path, response)
        return response
