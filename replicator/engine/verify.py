"""Verify image data: one hash in flight, and what the target holds read back after the upload.

In flight, only the strongest hash the source publishes is computed (its `os_hash_algo`, md5
only when that is all there is): hashing is the copy's main CPU cost, and the target computes
md5 anyway, so the source's md5 is checked against the target's own answer after the upload
(`check_held`) at no cost. The last chunk is released only after the size and the in-flight
hash have matched, so a target never receives a complete body for corrupt data: Glance sees
the upload cut and puts the image back to `queued`; a dump never renames its partial file.

A copy is *verified* when at least one hash of the source was checked, in flight or in the
target's answer. A source that publishes no hash this Python can compute gives an unverified
copy: the result says so, and `require_verified` turns that into a failure before any byte moves.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from replicator.model.errors import VerificationError
from replicator.model.records import ImageRecord, int_or_none


def strongest_hash(image: ImageRecord) -> tuple[str, str] | None:
    """(algorithm, expected hex digest) of the strongest hash of `image` this Python computes."""
    if image.hash_algo and image.hash_value and image.hash_algo.lower() in hashlib.algorithms_available:
        return image.hash_algo.lower(), image.hash_value.lower()
    if image.checksum:
        return "md5", image.checksum.lower()
    return None


def can_verify(image: ImageRecord) -> bool:
    """Whether a copy of `image` is sure to be checked against one of its own hashes."""
    return strongest_hash(image) is not None


class StreamVerifier:
    """Counts and hashes one image's bytes as they pass; `verified()` wraps the chunk stream."""

    def __init__(self, image: ImageRecord, *, hashes: bool = True) -> None:
        self._image = image
        chosen = strongest_hash(image) if hashes else None
        self._hasher: Any = None
        #: The algorithm checked in flight, once the stream has ended well; None if none was.
        self.checked: str | None = None
        if chosen is not None:
            self._algorithm, self._expected = chosen
            self._hasher = hashlib.new(self._algorithm, usedforsecurity=False)
        self.bytes = 0

    async def verified(
        self, chunks: AsyncIterator[bytes], on_bytes: Callable[[int], None] | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Yield `chunks` one behind, hashing each in a worker thread while the previous one is sent."""
        loop = asyncio.get_running_loop()
        held: bytes | None = None
        hashing: asyncio.Future[Any] | None = None
        size = self._image.size
        async for chunk in chunks:
            if not chunk:
                continue
            self.bytes += len(chunk)
            if size is not None and self.bytes > size:
                raise VerificationError(f"image {self._image.id}: source sent more than the recorded {size} bytes")
            if hashing is not None:
                await hashing
            hashing = self._hash(loop, chunk)
            if held is not None:
                yield held
                if on_bytes is not None:
                    on_bytes(len(held))
            held = chunk
        if hashing is not None:
            await hashing
        self._check()
        if held is not None:
            yield held
            if on_bytes is not None:
                on_bytes(len(held))

    def _hash(self, loop: asyncio.AbstractEventLoop, chunk: bytes) -> asyncio.Future[Any] | None:
        if self._hasher is None:
            return None
        # hashlib drops the GIL on large buffers: the hash runs beside the event loop.
        return loop.run_in_executor(None, self._hasher.update, chunk)

    def _check(self) -> None:
        size = self._image.size
        if size is not None and self.bytes != size:
            raise VerificationError(f"image {self._image.id}: got {self.bytes} bytes, the source records {size}")
        if self._hasher is not None:
            if self._hasher.hexdigest() != self._expected:
                raise VerificationError(
                    f"image {self._image.id}: {self._algorithm} of the data does not match the source's"
                )
            self.checked = self._algorithm


def check_held(image: ImageRecord, held: ImageRecord | None) -> bool:
    """Compare what the target holds after the upload with the source's record.

    Returns whether a hash of the source was confirmed by the target's own answer; raises
    VerificationError when the target holds nothing, another size, or other hashes (a target
    that said "stored" and stored nothing, or other bytes; or a source whose own md5 and
    os_hash_value disagree).
    """
    if held is None:
        raise VerificationError(f"image {image.id}: the target holds no such image after the upload")
    if image.size is not None and held.size != image.size:
        found = "no data" if not held.size else f"{held.size} bytes"
        raise VerificationError(
            f"image {image.id}: the target holds {found} after the upload "
            f"(status {held.status}), the source records {image.size} bytes"
        )
    confirmed = False
    if image.checksum and held.checksum:
        if image.checksum.lower() != held.checksum.lower():
            raise VerificationError(
                f"image {image.id}: the target's md5 of what it stored differs from the "
                "source's (the target stored other bytes, or the source's own hashes disagree)"
            )
        confirmed = True
    if image.hash_algo and image.hash_value and held.hash_value and image.hash_algo == held.hash_algo:
        if image.hash_value.lower() != held.hash_value.lower():
            raise VerificationError(
                f"image {image.id}: the target's {image.hash_algo} of what it stored differs from the source's"
            )
        confirmed = True
    return confirmed


#: What a converting target changes of a copy's metadata on import (Glance's `image_conversion`
#: plugin sets both): neither copied nor compared on a copy it converted.
CONVERTED_ATTRIBUTES: frozenset[str] = frozenset({"disk_format", "container_format"})


def target_conversion(image: ImageRecord, held: ImageRecord | None) -> str | None:
    """ "qcow2 -> raw" when `held` is what a target that converts on import made of `image`, or
    None: active, in another `disk_format`, with the same `virtual_size` where both record one.

    Such a copy's size and hashes are the converted data's, never the source's, so they cannot
    be compared again; the bytes are known good only where they were verified in flight against
    the source's hash before the target converted them (the transfer's decision, not this one).
    """
    if held is None or held.status != "active":
        return None
    before, after = image.attributes.get("disk_format"), held.attributes.get("disk_format")
    if not (isinstance(before, str) and isinstance(after, str) and before and after) or before == after:
        return None
    virtual = int_or_none(image.raw.get("virtual_size")), int_or_none(held.raw.get("virtual_size"))
    if None not in virtual and virtual[0] != virtual[1]:
        return None
    return f"{before} -> {after}"


def converted_note(conversion: str) -> str:
    """The words for a copy the target converted, in results, reports and plans alike."""
    return f"converted by the target ({conversion})"
