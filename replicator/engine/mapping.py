"""What the engine asks of whatever turns a source record into the target's terms.

Between two clouds a record's owner and members are the source Keystone's project ids; the
target knows other ids. The engine only needs the two questions below answered, so it names
them here and `openstack/projects.ProjectMapper` answers them: the engine never imports
Keystone code, and a test hands it a plain object.
"""

from __future__ import annotations

from typing import Protocol

from replicator.model.records import ImageRecord


class RecordMapper(Protocol):
    """Source records in the target's terms (its project ids), each project resolved once."""

    def known(self, image: ImageRecord) -> ImageRecord | None:
        """`image` mapped when nothing it names needs a lookup; None when `mapped` must ask."""

    async def mapped(self, image: ImageRecord) -> ImageRecord:
        """`image` mapped, looking up what is not resolved yet."""
