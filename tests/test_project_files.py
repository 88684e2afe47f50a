"""The files an operator reads and copies: the example config stays complete and usable, and
`make demo` installs only what the product needs."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import typer

from replicator.cli import app
from replicator.cli import config as config_file
from replicator.cli.options import (
    Fields,
    OneSide,
    Owners,
    Pruning,
    Requests,
    SelectionOptions,
    Transfer,
    TwoSides,
    Upload,
    build_settings,
    config_keys,
)
from replicator.model.settings import Settings
from replicator.openstack.connect import Side

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "replicator.toml.example"
#: A commented-out key (`# concurrency = 4`) or table header (`# [livecopy]`).
COMMENTED = re.compile(r"^# (?=[a-z][a-z0-9_-]* = |\[[a-z]+\]$)", re.M)


ROOT_COMMAND = typer.main.get_command(app)


def commands() -> dict[str, typer.core.TyperCommand]:
    return {
        name: command
        for name, command in ROOT_COMMAND.commands.items()  # type: ignore[attr-defined]
        if any(param.name == "config" for param in command.params)
    }


def test_the_example_config_sets_nothing_until_a_line_is_uncommented() -> None:
    keys = {name: config_keys(command) for name, command in commands().items()}
    assert config_file.defaults_for(EXAMPLE, keys) == {name: {} for name in keys}


def test_the_example_config_names_every_option_and_each_value_is_usable(tmp_path: Path, monkeypatch) -> None:
    """Every line uncommented at once: each command reads the file, takes a value for every
    option it has, and builds its sides and settings from them."""
    monkeypatch.chdir(tmp_path)
    Path("replicator.toml").write_text(COMMENTED.sub("", EXAMPLE.read_text()))
    Path("ca.pem").write_text("")  # the files the example names
    Path("failed.txt").write_text("0c43eaca-c2a8-4f79-8f2a-b265655883d3\n")
    every = {name: config_keys(command) for name, command in commands().items()}
    from_file = config_file.defaults_for(Path("replicator.toml"), every)
    for name, command in commands().items():
        arguments = ["glance:9292", str(tmp_path)][: sum(param.required for param in command.params)]
        parent = ROOT_COMMAND.make_context("replicator", [name, *arguments])
        context = command.make_context(name, arguments, parent=parent)  # reads ./replicator.toml, converts values
        assert set(from_file[name]) == set(every[name].values()), f"{name}: options the example leaves out"
        values = context.params
        values["ids_from"] = Path(values["ids_from"])  # as Typer hands a path option to a command
        for group in (OneSide, TwoSides, Requests, Fields, Transfer, Upload, SelectionOptions):
            names = [field.name for field in dataclasses.fields(group)]
            if all(field in values for field in names):
                built = group(**{field: values[field] for field in names})
                if isinstance(built, TwoSides):
                    built.sides(None, None)
                elif isinstance(built, OneSide):
                    built.side(None)
                else:
                    build_settings(built)
        assert values["concurrency" if "concurrency" in values else "retries"] == (
            16 if name == "livecopy" else 4 if "concurrency" in values else 3
        )


def test_each_value_the_example_config_shows_is_the_default_where_there_is_one() -> None:
    """The defaults are written once (`Settings`, `Side`) and reach the options from there; the
    example must show those values, or say nothing of a default (an example value stands where
    an option has none: no cloud, no limit)."""
    shared = EXAMPLE.read_text().split("# --- One command's own settings")[0]
    shown = tomllib.loads(COMMENTED.sub("", shared))
    defaults = {
        config_file.key(name[2:]): param.default
        for command in commands().values()
        for param in command.params
        for name in param.opts
        if name.startswith("--")
    }
    checked = {name: value for name, value in shown.items() if defaults[config_file.key(name)] not in (None, "")}
    assert checked, "the example shows no default"
    wrong = {name: (value, defaults[config_file.key(name)]) for name, value in checked.items()}
    assert {name: pair for name, pair in wrong.items() if pair[0] != pair[1]} == {}
    assert {"concurrency", "chunksize", "retries", "timeout", "api-version", "upload-method", "max-prune"} <= set(
        checked
    )


def test_the_option_defaults_are_the_values_defaults() -> None:
    """What a command builds from no options at all is `Settings()` and `Side(server)`."""
    parts = (Requests(), Fields(), Transfer(), Upload(), Owners(), Pruning(), SelectionOptions())
    assert build_settings(*parts) == Settings()
    assert OneSide().side("glance:9292") == Side("glance:9292")


def make_dry_run(target: str) -> str:
    return subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, "VENV=/nonexistent/venv"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.server
def test_make_demo_installs_the_package_alone_and_make_test_its_test_extras() -> None:
    demo = make_dry_run("demo")
    assert "pip install" in demo and "[test]" not in demo and "glance" not in demo
    assert "-e '.[test]'" in make_dry_run("test")
