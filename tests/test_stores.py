"""`--store` on a real multi-store Glance 33: two file stores, `fast` and `slow`, each in its own
directory (`enabled_backends`), as edge sites behind one Glance have."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.cli import assert_one_line_error, replicator, run
from tests.support.copies import assert_active_copies, seed_active


@pytest.fixture
def two_stores(start_real_glance, tmp_path: Path):
    """A real Glance with the file stores `fast` (its default) and `slow`."""
    return start_real_glance(
        overrides={
            "DEFAULT": {"enabled_backends": "fast:file, slow:file"},
            "glance_store": {"default_backend": "fast"},
            "fast": {"filesystem_store_datadir": f"{tmp_path}/fast/"},
            "slow": {"filesystem_store_datadir": f"{tmp_path}/slow/"},
        }
    )


def test_a_store_the_target_does_not_have_stops_the_run_before_anything_is_created(real_glance, two_stores):
    seed_active(real_glance.url, 3)
    result = replicator("livecopy", real_glance.url, two_stores.url, "--store", "slwo")
    assert_one_line_error(result, "--store 'slwo'", "its stores: fast, slow", "did you mean 'slow'?")
    assert gc.list_all(two_stores.url) == []


def test_the_named_store_receives_every_copy(real_glance, two_stores, tmp_path: Path):
    data: dict[str, bytes] = {}
    for method in ("direct", "glance-direct"):  # a header on the upload, a field of the import
        data |= seed_active(real_glance.url, 1)
        result = replicator("livecopy", real_glance.url, two_stores.url, "--store", "slow", "--upload-method", method)
        assert result.returncode == 0, result.stderr
    assert_active_copies(two_stores.url, data)
    assert {gc.get_image(two_stores.url, image_id)["stores"] for image_id in data} == {"slow"}
    assert sorted(p.name for p in (tmp_path / "slow").iterdir()) == sorted(data)


def test_store_given_twice_with_two_names_is_refused(real_glance, two_stores):
    seed_active(real_glance.url, 1)
    result = replicator("livecopy", real_glance.url, two_stores.url, "--store", "fast", "--store", "slow")
    assert_one_line_error(result, "--store given 2 times (fast, slow)")
    assert gc.list_all(two_stores.url) == []


def test_store_given_twice_with_one_name_is_that_store(real_glance, two_stores):
    data = seed_active(real_glance.url, 1)
    result = replicator("livecopy", real_glance.url, two_stores.url, "--store", "slow", "--store", "slow")
    assert result.returncode == 0, result.stderr
    assert {gc.get_image(two_stores.url, image_id)["stores"] for image_id in data} == {"slow"}


def test_the_project_server_refuses_a_store_it_lacks_the_same_way(serve_pair):
    """The project's server lists its stores too: a name it lacks is refused the same way."""
    gc.seed_raw_images(serve_pair.source, [100])
    result = run("livecopy", serve_pair.source, serve_pair.target, "--store", "nowhere")
    assert result.exit_code == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("replicator: error: --store 'nowhere'") and "has no such store" in line
    assert gc.list_all(serve_pair.target) == []
