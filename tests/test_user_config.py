"""Issue 25: a user config file beside ./replicator.toml: `$REPLICATOR_CONFIG`, then
`$XDG_CONFIG_HOME/replicator/config.toml` (`~/.config/...`). One file is read, the nearest:
--config, ./replicator.toml, $REPLICATOR_CONFIG, the user file; the run says which, and a file
another user could write is refused wherever it was found."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run

#: A key no command takes: the error names the file that was read, so it shows which one won.
TYPO = "concurency = 3\n"


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    work, home, xdg = tmp_path / "work", tmp_path / "home", tmp_path / "xdg"
    for directory in (work, home, xdg / "replicator", home / ".config" / "replicator"):
        directory.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("REPLICATOR_CONFIG", raising=False)
    return {
        "here": work / "replicator.toml",
        "named": tmp_path / "named.toml",
        "xdg": xdg / "replicator" / "config.toml",
        "home": home / ".config" / "replicator" / "config.toml",
    }


def read(monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """The file `size` read: the one its error about the typo names."""
    result = run("size", "http://127.0.0.1:9/", *args)
    assert result.exit_code != 0 and "unknown setting concurency" in result.stderr, result.stderr
    return result.stderr.split("config file ", 1)[1].split(",", 1)[0]


def test_the_nearest_file_is_read_and_named(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for path in places.values():
        path.write_text(TYPO)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(places["xdg"].parent.parent))
    monkeypatch.setenv("REPLICATOR_CONFIG", str(places["named"]))
    given = places["named"].with_name("given.toml")
    given.write_text(TYPO)
    assert read(monkeypatch, "--config", str(given)) == str(given)
    assert read(monkeypatch) == "replicator.toml"
    places["here"].unlink()
    assert read(monkeypatch) == str(places["named"])
    monkeypatch.delenv("REPLICATOR_CONFIG")
    assert read(monkeypatch) == str(places["xdg"])  # XDG_CONFIG_HOME honoured
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # not absolute: ignored, as XDG says
    assert read(monkeypatch) == str(places["home"])
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert read(monkeypatch) == str(places["home"])


def test_the_run_says_which_user_file_sets_a_connection(places: dict[str, Path]) -> None:
    places["home"].write_text('os-cloud = "nowhere"\n')
    result = run("size")
    assert f"replicator: config file {places['home']} sets os-cloud" in result.stderr, result.stderr


def test_a_named_file_that_is_not_there_is_an_error(places: dict[str, Path], monkeypatch) -> None:
    places["home"].write_text(TYPO)
    monkeypatch.setenv("REPLICATOR_CONFIG", str(places["named"]))
    result = run("size", "http://127.0.0.1:9/")
    assert result.exit_code != 0 and f"cannot read the config file {places['named']}" in result.stderr


def test_a_user_file_writable_by_others_is_refused(places: dict[str, Path]) -> None:
    places["home"].write_text("concurrency = 3\n")
    places["home"].chmod(0o666)
    result = run("size", "http://127.0.0.1:9/")
    assert result.exit_code != 0 and "is writable by others" in result.stderr and str(places["home"]) in result.stderr
