"""clouds.yaml and the OS_* variables for tests that reach Glance through Keystone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

OS_VARIABLES = (
    "OS_CLOUD",
    "OS_REGION_NAME",
    "OS_INTERFACE",
    "OS_AUTH_URL",
    "OS_USERNAME",
    "OS_PASSWORD",
    "OS_PROJECT_NAME",
    "OS_AUTH_TYPE",
    "OS_CLIENT_CONFIG_FILE",
    "OS_CLIENT_SECURE_FILE",
    "OS_TOKEN",
)


def write_private(path: Path, text: str) -> Path:
    """A file only its owner may read, as a clouds.yaml holding a password should be."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)
    return path


def write_clouds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict, secure: dict | None = None) -> None:
    path = write_private(tmp_path / "clouds.yaml", yaml.safe_dump(document))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    secure_path = write_private(tmp_path / "secure.yaml", yaml.safe_dump(secure or {"clouds": {}}))
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(secure_path))
