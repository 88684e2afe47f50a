"""The deployments in deploy/: every Kubernetes manifest passes the API's schemas, the systemd
units pass `systemd-analyze verify`, and each one's command, run as the pod or the service would
run it, does its job: the Indexed Job's pods split a migration into disjoint shards that together
copy every image, and the scheduled runs keep a target in step, their reports kept."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.support import glance_client as gc
from tests.support.fake_keystone import FakeKeystone, clouds_yaml
from tests.support.prometheus import parse, scrape
from tests.support.report_file import image_lines
from tests.support.servers import free_port

DEPLOY = Path(__file__).parent.parent / "deploy"
MANIFEST = DEPLOY / "livecopy-indexed-job.yaml"
CRONJOB = DEPLOY / "livecopy-cronjob.yaml"
SERVICE = DEPLOY / "replicator-livecopy.service"
TIMER = DEPLOY / "replicator-livecopy.timer"
#: The oldest Kubernetes the manifests are for: the Indexed Job's backoffLimitPerIndex is on by
#: default from 1.29.
OLDEST_KUBERNETES = "1.29"
BIN_DIR = str(Path(sys.executable).parent)  # where `replicator` is installed


def documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def the(kind: str, path: Path) -> dict:
    (found,) = [document for document in documents(path) if document["kind"] == kind]
    return found


def load_job() -> dict:
    job = the("Job", MANIFEST)
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    return job


def container_env(job: dict) -> dict[str, str]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item.get("value", "") for item in container["env"]}


@contextmanager
def clouds_file(tmp_path: Path, endpoints: Mapping[str, str]) -> Iterator[Path]:
    """A clouds.yaml naming each cloud of `endpoints`, each with a Keystone stand-in whose
    catalog points at that cloud's Glance."""
    stones = {name: FakeKeystone(catalog=[("RegionOne", "public", url)]).start() for name, url in endpoints.items()}
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        yaml.safe_dump({"clouds": {name: clouds_yaml(stone)["clouds"]["test"] for name, stone in stones.items()}})
    )
    try:
        yield clouds
    finally:
        for stone in stones.values():
            stone.stop()


def pod_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The container's `env` over ours (no OS_* of ours), with `replicator` on PATH."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("OS_")},
        **env,
        "PATH": BIN_DIR + os.pathsep + os.environ["PATH"],
    }


