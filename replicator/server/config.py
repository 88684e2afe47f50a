"""What a server instance is told at start: its limits, its identity, and its fault switches.

Fault switches live in their own dataclass because tests change them at run time through
`POST /_faults` (with `--control`); everything else is fixed for the life of the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from replicator.server.switches import read_switches

#: The project that owns images created without an `owner`: the admin project our real-Glance
#: test fixture runs as, so records from both kinds of server look alike.
DEFAULT_PROJECT = "a0000000000000000000000000000001"


@dataclass
class FaultConfig:
    """Misbehaviour to inject, each switch off by default.

    `corrupt_after_bytes` flips the bits of one byte of a download at that offset: what a
    faulty disk or proxy does, and what only hashing catches. Counts (`drop_count`,
    `corrupt_count`, `stall_count`) say how many times a fault fires before it stops;
    None means every time. `error_paths` limits injected errors to paths containing one of
    its substrings (empty: every path).
    """

    drop_after_bytes: int | None = None
    drop_count: int | None = None
    drop_upload_after_bytes: int | None = None
    corrupt_after_bytes: int | None = None
    corrupt_count: int | None = None
    stall_seconds: float = 0.0
    stall_count: int | None = None
    error_rate: float = 0.0
    error_status: int = 503
    retry_after: float | None = None
    error_paths: list[str] = field(default_factory=list)
    seed: int | None = None
    latency: float = 0.0
    bandwidth: int | None = None
    token_ttl: float | None = None

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `{switch: value}` from a request, all or nothing: `ValueError` names the first
        unknown switch or bad value (see `switches`), and then nothing has changed."""
        for name, value in read_switches(changes).items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class ServerConfig:
    """Fixed settings of one server.

    `page_cap` is Glance's `api_limit_max` (a larger `limit` is cut to it) and
    `default_limit` its `limit_param_default`. With `token` set, every request but
    `GET /versions` needs `X-Auth-Token`. `direct_upload=False` refuses `PUT .../file` with
    403, as a Glance that only allows interoperable import does. With `control_token` set, the
    control paths (`/_faults`, `/_token`) exist, and answer only requests that carry it.
    `generated_images` metadata-only images are made up at start (see `generated.py`).
    """

    page_cap: int = 1000
    default_limit: int = 25
    project_id: str = DEFAULT_PROJECT
    token: str | None = None
    direct_upload: bool = True
    stores: tuple[str, ...] = ("fs",)
    #: The APIs served: ("v2",) as a current Glance; ("v1", "v2") or ("v1",) as older ones.
    apis: tuple[str, ...] = ("v2",)
    faults: FaultConfig = field(default_factory=FaultConfig)
    control_token: str | None = None
    generated_images: int = 0
