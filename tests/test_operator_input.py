"""What an operator types that cannot be used stops the run before it starts: exit 2 and one
line that names the option (or the file and line), what would have been accepted, and the
closest match. Nothing is contacted: every server address here is a closed port."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from replicator.cli import app
from replicator.cli import config as config_file
from replicator.cli.advice import error_line
from replicator.cli.options import config_keys
from replicator.model.errors import ErrorKind, RunError
from replicator.openstack.connect import Side
from tests.support.cli import assert_refused, run
from tests.support.servers import free_port


def closed() -> str:
    return f"127.0.0.1:{free_port()}"


# The config file.


def test_a_typo_in_replicator_toml_names_the_file_the_line_and_the_key_meant(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("replicator.toml").write_text("# migration settings\nretries = 5\nconcurency = 8\n")
    line = assert_refused(
        run("livecopy", closed(), closed()),
        "replicator.toml, line 3",
        "unknown setting concurency",
        "did you mean concurrency?",
    )
    assert "--config" not in line  # the operator gave no --config: it is not to blame


def test_a_typo_in_a_command_table_and_in_a_table_name(tmp_path: Path) -> None:
    settings = tmp_path / "other.toml"
    settings.write_text('retries = 5\n\n[livecopy]\nbwlimit = "10M"\nupload-methd = "direct"\n')
    assert_refused(
        run("livecopy", closed(), closed(), "--config", str(settings)),
        f"{settings}, line 5",
        "[livecopy] unknown setting upload-methd",
        "did you mean upload-method?",
    )
    settings.write_text('[livecpy]\nbwlimit = "10M"\n')
    assert_refused(
        run("size", closed(), "--config", str(settings)),
        f"{settings}, line 1",
        "no command is named [livecpy]",
        "did you mean livecopy?",
    )


def test_a_config_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    settings = tmp_path / "latin1.toml"
    settings.write_bytes("# réglages\nretries = 5\n".encode("latin-1"))
    assert_refused(run("size", closed(), "--config", str(settings)), str(settings), "not UTF-8")


def test_keys_are_the_long_option_names_in_either_spelling(tmp_path: Path) -> None:
    settings = tmp_path / "replicator.toml"
    settings.write_text('id = ["a"]\ntag = ["gold"]\nupload_method = "direct"\n[livecopy]\nmax-transfer = "1G"\n')
    commands = {
        name: config_keys(command)
        for name, command in typer.main.get_command(app).commands.items()  # type: ignore[attr-defined]
        if any(param.name == "config" for param in command.params)
    }
    defaults = config_file.defaults_for(settings, commands)
    assert defaults["livecopy"] == {"ids": ["a"], "tags": ["gold"], "upload_method": "direct", "max_transfer": "1G"}
    assert defaults["compare"] == {"ids": ["a"], "tags": ["gold"]}


# Values with a fixed vocabulary, and numbers that cannot work.


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--status", "actve"], ["--status 'actve'", "queued, saving", "did you mean 'active'?"]),
        (["--visibility", "bogus"], ["--visibility 'bogus'", "public, private, shared, community"]),
        (["--visibility", "privat"], ["did you mean 'private'?"]),
        (
            ["--upload-method", "glance_direct"],
            ["--upload-method", "auto, direct, glance-direct", "did you mean 'glance-direct'?"],
        ),
        (["--api-version", "v2"], ["--api-version 'v2'", "auto, 1, 2", "did you mean '2'?"]),
        (["--target-api-version", "3"], ["--target-api-version '3'", "API version must be one of auto, 1, 2"]),
        (["--fallback-visibility", "public"], ["--fallback-visibility 'public'", "private, shared"]),
        (["--timeout", "nan"], ["--timeout nan", "finite"]),
        (["--timeout", "inf"], ["--timeout inf", "finite"]),
        (["--chunksize", "1T"], ["--chunksize 1T", "between 4K and 64M"]),
        (["-c", "100"], ["--chunksize 100", "between 4K and 64M"]),
    ],
)
def test_a_value_no_run_can_use_stops_livecopy_before_it_starts(args: list[str], fragments: list[str]) -> None:
    assert_refused(
        run("livecopy", closed(), closed(), *args), *fragments, absent=("cannot connect", "connection refused")
    )


def test_load_with_a_terabyte_chunk_is_a_usage_error(tmp_path: Path) -> None:
    assert_refused(run("load", closed(), str(tmp_path), "--chunksize", "1T"), "--chunksize 1T", "between 4K and 64M")


def test_a_typo_in_the_config_file_is_checked_like_a_flag(tmp_path: Path) -> None:
    settings = tmp_path / "replicator.toml"
    settings.write_text('[compare]\nstatus = ["active", "deactivatd"]\n')
    assert_refused(
        run("compare", closed(), closed(), "--config", str(settings)),
        "--status 'deactivatd'",
        "did you mean 'deactivated'?",
    )


def test_two_target_stores_are_refused_and_one_in_the_file_is_a_store(tmp_path: Path) -> None:
    assert_refused(
        run("livecopy", closed(), closed(), "--store", "fast", "--store", "slow"),
        "--store given 2 times (fast, slow)",
        "one target store",
    )
    settings = tmp_path / "replicator.toml"
    settings.write_text('store = "fast"\n')
    result = run("livecopy", closed(), closed(), "--config", str(settings))
    assert result.exit_code == 2 and "Value must be an iterable" not in result.stderr, result.stderr
    assert "--store" not in result.stderr  # got as far as the (closed) source


def test_chunk_sizes_at_the_bounds_are_accepted(tmp_path: Path) -> None:
    for chunk in ("4K", "64M"):
        result = run("load", closed(), str(tmp_path / "absent"), "--chunksize", chunk)
        assert result.exit_code == 2 and "does not exist" in result.stderr, result.stderr  # got as far as the dump


# Tokens from the environment, where `ps` does not show them.


def run_with(environment: dict[str, str], *args: str):
    """The command with these variables and no OS_* variable (no cloud) but OS_TOKEN if given."""
    clean: dict[str, str | None] = {name: None for name in os.environ if name.startswith(("OS_", "REPLICATOR_"))}
    return CliRunner().invoke(app, list(args), env={**clean, **environment}, catch_exceptions=False)


@pytest.mark.parametrize("variable", ["REPLICATOR_TOKEN", "OS_TOKEN"])
def test_a_token_for_one_glance_from_the_environment(start_serve, variable: str) -> None:
    glance = start_serve("--token", "s3cret")
    refused = run_with({}, "size", glance.url, "--retries", "0")
    assert refused.exit_code == 2 and "401" in refused.stderr, refused.stderr
    accepted = run_with({variable: "s3cret"}, "size", glance.url)
    assert accepted.exit_code == 0, accepted.stderr
    assert accepted.stdout.startswith("Total size is 0 bytes")


def test_each_side_its_own_token_from_the_environment(start_serve) -> None:
    source, target = start_serve("--token", "for-source"), start_serve("--token", "for-target")
    both = {"REPLICATOR_SOURCE_TOKEN": "for-source", "REPLICATOR_TARGET_TOKEN": "for-target"}
    assert run_with(both, "livecopy", source.url, target.url).exit_code == 0
    assert run_with(both, "compare", source.url, target.url).exit_code == 0
    # The side's own variable wins over the one for both sides.
    mixed = {"REPLICATOR_TOKEN": "for-target", "REPLICATOR_SOURCE_TOKEN": "for-source"}
    assert run_with(mixed, "compare", source.url, target.url).exit_code == 0
    wrong = run_with({"REPLICATOR_TOKEN": "for-source"}, "compare", source.url, target.url, "--retries", "0")
    assert wrong.exit_code == 2 and "401" in wrong.stderr, wrong.stderr


def test_os_token_is_left_to_the_cloud_when_a_cloud_is_named(start_serve, tmp_path: Path) -> None:
    """With OS_CLOUD set, OS_TOKEN belongs to that cloud's Keystone login: it is never sent to
    Glance as a static token (here the cloud does not exist, which is what is reported)."""
    glance = start_serve("--token", "s3cret")
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {}\n")
    result = run_with(
        {"OS_TOKEN": "s3cret", "OS_CLOUD": "nowhere", "OS_CLIENT_CONFIG_FILE": str(clouds)},
        "size",
        glance.url,
        "--retries",
        "0",
    )
    assert result.exit_code == 2 and "nowhere" in result.stderr, result.stderr


# Files named on the command line.


def test_a_missing_cacert_is_reported_missing(tmp_path: Path) -> None:
    line = assert_refused(
        run("size", f"https://{closed()}", "--cacert", str(tmp_path / "ca.pem")),
        f"--cacert {tmp_path / 'ca.pem'}: No such file or directory",
    )
    assert "Is a directory" not in line and "is a directory" not in line
    assert_refused(run("size", f"https://{closed()}", "--cacert", str(tmp_path)), "is a directory")


# Errors become advice in the command line's terms (the layers below only give a kind).


def test_error_kinds_become_advice_naming_options() -> None:
    sides = {
        "source": Side("glance-a:9292", token="static"),
        "target": Side(None, cloud="new-region", cloud_option="--target-cloud"),
    }
    untrusted = RunError(
        "list images: the certificate of https://glance-a:9292 is not trusted",
        kind=ErrorKind.CERTIFICATE,
        side="source",
    )
    assert error_line(untrusted, sides) == (
        "replicator: error: list images: the certificate of https://glance-a:9292 is not trusted; "
        "give its CA with --cacert, or --insecure to skip the check"
    )
    refused = error_line(RunError("list images: 401 Unauthorized", kind=ErrorKind.AUTH, side="source"), sides)
    assert "--sourcetoken (or REPLICATOR_SOURCE_TOKEN) cannot be renewed" in refused and "new token" in refused
    missing = error_line(RunError("401 Unauthorized", kind=ErrorKind.AUTH), {"target": Side("glance-b:9292")})
    assert missing.endswith("give a token with --token (or REPLICATOR_TOKEN, or OS_TOKEN), or a cloud with --os-cloud")
    forbidden = RunError("list images: 403 Forbidden", kind=ErrorKind.FORBIDDEN, side="target")
    assert error_line(forbidden, sides) == "replicator: error: list images: 403 Forbidden"


def test_a_report_that_cannot_be_written_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    # Writing /proc/version fails (EIO as root, EACCES otherwise): it used to fail with exit 70
    # after the whole run; the servers here do not even exist.
    assert_refused(
        run("livecopy", closed(), closed(), "--report", "/proc/version"),
        "cannot write the report /proc/version",
        absent=("cannot connect", "connection refused"),
    )
    assert_refused(
        run("dump", closed(), str(tmp_path / "dump"), "--report", str(tmp_path / "no" / "r.jsonl")),
        "cannot write the report",
        "No such file or directory",
    )
    assert not (tmp_path / "dump").exists()
