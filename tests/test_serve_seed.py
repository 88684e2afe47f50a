"""`replicator serve --seed-images N --seed-size SIZE`: images with data to experiment on,
active, with the checksum and os_hash_value of their data as Glance computes them, kept in
the data directory so the server started on it serves them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import pytest

from replicator.server.__main__ import from_command_line, start
from replicator.server.config import FaultConfig, ServerConfig
from replicator.server.seeded import seed_images


async def test_seeded_images_are_active_with_the_hashes_of_their_data(tmp_path: Path) -> None:
    # Faults and a token asked for the real server do not stop the seeding.
    config = ServerConfig(token="secret", faults=FaultConfig(error_rate=1.0))
    ids = await seed_images(tmp_path, config, 3, 70_000)
    assert len(set(ids)) == 3
    runner = await start("127.0.0.1", 0, tmp_path, ServerConfig(token="secret"))
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/v2/images"
    datas = []
    try:
        async with aiohttp.ClientSession(headers={"X-Auth-Token": "secret"}) as client:
            for image_id in ids:
                async with client.get(f"{base}/{image_id}") as answer:
                    record = await answer.json()
                async with client.get(f"{base}/{image_id}/file") as answer:
                    data = await answer.read()
                assert record["status"] == "active" and record["size"] == len(data) == 70_000
                assert record["checksum"] == hashlib.md5(data).hexdigest()
                assert (
                    record["os_hash_algo"] == "sha512" and record["os_hash_value"] == hashlib.sha512(data).hexdigest()
                )
                datas.append(data)
    finally:
        await runner.cleanup()
    assert len(set(datas)) == 3  # random data: each image its own


def test_the_seed_options_are_read_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    args, _, _ = from_command_line(["--data-dir", "d", "--seed-images", "4", "--seed-size", "10M"], {})
    assert (args.seed_images, args.seed_size) == (4, 10 * 1024 * 1024)
    with pytest.raises(SystemExit) as stopped:
        from_command_line(["--data-dir", "d", "--seed-images", "-1"], {})
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "replicator: error: --seed-images takes a count of at least 0 (see 'replicator serve --help')"
    ]
