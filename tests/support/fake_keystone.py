"""A stand-in Keystone v3 for the auth unit tests: a password check, a token, and a catalog.

The real Keystone runs in `test_keystone.py`; this one exists for what a real one cannot be made
to do on demand: a catalog with no image service, or endpoints only in other regions. Tokens
can come from a `replicator serve` (its control path `POST /_token`), so that server accepts
them and lets them expire after its `token_ttl`, which is how a renewal mid-run is tested.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.servers import ReplicatorServe
from tests.support.threaded import serve_in_thread


@dataclass
class FakeKeystone:
    """`catalog`: (region, interface, url) of the image endpoints; `password` the one accepted."""

    catalog: list[tuple[str, str, str]] = field(default_factory=list)
    password: str = "secret"
    #: Where tokens come from; by default a new uuid each time.
    mint: Callable[[], str] = lambda: uuid.uuid4().hex
    issued: list[str] = field(default_factory=list)
    #: The token's life as Keystone states it (a past `expires_at`: a clock that disagrees with ours).
    issued_at: str = "2026-01-01T00:00:00.000000Z"
    expires_at: str = "2099-01-01T00:00:00.000000Z"
    #: An answer given to every authentication instead of a token: (status, body).
    answer: tuple[int, dict] | None = None
    #: Set, an authentication is answered only once it is set (a Keystone that is slow to answer).
    hold: threading.Event | None = None
    #: Set when an authentication has arrived.
    asked: threading.Event = field(default_factory=threading.Event)

    def start(self) -> FakeKeystone:
        keystone = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # version discovery
                base = f"http://127.0.0.1:{self.server.server_address[1]}/v3/"  # type: ignore[index]
                version = {
                    "id": "v3.14",
                    "status": "stable",
                    "links": [{"rel": "self", "href": base}],
                    "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
                }
                body = {"version": version} if self.path.startswith("/v3") else {"versions": {"values": [version]}}
                self._send(200, body)

            def do_POST(self) -> None:
                keystone.asked.set()
                if keystone.hold is not None:
                    keystone.hold.wait(120)
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                password = (
                    request.get("auth", {}).get("identity", {}).get("password", {}).get("user", {}).get("password")
                )
                if keystone.answer is not None:
                    self._send(*keystone.answer)
                    return
                if password != keystone.password:
                    self._send(
                        401,
                        {
                            "error": {
                                "code": 401,
                                "title": "Unauthorized",
                                "message": "The request you have made requires authentication.",
                            }
                        },
                    )
                    return
                token = keystone.mint()
                keystone.issued.append(token)
                self._send(201, keystone.token_body(), {"X-Subject-Token": token})

            def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        serve_in_thread(self._server)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v3"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token_body(self) -> dict:
        domain = {"id": "default", "name": "Default"}
        endpoints = [
            {"id": uuid.uuid4().hex, "region": region, "region_id": region, "interface": interface, "url": url}
            for region, interface, url in self.catalog
        ]
        catalog = [{"type": "image", "name": "glance", "id": "glance", "endpoints": endpoints}] if endpoints else []
        return {
            "token": {
                "methods": ["password"],
                "expires_at": self.expires_at,
                "issued_at": self.issued_at,
                "user": {"id": "u1", "name": "admin", "domain": domain},
                "project": {"id": "p1", "name": "admin", "domain": domain},
                "roles": [{"id": "r1", "name": "admin"}],
                "catalog": catalog
                + [
                    {
                        "type": "identity",
                        "name": "keystone",
                        "id": "keystone",
                        "endpoints": [
                            {
                                "id": "k1",
                                "region": "RegionOne",
                                "region_id": "RegionOne",
                                "interface": "public",
                                "url": self.url,
                            }
                        ],
                    }
                ],
            }
        }


def tokens_from(server: ReplicatorServe) -> Callable[[], str]:
    """Mint tokens on a `replicator serve`, so it accepts them (until its token_ttl)."""
    return server.issue_token


def clouds_yaml(keystone: FakeKeystone, password: str = "secret", **extra: object) -> dict:
    """One cloud, `test`, authenticating with a password at `keystone`."""
    auth = {
        "auth_url": keystone.url,
        "username": "admin",
        "password": password,
        "project_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    return {"clouds": {"test": {"auth_type": "v3password", "auth": auth, **extra}}}
