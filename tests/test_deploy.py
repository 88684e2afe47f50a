"""The Kubernetes Indexed Job in deploy/: its pods' commands, run as the pods would run them,
split a migration into disjoint shards that together copy every image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

import glance_client as gc
from fake_keystone import FakeKeystone, clouds_yaml
from report_file import image_lines

MANIFEST = Path(__file__).parent.parent / "deploy" / "livecopy-indexed-job.yaml"


def load_job() -> dict:
    job = yaml.safe_load(MANIFEST.read_text())
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    return job


def container_env(job: dict) -> dict[str, str]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item.get("value", "") for item in container["env"]}


def test_shard_count_matches_the_job() -> None:
    job = load_job()
    env = container_env(job)
    assert int(env["SHARDS"]) == job["spec"]["completions"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert '--shard "$JOB_COMPLETION_INDEX/$SHARDS"' in container["command"][-1]


def test_the_pods_commands_copy_every_image_once(serve_pair, tmp_path: Path) -> None:
    """Each pod's command, run as the pod runs it, with a clouds.yaml naming the manifest's two
    clouds (their Keystones stand-ins whose catalogs point at the two servers)."""
    job = load_job()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = container_env(job)
    data = gc.seed_raw_images(serve_pair.source, [2000] * 16)
    stones = {env["SOURCE_CLOUD"]: FakeKeystone(catalog=[("RegionOne", "public", serve_pair.source)]).start(),
              env["TARGET_CLOUD"]: FakeKeystone(catalog=[("RegionOne", "public", serve_pair.target)]).start()}
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {name: clouds_yaml(stone)["clouds"]["test"] for name, stone in stones.items()}}))
    bin_dir = str(Path(sys.executable).parent)  # where `replicator` is installed
    copied: list[str] = []
    try:
        for index in range(job["spec"]["completions"]):
            pod = {
                **{k: v for k, v in os.environ.items() if not k.startswith("OS_")}, **env,
                "PATH": bin_dir + os.pathsep + os.environ["PATH"],
                "JOB_COMPLETION_INDEX": str(index),
                "OS_CLIENT_CONFIG_FILE": str(clouds), "REPORT_DIR": str(tmp_path),
            }
            completed = subprocess.run(container["command"], env=pod, capture_output=True, text=True, timeout=120)
            assert completed.returncode == 0, completed.stderr
            report = image_lines(tmp_path / f"shard-{index}.jsonl")
            copied += [line["id"] for line in report if line["result"] == "ok"]
    finally:
        for stone in stones.values():
            stone.stop()
    assert sorted(copied) == sorted(data)
    assert len(gc.list_all(serve_pair.target)) == len(data)
