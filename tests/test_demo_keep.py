"""`replicator demo --keep`: after the compare the two servers go on serving, the run says how
to reach them, and when stopped their images stay where it said."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path

import aiohttp
import pytest

from replicator.cli import demo

SMALL = [("alpine", 70_000, {"tags": ["tiny"]}), ("config", 1_000, {})]


async def test_keep_leaves_the_servers_serving_and_the_images_in_place(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "IMAGES", SMALL)
    stop = asyncio.Event()
    running = asyncio.create_task(demo.run_demo(keep=True, stop=stop))
    printed = ""
    while "kept running" not in printed:
        assert not running.done(), printed
        await asyncio.sleep(0.05)
        printed += capsys.readouterr().out
    source = re.search(r"  source: (\S+)", printed)
    folder = re.search(r"images in (\S+)", printed)
    assert source and folder, printed
    try:
        async with aiohttp.ClientSession() as client, client.get(f"{source.group(1)}/v2/images") as answer:
            names = sorted(image["name"] for image in (await answer.json())["images"])
        assert names == ["alpine", "config"]
        assert f"replicator compare {source.group(1)} " in printed
    finally:
        stop.set()
        assert await running == 0
        printed += capsys.readouterr().out
        kept = Path(folder.group(1))
        try:
            assert f"servers stopped; their images stay in {kept}" in printed
            assert (kept / "source").is_dir() and (kept / "target").is_dir()
        finally:
            shutil.rmtree(kept, ignore_errors=True)
    async with aiohttp.ClientSession() as client:
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.get(f"{source.group(1)}/v2/images")


async def test_without_keep_the_folder_is_removed(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setattr(demo, "IMAGES", SMALL)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert await demo.run_demo() == 0
    out = capsys.readouterr().out
    assert "kept running" not in out and "filled the source with 2 images" in out
    assert list(tmp_path.iterdir()) == []
