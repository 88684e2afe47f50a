"""The vocabulary's words are the ones people type and read: the enums changed no option value,
no config value and no line of output."""

from __future__ import annotations

import json

from replicator.cli import parsing
from replicator.model.vocabulary import ApiVersion, ImageStatus, PruneMode, Role, UploadMethod


def test_each_word_is_the_string_it_was() -> None:
    assert [str(word) for word in Role] == ["source", "target"]
    assert [str(word) for word in UploadMethod] == ["auto", "direct", "glance-direct", "glance-download"]
    assert [str(word) for word in PruneMode] == ["deactivate", "delete"]
    assert [str(word) for word in ApiVersion] == ["auto", "1", "2"]
    assert parsing.STATUSES == (
        "queued",
        "saving",
        "uploading",
        "importing",
        "active",
        "deactivated",
        "killed",
        "deleted",
        "pending_delete",
    )


def test_a_word_reads_and_prints_as_its_string() -> None:
    assert f"to be {PruneMode.DEACTIVATE}d" == "to be deactivated"
    assert json.dumps({"side": Role.SOURCE, "status": ImageStatus.ACTIVE}) == '{"side": "source", "status": "active"}'
    assert dict[str, int]({Role.SOURCE: 1})["source"] == 1 and "active" in {ImageStatus.ACTIVE}


def test_a_typed_word_is_parsed_with_the_options_message() -> None:
    assert parsing.choice("--prune", "delete", PruneMode, "prune mode") is PruneMode.DELETE
    try:
        parsing.choice("--prune", "delet", PruneMode, "prune mode")
    except parsing.OptionError as exc:
        assert str(exc) == "--prune 'delet': prune mode must be one of deactivate, delete; did you mean 'delete'?"
    else:
        raise AssertionError("a misspelt prune mode was taken")
