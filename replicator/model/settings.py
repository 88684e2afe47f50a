"""Run settings: one frozen value built by the CLI and read by the engine and the stores."""

from __future__ import annotations

from dataclasses import dataclass, field

from replicator.model.selection import Selection
from replicator.model.vocabulary import PruneMode, UploadMethod

MiB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """What the user chose for this run.

    `chunk_size` bounds memory: each transfer holds at most a couple of chunks, so a run
    holds about `concurrency * chunk_size * 2` bytes of image data whatever the image sizes.
    `timeout` is a connect and per-read (stall) limit, never a limit on a whole transfer.
    """

    concurrency: int = 4
    chunk_size: int = 1 * MiB
    dont_replicate: frozenset[str] = frozenset()
    #: Properties the target adds to what it receives (Glance's `inject_image_metadata` import
    #: plugin): kept on a copy whose source lacks them, reported as target-added, never removed.
    #: Named by the operator, because Glance records nowhere which properties a plugin added.
    target_injects: frozenset[str] = frozenset()
    metaonly: bool = False
    verify: bool = True
    retries: int = 3
    timeout: float = 60.0
    #: How data reaches a Glance target (`UploadMethod`: direct, glance-direct, glance-download,
    #: or auto: direct, switching to glance-direct where the target refuses it).
    upload_method: UploadMethod = UploadMethod.AUTO
    #: The target store on a multi-store Glance; None for its default.
    store: str | None = None
    #: Where the target refuses (403) an image's public/community visibility: create it with
    #: this visibility instead; None fails the image.
    fallback_visibility: str | None = None
    #: Where the target refuses (403) an image's owner, or (between two clouds, `projects`) has
    #: no counterpart of it: let the target's project own it.
    fallback_owner: bool = False
    #: Which source images the run works on, and in what order.
    selection: Selection = field(default_factory=Selection)
    #: Bytes per second for all transfers together; None for no limit.
    bwlimit: int | None = None
    #: Stop starting transfers once this many bytes have been copied; None for no limit.
    max_transfer: int | None = None
    #: End a listing with an error past this many images (a listing that never ends); None: no bound.
    max_images: int | None = None
    #: Fail every image whose copy cannot be checked against a hash the source publishes.
    require_verified: bool = False
    #: What to do to target images of the selection that have no source counterpart any more;
    #: None leaves them alone.
    prune: PruneMode | None = None
    #: Prune nothing (and stop the run with an error) when more target images than this would be.
    max_prune: int = 10
    #: Prune images the replicator did not create (no `mark_property` on them) too.
    prune_existing: bool = False
    #: A property set on every image the replicator creates, so a later run knows it made them.
    mark_property: str | None = None
    #: The mark's value: which mirror wrote it (`engine.plan.mark_of`, set from the source a run
    #: reads), so two mirrors into one target prune only their own copies.
    mark_value: str = "replicator"

    @property
    def not_compared(self) -> frozenset[str]:
        """Attributes neither copied nor compared: the user's exclusions, and our own mark."""
        return self.dont_replicate | ({self.mark_property} if self.mark_property else set())
