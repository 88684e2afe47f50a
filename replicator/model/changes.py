"""The differences a plan hands a store: attributes and members to bring in line.

They live below the engine and the stores because both speak them: the plan (`engine.plan`)
produces them, the stores (`stores/`) apply them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Marks an attribute (or a member) absent on one side of a difference.
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


@dataclass(frozen=True)
class AttributeChange:
    """One attribute to bring from its target value (`old`) to the source's (`new`).

    Either side may be `MISSING`: an attribute to add, or one to remove.
    """

    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class MemberChange:
    """One project's share of an image to add (`old` MISSING), remove (`new` MISSING) or re-status."""

    member: str
    old: Any
    new: Any
