"""Verify image data while it streams, off the event loop, holding back the end until it checks out.

The last chunk is released only after the size and every hash the source published have
matched, so a target never receives a complete body for corrupt data: Glance sees the upload
cut and puts the image back to `queued`; a dump never renames its partial file.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, AsyncIterator, Callable

from replicator.errors import VerificationError
from replicator.records import ImageRecord


class StreamVerifier:
    """Counts and hashes one image's bytes as they pass; `verified()` wraps the chunk stream."""

    def __init__(self, image: ImageRecord, *, hashes: bool = True) -> None:
        self._image = image
        self._expected: list[tuple[str, Any, str]] = []
        if hashes and image.checksum:
            self._expected.append(("md5", hashlib.md5(usedforsecurity=False), image.checksum.lower()))
        if hashes and image.hash_algo and image.hash_value:
            try:
                hasher = hashlib.new(image.hash_algo)
            except ValueError:
                hasher = None  # an algorithm this Python lacks: the other checks still hold
            if hasher is not None:
                self._expected.append((image.hash_algo, hasher, image.hash_value.lower()))
        self.bytes = 0

    async def verified(
        self, chunks: AsyncIterator[bytes], on_bytes: Callable[[int], None] | None = None
    ) -> AsyncIterator[bytes]:
        """Yield `chunks` one behind, hashing each in worker threads while the previous one is sent."""
        loop = asyncio.get_running_loop()
        held: bytes | None = None
        hashing: asyncio.Future[Any] | None = None
        size = self._image.size
        async for chunk in chunks:
            if not chunk:
                continue
            self.bytes += len(chunk)
            if size is not None and self.bytes > size:
                raise VerificationError(
                    f"image {self._image.id}: source sent more than the recorded {size} bytes"
                )
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
        if not self._expected:
            return None
        # hashlib drops the GIL on large buffers: md5 and sha512 run in parallel threads.
        return asyncio.gather(*(loop.run_in_executor(None, hasher.update, chunk) for _, hasher, _ in self._expected))

    def _check(self) -> None:
        size = self._image.size
        if size is not None and self.bytes != size:
            raise VerificationError(
                f"image {self._image.id}: got {self.bytes} bytes, the source records {size}"
            )
        for algorithm, hasher, expected in self._expected:
            if hasher.hexdigest() != expected:
                raise VerificationError(
                    f"image {self._image.id}: {algorithm} of the data does not match the source's"
                )
