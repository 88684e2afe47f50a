"""The endpoint a side uses, chosen from fixture catalogs: no Keystone, only Keystone's JSON.

Every rule of `openstack/catalog.choose_endpoint` is here: the region the user named (else the
only one), the interface, and what the error names when the catalog has something else. The
catalog is another server's answer: entries of the wrong shape are left out, never trusted.
"""

from __future__ import annotations

import pytest

from replicator.model.errors import ErrorKind, RunError
from replicator.openstack.catalog import Endpoint, by_region, choose_endpoint, endpoints
from replicator.openstack.identity import identity_url


def catalog(*entries: tuple[str, str | None, str, str]) -> list[dict[str, object]]:
    """A v3 catalog of (service type, region, interface, url), services in order of first mention."""
    services: dict[str, list[dict[str, object]]] = {}
    for service_type, region, interface, url in entries:
        endpoint: dict[str, object] = {"interface": interface, "url": url}
        if region is not None:
            endpoint.update(region_id=region, region=region)
        services.setdefault(service_type, []).append(endpoint)
    return [{"type": kind, "endpoints": listed} for kind, listed in services.items()]


TWO_REGIONS = catalog(
    ("identity", "RegionOne", "public", "https://keystone.example/v3"),
    ("image", "RegionOne", "public", "https://one.example:9292"),
    ("image", "RegionOne", "internal", "http://one.internal:9292"),
    ("image", "RegionTwo", "public", "https://two.example:9292"),
)


def refusal(found: object, region: str | None, interface: str = "public") -> RunError:
    with pytest.raises(RunError) as caught:
        choose_endpoint(found, "image", region, interface)
    return caught.value


def test_the_region_and_interface_named_choose_the_endpoint() -> None:
    assert choose_endpoint(TWO_REGIONS, "image", "RegionTwo", "public") == Endpoint(
        "RegionTwo", "public", "https://two.example:9292"
    )
    assert choose_endpoint(TWO_REGIONS, "image", "RegionOne", "internal").url == "http://one.internal:9292"


def test_without_a_region_the_only_region_with_that_interface_is_taken() -> None:
    assert choose_endpoint(TWO_REGIONS, "image", None, "internal").region == "RegionOne"


def test_without_a_region_several_regions_must_be_told_apart() -> None:
    error = refusal(TWO_REGIONS, None)
    assert error.kind is ErrorKind.INPUT
    assert (
        str(error)
        == "the catalog has public image endpoints in several regions (RegionOne, RegionTwo): name the region"
    )


def test_an_endpoint_without_a_region_serves_only_a_side_that_names_none() -> None:
    found = catalog(("image", None, "public", "http://glance:9292"))
    assert choose_endpoint(found, "image", None, "public") == Endpoint(None, "public", "http://glance:9292")
    error = refusal(found, "RegionOne")
    assert error.kind is ErrorKind.NOT_FOUND and str(error).startswith("region 'RegionOne' not found")


def test_a_catalog_without_the_service_says_so() -> None:
    error = refusal(catalog(("identity", "RegionOne", "public", "http://k/v3")), "RegionOne")
    assert error.kind is ErrorKind.NOT_FOUND
    assert str(error) == "no image endpoint in the catalog: this cloud lists no Glance"


def test_a_missing_interface_names_the_interfaces_of_that_region() -> None:
    error = refusal(TWO_REGIONS, "RegionTwo", "internal")
    assert error.kind is ErrorKind.NOT_FOUND
    assert str(error) == "no internal image endpoint in the catalog in region 'RegionTwo' (it has: public)"


def test_a_missing_region_names_the_regions_that_have_the_service() -> None:
    error = refusal(TWO_REGIONS, "RegionThree")
    assert error.kind is ErrorKind.NOT_FOUND
    assert str(error) == (
        "region 'RegionThree' not found for the image service (the catalog has it in: RegionOne, RegionTwo)"
    )


@pytest.mark.parametrize(
    "hostile",
    [
        None,
        "a catalog",
        [None, 7, "image"],
        [{"type": "image", "endpoints": "everywhere"}],
        [{"type": "image", "endpoints": [None, {"interface": "public"}, {"url": "http://x", "interface": 1}]}],
        [{"type": "image", "endpoints": [{"url": "http://x", "interface": "public", "region_id": ["RegionOne"]}]}],
    ],
)
def test_entries_of_the_wrong_shape_are_left_out(hostile: object) -> None:
    assert endpoints(hostile, "image") == []
    assert str(refusal(hostile, "RegionOne")) == "no image endpoint in the catalog: this cloud lists no Glance"


def test_the_region_id_wins_over_the_region_name_and_other_services_are_ignored() -> None:
    found = [
        {
            "type": "image",
            "endpoints": [{"region_id": "r1", "region": "old", "interface": "public", "url": "http://a"}],
        },
        {"type": "volume", "endpoints": [{"region_id": "r1", "interface": "public", "url": "http://b"}]},
    ]
    assert endpoints(found, "image") == [Endpoint("r1", "public", "http://a")]


def test_image_endpoints_by_region_for_one_interface() -> None:
    assert by_region(TWO_REGIONS, "image", "public") == {
        "RegionOne": "https://one.example:9292",
        "RegionTwo": "https://two.example:9292",
    }
    assert by_region(TWO_REGIONS, "image", "admin") == {}


def test_the_identity_api_is_the_catalogs_else_the_auth_url_with_v3() -> None:
    assert identity_url(TWO_REGIONS, "public", "http://auth.example") == "https://keystone.example/v3"
    assert identity_url(TWO_REGIONS, "internal", "http://auth.example/") == "http://auth.example/v3"
