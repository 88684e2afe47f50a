"""The real-Glance fixtures give a working Glance 33: the ground truth the other tests rely on."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable

from tests.support import glance_client as gc
from tests.support.servers import RealGlance


def test_instance_answers_versions(real_glance: RealGlance) -> None:
    response = gc.request("GET", real_glance.url + "/versions")
    assert response.status == 200
    assert any(v["id"].startswith("v2.") for v in response.json()["versions"])


def test_v1_api_is_not_served(real_glance: RealGlance) -> None:
    """Glance 33 has no v1 API: v1 paths get the version list with 300 Multiple Choices."""
    response = gc.request("GET", real_glance.url + "/v1/images")
    assert response.status == 300
    assert "versions" in response.json()


def test_raw_image_round_trip_with_caller_id(real_glance: RealGlance) -> None:
    image_id = str(uuid.uuid4())
    data = os.urandom(256 * 1024)
    created = gc.create_image(real_glance.url, id=image_id, name="fixture", disk_format="raw", container_format="bare")
    assert created["id"] == image_id

    gc.upload(real_glance.url, image_id, data)
    response = gc.call("GET", f"{real_glance.url}/v2/images/{image_id}/file", 200)

    assert response.body == data
    assert response.headers["Content-MD5"] == hashlib.md5(data).hexdigest()


def test_images_are_owned_by_the_fixture_project(real_glance: RealGlance) -> None:
    """Requests run as admin of one project (see `glance_context`), so images get an owner."""
    created = gc.create_image(real_glance.url, id=str(uuid.uuid4()))
    assert created["owner"] == "a0000000000000000000000000000001"


def test_cleaning_removes_hidden_protected_and_deactivated_images(
    real_glance: RealGlance,
) -> None:
    """What the fixtures run between tests leaves no image behind, whatever its state."""
    url = real_glance.url
    gc.create_image(url, id=str(uuid.uuid4()), os_hidden=True)
    gc.create_image(url, id=str(uuid.uuid4()), visibility="private", protected=True)
    deactivated = gc.create_image(url, id=str(uuid.uuid4()), disk_format="raw", container_format="bare")["id"]
    gc.upload(url, deactivated, b"data")
    gc.deactivate(url, deactivated)

    gc.delete_all(url)

    assert gc.list_all(url) == []


def test_private_instance_takes_config_overrides(
    start_real_glance: Callable[..., RealGlance],
) -> None:
    glance = start_real_glance(overrides={"DEFAULT": {"api_limit_max": "1"}})
    for _ in range(2):
        gc.create_image(glance.url, id=str(uuid.uuid4()))
    pages = gc.list_pages(glance.url, limit=50)
    assert [len(page["images"]) for page in pages] == [1, 1, 0]
