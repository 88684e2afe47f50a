"""SERVER arguments: the old tool's host:port and full URLs, and clear errors for the rest."""

import pytest

from replicator.model.errors import RunError
from replicator.openstack.endpoints import parse_server


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("glance.example:9292", "http://glance.example:9292"),
        ("127.0.0.1:9292", "http://127.0.0.1:9292"),
        ("http://glance:9292", "http://glance:9292"),
        ("https://cloud.example/image", "https://cloud.example/image"),
        ("https://cloud.example/image/", "https://cloud.example/image"),
        ("http://glance:9292/v2", "http://glance:9292"),
        ("http://glance:9292/v2/", "http://glance:9292"),
        ("http://[::1]:9292", "http://[::1]:9292"),
        (" glance:9292 ", "http://glance:9292"),
    ],
)
def test_accepted_forms(text: str, url: str) -> None:
    assert parse_server(text) == url


@pytest.mark.parametrize(
    "text",
    [
        "",
        "glance",
        "glance:",
        "glance:notaport",
        "glance:70000",
        "ftp://glance:21",
        "http://:9292",
        "http://glance:9292?x=1",
        "http://glance:0",
    ],
)
def test_rejected_forms(text: str) -> None:
    with pytest.raises(RunError, match="server"):
        parse_server(text)
