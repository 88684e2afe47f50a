"""`replicator --version`, `--help` and shell completion load nothing a run alone needs.

Each is run as a process with `python -X importtime`, which names every module the process
imported: the network stack (aiohttp), OpenStack's libraries, YAML, the metrics library and
the session and engine must not be among them (they load in the command's body, when a run
starts). `--help` may load rich: Typer draws its help with it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.server

#: What only a run needs (a module, or a package with everything under it).
HEAVY = (
    "aiohttp",
    "openstack",
    "keystoneauth1",
    "yaml",
    "prometheus_client",
    "uvloop",
    "replicator.cli.session",
    "replicator.engine",
    "replicator.stores.glance",
)


def imported(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The modules `python -m replicator ARGS` imported, and what it printed on stdout."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "replicator", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "replicator.cli.app" in names, "importtime named no module: the check would prove nothing"
    return names, done.stdout


def heavy(names: set[str], allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY + ("rich",) if h not in allowed)
    )


def test_version_imports_nothing_heavy() -> None:
    names, out = imported("--version")
    assert out.startswith("replicator ")
    assert heavy(names) == []


@pytest.mark.parametrize("command", [[], ["livecopy"], ["compare"], ["dump"], ["load"], ["size"]])
def test_help_imports_nothing_a_run_alone_needs(command: list[str]) -> None:
    names, out = imported(*command, "--help")
    assert "Usage:" in out
    assert heavy(names, allowed=("rich",)) == []


def test_completion_imports_nothing_heavy() -> None:
    names, out = imported(
        env={
            "_REPLICATOR_COMPLETE": "complete_bash",
            "COMP_WORDS": "replicator livecopy --source-api-version ",
            "COMP_CWORD": "3",
        }
    )
    assert "auto" in out.split()
    assert heavy(names) == []
