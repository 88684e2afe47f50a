"""Which refusals a fallback answers, and what it sends instead: plain data, no server."""

from __future__ import annotations

from replicator.engine.fallback import creation_fallbacks, update_fallbacks
from replicator.model.changes import AttributeChange
from replicator.model.errors import ImageError
from replicator.model.settings import Settings

PUBLICIZE = ImageError(
    "create image x: 403 Forbidden: You are not authorized to complete publicize_image action.", status=403
)
OWNER = ImageError("create image x: 403 Forbidden: You are not permitted to create images owned by 'p2'", status=403)
BOTH = Settings(fallback_visibility="private", fallback_owner=True)


def test_no_fallback_without_the_option():
    assert creation_fallbacks({"visibility": "public"}, PUBLICIZE, Settings()) == []


def test_other_errors_never_trigger_a_fallback():
    for error in (
        ImageError("create image x: 400 Bad Request: visibility", status=400),
        ImageError("create image x: connection lost", retryable=True),
    ):
        assert creation_fallbacks({"visibility": "public", "owner": "p2"}, error, BOTH) == []


def test_refused_visibility_is_replaced_and_the_rest_kept():
    allowed, note = creation_fallbacks({"visibility": "public", "name": "n", "owner": "p2"}, PUBLICIZE, BOTH)[0]
    assert allowed == {"visibility": "private", "name": "n", "owner": "p2"}
    assert note == "created private: the target refused public"


def test_refused_owner_is_left_to_the_target():
    allowed, note = creation_fallbacks({"owner": "p2", "name": "n"}, OWNER, BOTH)[0]
    assert allowed == {"name": "n"}
    assert "refused owner p2" in note


def test_refused_update_keeps_the_other_changes():
    changes = [AttributeChange("visibility", "private", "public"), AttributeChange("name", "a", "b")]
    kept, note = update_fallbacks(changes, PUBLICIZE, BOTH)[0]
    assert kept == [changes[1]]
    assert "visibility" in note
