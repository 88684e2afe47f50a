"""The service catalog of a Keystone token, and the choice of one endpoint in it.

A pure function of the catalog as Keystone sent it (v3 JSON: a list of services, each with a
`type` and `endpoints` of `region_id`/`region`, `interface`, `url`), the region, the interface and
the service type, so every rule about which endpoint a side uses is tested with fixture catalogs
and no Keystone (`tests/test_catalog.py`).

The catalog decides which regions exist, not the cloud's settings: openstacksdk treats a cloud's
`region_name`/`regions` as the only regions it has; for us they are the default. The catalog is
another server's answer, so an entry of the wrong shape is left out rather than trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

from replicator.model.errors import ErrorKind, RunError

#: What a user calls the service of a type, for messages.
_PRODUCTS = {"image": "Glance", "identity": "Keystone"}


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of the catalog."""

    region: str | None
    interface: str
    url: str


def endpoints(catalog: object, service_type: str) -> list[Endpoint]:
    """Every endpoint the catalog lists for `service_type`, in the catalog's order."""
    found: list[Endpoint] = []
    for service in catalog if isinstance(catalog, list) else []:
        if not isinstance(service, dict) or service.get("type") != service_type:
            continue
        listed = service.get("endpoints")
        for entry in listed if isinstance(listed, list) else []:
            if not isinstance(entry, dict):
                continue
            url, interface = entry.get("url"), entry.get("interface")
            region = entry.get("region_id") or entry.get("region") or None
            if isinstance(url, str) and isinstance(interface, str) and (region is None or isinstance(region, str)):
                found.append(Endpoint(region, interface, url))
    return found


def by_region(catalog: object, service_type: str, interface: str) -> dict[str, str]:
    """The `interface` endpoints of `service_type`, by region ("" for none); the last of a region wins."""
    return {e.region or "": e.url for e in endpoints(catalog, service_type) if e.interface == interface}


def choose_endpoint(catalog: object, service_type: str, region: str | None, interface: str) -> Endpoint:
    """The endpoint of `service_type` in `region` (None: the only region that has one) and
    `interface`; RunError (without the side: the caller says whose catalog it is) naming what the
    catalog has instead."""
    everywhere = endpoints(catalog, service_type)
    if not everywhere:
        product = _PRODUCTS.get(service_type)
        lists = f": this cloud lists no {product}" if product else ""
        raise RunError(f"no {service_type} endpoint in the catalog{lists}", kind=ErrorKind.NOT_FOUND)
    usable = [e for e in everywhere if e.interface == interface]
    regions = sorted({e.region or "" for e in usable} - {""})
    if region is None and len({e.region for e in usable}) > 1:
        raise RunError(
            f"the catalog has {interface} {service_type} endpoints in several regions "
            f"({', '.join(regions)}): name the region",
            kind=ErrorKind.INPUT,
        )
    chosen = [e for e in usable if region is None or e.region == region]
    if chosen:
        return chosen[0]
    others = sorted({e.interface for e in everywhere if region is None or e.region == region})
    if others:
        place = f" in region {region!r}" if region else ""
        raise RunError(
            f"no {interface} {service_type} endpoint in the catalog{place} (it has: {', '.join(others)})",
            kind=ErrorKind.NOT_FOUND,
        )
    every_region = sorted({e.region or "" for e in everywhere} - {""})
    raise RunError(
        f"region {region!r} not found for the {service_type} service (the catalog has it in: "
        f"{', '.join(every_region)})",
        kind=ErrorKind.NOT_FOUND,
    )
