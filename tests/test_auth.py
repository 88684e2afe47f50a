"""Credentials from clouds.yaml and the OS_* variables (openstacksdk's loader, keystoneauth):
which settings win, tokens renewed when Glance refuses one, and each Keystone error told apart.

Keystone here is `fake_keystone.FakeKeystone`; `test_keystone.py` runs the real one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from replicator.openstack.cloud import resolve_choice
from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.clouds import OS_VARIABLES, write_clouds
from tests.support.fake_keystone import FakeKeystone, clouds_yaml, tokens_from
from tests.support.servers import free_port


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def keystone() -> Iterator[FakeKeystone]:
    fake = FakeKeystone().start()
    yield fake
    fake.stop()


def images_counted(*args: str) -> int:
    result = run("size", *args)
    assert result.exit_code == 0, result.stderr
    return int(result.stdout.split("across ")[1].split()[0])


def test_choice_precedence_flag_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_choice(None, None, None, "--os-cloud") is None  # nothing said: no Keystone
    monkeypatch.setenv("OS_CLOUD", "envcloud")
    monkeypatch.setenv("OS_REGION_NAME", "EnvRegion")
    monkeypatch.setenv("OS_INTERFACE", "internal")
    choice = resolve_choice(None, None, None, "--source-cloud")
    assert choice is not None
    assert (choice.cloud, choice.region, choice.interface, choice.option) == (
        "envcloud",
        "EnvRegion",
        "internal",
        "OS_CLOUD",
    )
    choice = resolve_choice("flagcloud", "FlagRegion", "admin", "--source-cloud")
    assert choice is not None
    assert (choice.cloud, choice.region, choice.interface, choice.option) == (
        "flagcloud",
        "FlagRegion",
        "admin",
        "--source-cloud",
    )


def test_region_flag_beats_environment_beats_clouds_yaml(start_serve, keystone, tmp_path, monkeypatch) -> None:
    servers = [start_serve() for _ in range(3)]
    for count, server in enumerate(servers, start=1):
        gc.seed_raw_images(server.url, [100] * count)
    keystone.catalog = [(f"Region{n}", "public", server.url) for n, server in enumerate(servers, start=1)]
    # clouds.yaml's own choice: the first of the regions it lists (openstacksdk refuses others).
    write_clouds(tmp_path, monkeypatch, clouds_yaml(keystone, regions=["Region3", "Region1", "Region2"]))
    assert images_counted("--os-cloud", "test") == 3  # clouds.yaml
    monkeypatch.setenv("OS_REGION_NAME", "Region2")
    assert images_counted("--os-cloud", "test") == 2  # the environment over clouds.yaml
    assert images_counted("--os-cloud", "test", "--os-region-name", "Region1") == 1  # the flag over both
    monkeypatch.setenv("OS_CLOUD", "test")
    assert images_counted() == 2  # OS_CLOUD names the cloud when no flag does
    # An explicit SERVER overrides the catalog; the cloud still supplies the token.
    assert images_counted(servers[0].url, "--os-cloud", "test") == 1


def test_password_from_secure_yaml_and_interface_from_clouds_yaml(start_serve, keystone, tmp_path, monkeypatch) -> None:
    public, internal = start_serve(), start_serve()
    gc.seed_raw_images(internal.url, [10, 20])
    keystone.catalog = [("RegionOne", "public", public.url), ("RegionOne", "internal", internal.url)]
    document = clouds_yaml(keystone, interface="internal")
    del document["clouds"]["test"]["auth"]["password"]
    write_clouds(tmp_path, monkeypatch, document, {"clouds": {"test": {"auth": {"password": "secret"}}}})
    assert images_counted("--os-cloud", "test") == 2
    assert images_counted("--os-cloud", "test", "--os-interface", "public") == 0


def test_each_side_has_its_own_cloud(start_serve, tmp_path, monkeypatch) -> None:
    source, target = start_serve(), start_serve()
    data = gc.seed_raw_images(source.url, [5000, 7000])
    stones = [FakeKeystone(catalog=[("RegionOne", "public", server.url)]).start() for server in (source, target)]
    try:
        document = {
            "clouds": {
                name: clouds_yaml(stone)["clouds"]["test"] for name, stone in zip(("old", "new"), stones, strict=True)
            }
        }
        write_clouds(tmp_path, monkeypatch, document)
        result = run("livecopy", "--source-cloud", "old", "--target-cloud", "new")
        assert result.exit_code == 0, result.stderr
        assert {image["id"] for image in gc.list_all(target.url)} == set(data)
        assert run("compare", "--source-cloud", "old", "--target-cloud", "new").exit_code == 0
        assert all(stone.issued for stone in stones)
    finally:
        for stone in stones:
            stone.stop()


def test_token_refused_mid_run_is_renewed_and_no_transfer_is_lost(start_serve, keystone, tmp_path, monkeypatch) -> None:
    source, target = start_serve(), start_serve()
    data = gc.seed_raw_images(source.url, [200_000] * 6)
    source.set_faults(token_ttl=0.8, latency=0.15)
    keystone.mint = tokens_from(source)
    keystone.catalog = [("RegionOne", "public", source.url)]
    write_clouds(tmp_path, monkeypatch, clouds_yaml(keystone))
    result = run("livecopy", "-", target.url, "--source-cloud", "test", "--concurrency", "2", "--bwlimit", "600K")
    assert result.exit_code == 0, result.stderr
    assert len(keystone.issued) >= 2
    assert source.faults()["fired"].get("unauthorized", 0) >= 1
    records = {image["id"]: image for image in gc.list_all(target.url)}
    assert all(records[image_id]["status"] == "active" for image_id in data)
    for token in keystone.issued:
        assert token not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "case, message",
    [
        ("unknown cloud", "cloud 'nowhere' (--os-cloud): Cloud nowhere was not found"),
        ("bad password", "cloud 'test' (--os-cloud): Keystone refused the credentials (401)"),
        ("no image service", "cloud 'test' (--os-cloud): no image endpoint in the catalog"),
        (
            "other region",
            "cloud 'test' (--os-cloud): region 'RegionTwo' not found for the image service (the catalog has it in: RegionOne)",
        ),
        ("keystone down", "cloud 'test' (--os-cloud): cannot reach Keystone"),
        (
            "no server and no cloud",
            "the SERVER argument is missing: name the source Glance (host:port or a URL), or a cloud",
        ),
    ],
)
def test_keystone_errors_are_told_apart(case, message, serve_one, keystone, tmp_path, monkeypatch) -> None:
    keystone.catalog = [("RegionOne", "public", serve_one.url)]
    args = ["--os-cloud", "test"]
    document = clouds_yaml(keystone)
    if case == "unknown cloud":
        args = ["--os-cloud", "nowhere"]
    elif case == "bad password":
        document = clouds_yaml(keystone, password="wrong")
    elif case == "no image service":
        keystone.catalog = []
    elif case == "other region":
        args += ["--os-region-name", "RegionTwo"]
    elif case == "keystone down":
        document["clouds"]["test"]["auth"]["auth_url"] = f"http://127.0.0.1:{free_port()}/v3"
    elif case == "no server and no cloud":
        args = []
    write_clouds(tmp_path, monkeypatch, document)
    result = run("size", *args)
    assert result.exit_code == 2
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "secret" not in result.stderr and "wrong" not in result.stderr


@pytest.mark.server
def test_a_stop_signal_during_a_slow_authentication_ends_the_run_at_once(
    serve_one, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: Keystone takes its time to answer; SIGTERM ends the run without waiting for
    it (Kubernetes kills a pod 30 s after SIGTERM)."""
    import signal
    import subprocess
    import sys
    import threading

    hold = threading.Event()
    slow = FakeKeystone(catalog=[("RegionOne", "public", serve_one.url)], hold=hold).start()
    try:
        write_clouds(tmp_path, monkeypatch, clouds_yaml(slow))
        run_ = subprocess.Popen(
            [sys.executable, "-m", "replicator", "size", "--os-cloud", "test"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert slow.asked.wait(60), "the run never asked Keystone"
            run_.send_signal(signal.SIGTERM)
            _, stderr = run_.communicate(timeout=30)  # Keystone still holds its answer
        finally:
            run_.kill()
        assert run_.returncode == 143, stderr
        assert stderr.strip().splitlines()[-1] == "replicator: interrupted (SIGTERM)", stderr
    finally:
        hold.set()
        slow.stop()
