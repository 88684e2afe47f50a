"""A real OpenStack Keystone 30 under gunicorn, for the tests of clouds.yaml and expiring tokens.

Keystone's pins conflict with Glance's, so it lives in its own virtual environment, which
`make test` builds and names in `REPLICATOR_KEYSTONE_VENV`. Its tokens last `token_seconds`
(60 in the tests: a copy can outlive several), and its database, fernet keys and bootstrap
(user `admin`, project `admin`, region `RegionOne`) are made fresh in its work folder. Given a
certificate and key it serves https; its access log counts the authentications it answered.
"""

from __future__ import annotations

import configparser
import os
import subprocess
from pathlib import Path
from typing import Any

from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3

from tests.support.servers import ServerProcess

ADMIN_PASSWORD = "keystone-admin-secret"
REGION = "RegionOne"

#: Keystone parses sys.argv when imported, and gunicorn's own arguments make it exit: the
#: application is imported from this module, which first cuts sys.argv down.
_APP_MODULE = """\
import sys
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402
"""


def keystone_venv() -> Path:
    value = os.environ.get("REPLICATOR_KEYSTONE_VENV")
    if not value:
        raise RuntimeError(
            "REPLICATOR_KEYSTONE_VENV is not set: run the suite with `make test`, which installs Keystone"
        )
    return Path(value)


class RealKeystone(ServerProcess):
    """Keystone with a fresh SQLite database and fernet keys in `workdir`."""

    def __init__(self, workdir: Path, token_seconds: int = 60, tls: tuple[Path, Path] | None = None) -> None:
        super().__init__(workdir)
        self.token_seconds = token_seconds
        self.bin = keystone_venv() / "bin"
        #: (certificate, key) PEM files: serve https with them.
        self.tls = tls
        if tls is not None:
            self.url = self.url.replace("http://", "https://")
        self.access_log = workdir / "access.log"
        self._image_service: str | None = None

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    def prepare(self) -> None:
        config = self.workdir / "keystone.conf"
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_dict(
            {
                "database": {"connection": f"sqlite:///{self.workdir / 'keystone.sqlite'}"},
                "token": {"provider": "fernet", "expiration": str(self.token_seconds)},
                "fernet_tokens": {"key_repository": str(self.workdir / "fernet-keys")},
                "fernet_receipts": {"key_repository": str(self.workdir / "fernet-receipts")},
                "credential": {"key_repository": str(self.workdir / "credential-keys")},
            }
        )
        with config.open("w") as f:
            parser.write(f)
        (self.workdir / "keystone_app.py").write_text(_APP_MODULE)
        user = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
        for step in (
            ["db_sync"],
            ["fernet_setup", *user],
            ["credential_setup", *user],
            [
                "bootstrap",
                "--bootstrap-password",
                ADMIN_PASSWORD,
                "--bootstrap-public-url",
                self.auth_url,
                "--bootstrap-region-id",
                REGION,
            ],
        ):
            done = subprocess.run(
                [str(self.bin / "keystone-manage"), "--config-file", str(config), *step],
                capture_output=True,
                text=True,
                cwd=self.workdir,
            )
            if done.returncode != 0:
                raise RuntimeError(f"keystone-manage {step[0]} failed:\n{done.stdout}{done.stderr}")

    def command(self) -> list[str]:
        tls = ["--certfile", str(self.tls[0]), "--keyfile", str(self.tls[1])] if self.tls else []
        return [
            str(self.bin / "gunicorn"),
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", "1",
            "--graceful-timeout", "2",
            "--access-logfile", str(self.access_log),
            *tls,
            "--chdir", str(self.workdir),
            "keystone_app:application",
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        return {**os.environ, "OS_KEYSTONE_CONFIG_DIR": str(self.workdir)}

    def admin_auth(self) -> dict[str, Any]:
        """The `auth` section of a clouds.yaml entry for the bootstrap admin."""
        return {
            "auth_url": self.auth_url,
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }

    def glance_settings(self) -> dict[str, dict[str, str]]:
        """glance-api.conf overrides that make a Glance check its tokens against this Keystone."""
        auth = self.admin_auth()
        return {
            "paste_deploy": {"flavor": "keystone"},
            "keystone_authtoken": {
                "www_authenticate_uri": self.auth_url,
                "auth_url": self.auth_url,
                "auth_type": "password",
                "username": auth["username"],
                "password": auth["password"],
                "project_name": auth["project_name"],
                "user_domain_name": "Default",
                "project_domain_name": "Default",
                # Bootstrap made a public identity endpoint only; the middleware asks for internal.
                "interface": "public",
            },
        }

    def authentications(self) -> int:
        """How many tokens Keystone has been asked for (`POST /v3/auth/tokens`) so far."""
        if not self.access_log.exists():
            return 0
        return sum('"POST /v3/auth/tokens ' in line for line in self.access_log.read_text().splitlines())

    def admin_session(self) -> ksa_session.Session:
        """A keystoneauth session of the bootstrap admin, to change what Keystone holds."""
        return ksa_session.Session(auth=v3.Password(**self.admin_auth()), verify=str(self.tls[0]) if self.tls else True)

    def add_region(self, region: str) -> None:
        self.admin_session().post(f"{self.auth_url}/regions", json={"region": {"id": region}})

    def add_image_endpoint(self, url: str, region: str = REGION, interface: str = "public") -> None:
        """The catalog entry a cloud's operators would have made for a Glance in `region`."""
        admin = self.admin_session()
        if self._image_service is None:
            service = admin.post(f"{self.auth_url}/services", json={"service": {"type": "image", "name": "glance"}})
            self._image_service = service.json()["service"]["id"]
        admin.post(
            f"{self.auth_url}/endpoints",
            json={
                "endpoint": {"service_id": self._image_service, "interface": interface, "url": url, "region_id": region}
            },
        )

    def add_project(self, name: str, domain_id: str = "default") -> str:
        """A project in the Default domain (or `domain_id`'s); its id."""
        answer = self.admin_session().post(
            f"{self.auth_url}/projects", json={"project": {"name": name, "domain_id": domain_id}}
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["project"]["id"]

    def add_domain(self, name: str) -> str:
        """A domain; its id."""
        answer = self.admin_session().post(f"{self.auth_url}/domains", json={"domain": {"name": name}})
        assert answer.status_code == 201, answer.text
        return answer.json()["domain"]["id"]

    def grant_admin(self, project_id: str) -> None:
        """Give the bootstrap admin the `admin` role on a project too, so it can work there."""
        admin = self.admin_session()
        role = admin.get(f"{self.auth_url}/roles", params={"name": "admin"}).json()["roles"][0]["id"]
        admin.put(f"{self.auth_url}/projects/{project_id}/users/{admin.get_user_id()}/roles/{role}")

    def token(self, project_name: str = "admin") -> str:
        """A token of the bootstrap admin on a project (with the catalog as it stands now)."""
        auth = v3.Password(**{**self.admin_auth(), "project_name": project_name})
        return str(ksa_session.Session(auth=auth, verify=str(self.tls[0]) if self.tls else True).get_token())

    def application_credential(self, name: str) -> dict[str, Any]:
        """A new application credential of the admin, on the admin project: its `id` and `secret`."""
        admin = self.admin_session()
        user = admin.get_user_id()
        answer = admin.post(
            f"{self.auth_url}/users/{user}/application_credentials", json={"application_credential": {"name": name}}
        )
        return answer.json()["application_credential"]
