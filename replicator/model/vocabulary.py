"""The words of the replicator's own vocabulary, each a closed set: the sides of a run, the ways
data reaches a target, the prune modes, the Glance API versions, an image's statuses.

StrEnums whose values are the words people type and read (in options, the config file, the
report, messages), so output and configuration stay as they were, and a comparison against a
misspelt word is a name error instead of a branch that is never taken. A value that comes from a
server (an image's `status`) stays the server's string, compared with these members: a status
this list does not know is no crash.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Which side of a run something belongs to (`ReplicatorError.side`, `Side.role`)."""

    SOURCE = "source"
    TARGET = "target"


class UploadMethod(StrEnum):
    """How data reaches a Glance target."""

    #: Direct, switching to glance-direct where the target refuses it; glance-download where
    #: both sides are regions of one Keystone.
    AUTO = "auto"
    #: PUT .../file.
    DIRECT = "direct"
    #: Stage the data, then import it.
    GLANCE_DIRECT = "glance-direct"
    #: The target fetches the image from the source's region itself.
    GLANCE_DOWNLOAD = "glance-download"


class PruneMode(StrEnum):
    """What becomes of a target image the source no longer has."""

    DEACTIVATE = "deactivate"
    DELETE = "delete"


class ApiVersion(StrEnum):
    """Which Glance API a side speaks."""

    #: Ask the server (`GET /versions`) and prefer v2.
    AUTO = "auto"
    V1 = "1"
    V2 = "2"


class ImageStatus(StrEnum):
    """Every status a Glance image can be in (v2; v1 used the same words), in the order of an
    image's life."""

    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    KILLED = "killed"
    DELETED = "deleted"
    PENDING_DELETE = "pending_delete"