def run_pod(command: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`command` run as the container runs it (see `pod_environment`)."""
    return subprocess.run(command, env=pod_environment(env), capture_output=True, text=True, timeout=120)


def report_lines(path: Path) -> list[dict]:
    return image_lines(path)


#: Manifests of the Kubernetes API itself; the Prometheus Operator's PrometheusRule is a custom
#: resource the schemas do not know (tests/test_dashboard.py checks it).
KUBERNETES_MANIFESTS = sorted(path for path in DEPLOY.glob("*.yaml") if path.name != "prometheus-rules.yaml")


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, latest_version()])
@pytest.mark.parametrize("manifest", KUBERNETES_MANIFESTS, ids=lambda path: path.name)
def test_every_manifest_passes_the_kubernetes_schemas(manifest: Path, version: str) -> None:
    """Strict: a misspelt or misplaced field fails, as `kubectl apply --validate=strict` would."""
    found = documents(manifest)
    assert found
    for document in found:
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("manifest", [MANIFEST, CRONJOB], ids=lambda path: path.name)
def test_the_reports_outlive_the_pods(manifest: Path) -> None:
    """The directory the reports go to is a volume claim of the same manifest, not the pod's own disk."""
    claims = {
        document["metadata"]["name"] for document in documents(manifest) if document["kind"] == "PersistentVolumeClaim"
    }
    workload = next(document for document in documents(manifest) if document["kind"] in ("Job", "CronJob"))
    pod = (workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"])["template"][
        "spec"
    ]
    (container,) = pod["containers"]
    env = {item["name"]: item.get("value", "") for item in container["env"]}
    assert '--report "$REPORT_DIR/' in container["command"][-1]
    (mount,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == env["REPORT_DIR"]]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_shard_count_matches_the_job() -> None:
    job = load_job()
    env = container_env(job)
    assert int(env["SHARDS"]) == job["spec"]["completions"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert '--shard "$JOB_COMPLETION_INDEX/$SHARDS"' in container["command"][-1]


@pytest.mark.server
def test_the_pods_commands_copy_every_image_once(serve_pair, tmp_path: Path) -> None:
    """Each pod's command, run as the pod runs it, with a clouds.yaml naming the manifest's two
    clouds (their Keystones stand-ins whose catalogs point at the two servers)."""
    job = load_job()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = container_env(job)
    data = gc.seed_raw_images(serve_pair.source, [2000] * 16)
    copied: list[str] = []
    with clouds_file(
        tmp_path, {env["SOURCE_CLOUD"]: serve_pair.source, env["TARGET_CLOUD"]: serve_pair.target}
    ) as clouds:
        for index in range(job["spec"]["completions"]):
            pod = {
                **env,
                "JOB_COMPLETION_INDEX": str(index),
                "OS_CLIENT_CONFIG_FILE": str(clouds),
                "REPORT_DIR": str(tmp_path),
            }
            completed = run_pod(container["command"], pod)
            assert completed.returncode == 0, completed.stderr
            report = image_lines(tmp_path / f"shard-{index}.jsonl")
            copied += [line["id"] for line in report if line["result"] == "ok"]
    assert sorted(copied) == sorted(data)
    assert len(gc.list_all(serve_pair.target)) == len(data)


def load_cronjob() -> dict:
    cronjob = the("CronJob", CRONJOB)
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"  # never two runs on one target at once
    return cronjob


@pytest.mark.server
def test_the_cronjobs_runs_keep_the_target_in_step_and_their_reports(serve_pair, tmp_path: Path) -> None:
    """Two scheduled runs, as their pods run them (HOSTNAME is the pod's name): the first copies
    everything, the second only what was added since; each leaves its own report, and the
    reports older than REPORT_DAYS go."""
    pod_spec = load_cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod_spec["containers"]
    env = {item["name"]: item.get("value", "") for item in container["env"]}
    reports = tmp_path / "reports"
    reports.mkdir()
    stale, recent = reports / "glance-mirror-28000000-old.jsonl", reports / "glance-mirror-28000060-new.jsonl"
    stale.write_text("{}\n")
    recent.write_text("{}\n")
    old = time.time() - (int(env["REPORT_DAYS"]) + 2) * 86400
    os.utime(stale, (old, old))
    first = gc.seed_raw_images(serve_pair.source, [1000] * 3)
    with clouds_file(
        tmp_path, {env["SOURCE_CLOUD"]: serve_pair.source, env["TARGET_CLOUD"]: serve_pair.target}
    ) as clouds:
        pod = {
            **env,
            "OS_CLIENT_CONFIG_FILE": str(clouds),
            "REPORT_DIR": str(reports),
            "METRICS_PORT": str(free_port()),
        }
        completed = run_pod(container["command"], {**pod, "HOSTNAME": "glance-mirror-29000000-abcde"})
        assert completed.returncode == 0, completed.stderr
        second = gc.seed_raw_images(serve_pair.source, [500] * 2)
        completed = run_pod(container["command"], {**pod, "HOSTNAME": "glance-mirror-29000060-fghij"})
        assert completed.returncode == 0, completed.stderr

    assert not stale.exists() and recent.exists()
    one = report_lines(reports / "glance-mirror-29000000-abcde.jsonl")
    two = report_lines(reports / "glance-mirror-29000060-fghij.jsonl")
    assert sorted(line["id"] for line in one if line["result"] == "ok") == sorted(first)
    assert sorted(line["id"] for line in two if line["result"] == "ok") == sorted(second)
    assert sorted(line["id"] for line in two if line["result"] == "skipped") == sorted(first)
    assert sorted(image["id"] for image in gc.list_all(serve_pair.target)) == sorted({**first, **second})


def test_the_cronjob_prunes_only_what_it_created_with_its_guards_on() -> None:
    """The options a scheduled mirror needs are in the pod's command, with the values the
    header names; the metrics port is the one the pod declares and its annotations name."""
    pod_spec = load_cronjob()["spec"]["jobTemplate"]["spec"]["template"]
    (container,) = pod_spec["spec"]["containers"]
    env = {item["name"]: item.get("value", "") for item in container["env"]}
    command = container["command"][-1]
    for option in ('--prune "$PRUNE"', '--max-prune "$MAX_PRUNE"', '--mark-property "$MARK_PROPERTY"'):
        assert option in command
    assert (env["PRUNE"], env["MAX_PRUNE"], env["MARK_PROPERTY"]) == ("deactivate", "10", "replicated_by")
    assert '--metrics-port "$METRICS_PORT"' in command and '--metrics-file "$REPORT_DIR/' in command
    (port,) = container["ports"]
    assert port["name"] == "metrics" and str(port["containerPort"]) == env["METRICS_PORT"]
    assert pod_spec["metadata"]["annotations"]["prometheus.io/port"] == env["METRICS_PORT"]


def sample(samples: Mapping, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def last_run(samples: Mapping) -> dict[tuple[str, str], float]:
    """What the metrics file says the run that wrote it did: images by (action, result)."""
    return {
        (dict(labels)["action"], dict(labels)["result"]): value
        for (name, labels), value in samples.items()
        if name == "replicator_last_run_images"
    }


def scrape_while_running(pod: subprocess.Popen[str], port: int, until: Callable[[Mapping], bool]) -> Mapping:
    """The run's metrics, scraped from its port while it lasts, once `until` holds for them."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if pod.poll() is not None:
            raise AssertionError(f"the run ended before its metrics showed what was awaited: {pod.communicate()}")
        try:
            samples = scrape(port)
        except OSError:  # not serving yet
            samples = {}
        if samples and until(samples):
            return samples
        time.sleep(0.02)
    raise AssertionError("the run's metrics never showed what was awaited")


@pytest.mark.server
def test_an_hourly_mirror_through_three_hours_ends_in_step(serve_pair, tmp_path: Path) -> None:
    """The CronJob's command, run as its pods run it, three "hours" in a row, with images added,
    changed and deleted on the source between them: each run copies what is new, updates what
    changed and deactivates what the source deleted; its metrics, scraped while it runs and read
    from its textfile after, say so; and at the end the target is in step."""
    pod_spec = load_cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod_spec["containers"]
    env = {item["name"]: item.get("value", "") for item in container["env"]}
    source, target = serve_pair.source, serve_pair.target
    reports = tmp_path / "reports"
    reports.mkdir()
    metrics_file = reports / "glance-mirror.prom"
    port = free_port()
    images = gc.seed_raw_images(source, [1000] * 4)
    a, b, c, d = images

    with clouds_file(tmp_path, {env["SOURCE_CLOUD"]: source, env["TARGET_CLOUD"]: target}) as clouds:
        pod = {**env, "OS_CLIENT_CONFIG_FILE": str(clouds), "REPORT_DIR": str(reports), "METRICS_PORT": str(port)}

        def hour(name: str) -> dict:
            completed = run_pod(container["command"], {**pod, "HOSTNAME": name})
            assert completed.returncode == 0, completed.stderr
            return {line["id"]: line for line in report_lines(reports / f"{name}.jsonl")}

        # Hour 1: everything is new.
        one = hour("glance-mirror-1")
        assert {image_id: (line["action"], line["result"]) for image_id, line in one.items()} == {
            image_id: ("create", "ok") for image_id in images
        }
        assert last_run(parse(metrics_file.read_text())) == {("create", "ok"): 4}

        # Between: two images added (one large, on a slow source, so that the run lasts to be
        # scraped), one changed, two deleted.
        added = gc.seed_raw_images(source, [600_000, 1000])
        e, f = added
        gc.patch(source, b, [{"op": "add", "path": "/os_distro", "value": "debian"}])
        gc.delete(source, c)
        gc.delete(source, d)
        serve_pair.source_server.set_faults(bandwidth=100_000)
        running = subprocess.Popen(
            container["command"], env=pod_environment({**pod, "HOSTNAME": "glance-mirror-2"}),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            during = scrape_while_running(
                running, port, lambda s: sample(s, "replicator_images_total", action="prune", result="ok") == 2
            )
            _, stderr = running.communicate(timeout=120)
        finally:
            running.kill()
        assert running.returncode == 0, stderr
        serve_pair.source_server.set_faults(bandwidth=None)
        assert sample(during, "replicator_listing_done", side="source") == 1
        assert sample(during, "replicator_listing_done", side="target") == 1
        assert sample(during, "replicator_listed_images", side="source") == 4  # a, b, e, f
        assert sample(during, "replicator_listed_images", side="target") == 4  # a, b, c, d
        assert sample(during, "replicator_planned_images") == 5  # e and f, b, and the two prunes
        assert sample(during, "replicator_planned_bytes") == 601_000
        assert sample(during, "replicator_images_total", action="skip", result="skipped") == 1  # a
        two = {line["id"]: line for line in report_lines(reports / "glance-mirror-2.jsonl")}
        assert {image_id: (line["action"], line["result"]) for image_id, line in two.items()} == {
            a: ("skip", "skipped"), b: ("update", "ok"), c: ("prune", "ok"), d: ("prune", "ok"),
            e: ("create", "ok"), f: ("create", "ok"),
        }  # fmt: skip
        after = parse(metrics_file.read_text())
        assert last_run(after) == {("create", "ok"): 2, ("update", "ok"): 1, ("prune", "ok"): 2, ("skip", "skipped"): 1}
        assert sample(after, "replicator_last_run_image_bytes", command="livecopy", action="create", result="ok") == (
            601_000
        )
        start = sample(after, "replicator_run_start_time_seconds", command="livecopy")
        end = sample(after, "replicator_run_end_time_seconds", command="livecopy")
        assert start is not None and end is not None and start <= end
        assert sample(after, "replicator_last_success_time_seconds", command="livecopy") == end

        # Between: one added, one changed, one deleted (one that the last hour copied).
        (g,) = gc.seed_raw_images(source, [2000])
        gc.patch(source, a, [{"op": "replace", "path": "/name", "value": "renamed"}])
        gc.delete(source, e)
        three = hour("glance-mirror-3")
        assert {image_id: (line["action"], line["result"]) for image_id, line in three.items()} == {
            a: ("update", "ok"), b: ("skip", "skipped"), c: ("skip", "skipped"), d: ("skip", "skipped"),
            e: ("prune", "ok"), f: ("skip", "skipped"), g: ("create", "ok"),
        }  # fmt: skip
        assert three[c]["reason"] == "gone from the source; already deactivated"
        assert last_run(parse(metrics_file.read_text())) == {
            ("create", "ok"): 1, ("update", "ok"): 1, ("prune", "ok"): 1, ("skip", "skipped"): 4,
        }  # fmt: skip

        # In step: compare, with the mirror's own pruning options, finds no difference.
        compared = run_pod(
            ["replicator", "compare", "--source-cloud", env["SOURCE_CLOUD"], "--target-cloud", env["TARGET_CLOUD"],
             "--prune", env["PRUNE"], "--mark-property", env["MARK_PROPERTY"]],
            pod,
        )  # fmt: skip
        assert compared.returncode == 0, compared.stdout + compared.stderr
        assert "4 images compared: 0 missing, 0 different, 4 identical; 3 on the target only" in compared.stdout

    for image_id in (a, b, f, g):
        copy, original = gc.get_image(target, image_id), gc.get_image(source, image_id)
        assert copy["status"] == "active" and copy["checksum"] == original["checksum"]
        assert copy["name"] == original["name"] and copy.get("os_distro") == original.get("os_distro")
        assert copy[env["MARK_PROPERTY"]] == f"replicator from Glance at {source}"  # names the mirror
    assert {image_id: gc.get_image(target, image_id)["status"] for image_id in (c, d, e)} == dict.fromkeys(
        (c, d, e), "deactivated"
    )


def unit_settings(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's settings by section, each key with every value it is given."""
    sections: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            section.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_systemd_units_run_livecopy_hourly_stop_on_sigterm_and_catch_up() -> None:
    service, timer = unit_settings(SERVICE), unit_settings(TIMER)
    assert service["Service"]["Type"] == ["oneshot"]  # a run, not a daemon: the timer waits for it to end
    (exec_start,) = service["Service"]["ExecStart"]
    assert shlex.split(exec_start)[:2] == ["/opt/replicator/bin/replicator", "livecopy"]
    assert service["Service"]["KillSignal"] == ["SIGTERM"]
    assert timer["Timer"]["OnCalendar"] == ["hourly"]
    assert timer["Timer"]["Persistent"] == ["true"]  # a run missed while the machine was off is run at boot
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    assert "Unit" not in timer["Timer"]  # so it starts the service of its own name


@pytest.mark.server
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own check (unknown keys, bad values, missing units); the program path is the one
    installed here, since verify insists that it exists."""
    for unit in (SERVICE, TIMER):
        text = unit.read_text().replace("/opt/replicator/bin/replicator", str(Path(BIN_DIR) / "replicator"))
        (tmp_path / unit.name).write_text(text)
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / TIMER.name), str(tmp_path / SERVICE.name)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verified.returncode == 0 and verified.stdout + verified.stderr == "", verified.stdout + verified.stderr


def systemd_command(exec_start: str, environment: Mapping[str, str], specifiers: Mapping[str, str]) -> list[str]:
    """An ExecStart line as systemd runs it: `%X` specifiers, then `${NAME}` as one word each."""
    words = shlex.split(re.sub(r"%(.)", lambda m: specifiers[m.group(1)], exec_start))
    return [re.sub(r"\$\{(\w+)\}", lambda m: environment.get(m.group(1), ""), word) for word in words]


@pytest.mark.server
def test_the_services_command_keeps_the_target_in_step(serve_pair, tmp_path: Path) -> None:
    """The service's ExecStart, expanded as systemd expands it (the clouds named in the
    environment file, the credential and state directories), run twice: the second run finds
    nothing to do, and the report of the last run is where the header says."""
    settings = unit_settings(SERVICE)["Service"]
    state, credentials = tmp_path / "state", tmp_path / "credentials"
    (state / "replicator").mkdir(parents=True)
    credentials.mkdir()
    environment = {"SOURCE_CLOUD": "main-region", "TARGET_CLOUD": "dr-region"}
    data = gc.seed_raw_images(serve_pair.source, [1500] * 3)
    with clouds_file(
        credentials, {environment["SOURCE_CLOUD"]: serve_pair.source, environment["TARGET_CLOUD"]: serve_pair.target}
    ):
        specifiers = {"S": str(state), "d": str(credentials)}
        for assignment in settings["Environment"]:
            name, _, value = systemd_command(assignment, {}, specifiers)[0].partition("=")
            environment[name] = value
        (exec_start,) = settings["ExecStart"]
        command = systemd_command(exec_start, environment, specifiers)
        command[0] = str(Path(BIN_DIR) / "replicator")
        command[command.index("--metrics-port") + 1] = str(free_port())  # the machine's 9464 may be taken
        runs = [run_pod(command, environment) for _ in range(2)]
    for completed in runs:
        assert completed.returncode == 0, completed.stderr
    report = report_lines(state / "replicator" / "livecopy.jsonl")
    assert sorted((line["id"], line["result"]) for line in report) == sorted((image_id, "skipped") for image_id in data)
    assert len(gc.list_all(serve_pair.target)) == len(data)
    # The last run's numbers, where the header says node-exporter finds them.
    assert last_run(parse((state / "replicator" / "livecopy.prom").read_text())) == {("skip", "skipped"): 3}
    assert all(
        gc.get_image(serve_pair.target, image_id)["replicated_by"] == f"replicator from Glance at {serve_pair.source}"
        for image_id in data
    )
