"""The transport's trust rules as plain functions: every path built by one function, a server's
`next` link followed only on the Glance it came from."""

from __future__ import annotations

import pytest

from replicator.model.errors import ErrorKind, ImageError, RunError
from replicator.model.untrusted import MAX_JSON_DEPTH, UntrustedJsonError, load_json
from replicator.stores.glance.transport import Transport, api_path

VICTIM = "0c43eaca-c2a8-4f79-8f2a-b265655883d3"


def test_every_segment_is_encoded_so_a_member_id_cannot_climb_out_of_its_path():
    path = api_path("v2", "images", VICTIM, "members", f"../../{VICTIM}")
    assert path == f"/v2/images/{VICTIM}/members/..%2F..%2F{VICTIM}"
    assert api_path("v2", "images", "a b?c#d%2F") == "/v2/images/a%20b%3Fc%23d%252F"


@pytest.mark.parametrize("segment", ["..", ".", ""])
def test_segments_that_would_name_another_resource_are_refused(segment):
    with pytest.raises(ImageError) as caught:
        api_path("v2", "images", VICTIM, "members", segment)
    assert caught.value.kind is ErrorKind.UNSAFE


def test_queries_are_encoded_too():
    assert api_path("v1", "images", query={"marker": "a&limit=1"}) == "/v1/images?marker=a%26limit%3D1"


async def test_next_links_stay_on_this_glance_and_its_listing():
    transport = Transport("http://glance.example:9292/image")
    listing = api_path("v2", "images", query={"limit": "1000"})
    try:
        assert transport.listing_link("/v2/images?marker=x&limit=2", listing) == "/v2/images?marker=x&limit=2"
        assert (
            transport.listing_link("http://GLANCE.example:9292/image/v2/images?marker=x", listing)
            == "/v2/images?marker=x"
        )
        for elsewhere in (
            "http://elsewhere:9292/v2/images?marker=x",
            "https://glance.example:9292/image/v2/images",
            "//elsewhere/v2/images",
            "http://glance.example:9293/image/v2/images",
        ):
            with pytest.raises(RunError) as caught:
                transport.listing_link(elsewhere, listing)
            assert caught.value.kind is ErrorKind.UNSAFE
        for off_listing in ("/v2/images/x/actions/deactivate", "/v1/images", "/v2/images/../../x"):
            with pytest.raises(RunError):
                transport.listing_link(off_listing, listing)
    finally:
        await transport.close()


def test_json_nested_past_a_sane_depth_is_refused_without_a_traceback():
    with pytest.raises(UntrustedJsonError, match="nested"):
        load_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UntrustedJsonError, match="nested"):
        load_json('{"a":' * 40 + "1" + "}" * 40)
    assert load_json('{"images": [{"tags": ["a"]}]}') == {"images": [{"tags": ["a"]}]}


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}"), ('[{"a":', "}]")])
def test_json_depth_cap_is_exact(opening: str, closing: str) -> None:
    """MAX_JSON_DEPTH levels of containers are read; one more is refused, whichever kind nests,
    and wherever the deep part sits among shallow siblings."""
    per = 2 if opening.startswith("[{") else 1

    def nested(levels: int) -> str:
        return opening * (levels // per) + "1" * (opening != "[") + closing * (levels // per)

    assert load_json(nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(UntrustedJsonError, match="nested"):
        load_json(nested(MAX_JSON_DEPTH + per))
    with pytest.raises(UntrustedJsonError, match="nested"):
        load_json('{"images": [1, "x", [], ' + nested(MAX_JSON_DEPTH) + "]}")
