"""Writing an uploaded body to disk while md5 and sha512 are computed, off the event loop.

Hashing a gigabyte takes seconds of CPU; on the event loop it would stall every other
connection of the server. Blocks of about a megabyte go to worker threads (hashlib releases
the GIL on large buffers): one thread writes and computes md5, another sha512, while the loop
reads the next block from the socket.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

BLOCK = 1024 * 1024
#: How many leading bytes are kept to recognise the data's format.
HEAD = 512


class HashingWriter:
    """Append-only file writer that knows the size, md5 and sha512 of what it wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.head = b""
        # A new file, never through a link left in the data directory: what an earlier,
        # failed upload left is removed first (the name is the image's).
        path.unlink(missing_ok=True)
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb")
        self._md5 = hashlib.md5()
        self._sha512 = hashlib.sha512()
        self._buffer = bytearray()
        self._pending: list[asyncio.Future[None]] = []

    async def write(self, chunk: bytes) -> None:
        if len(self.head) < HEAD:
            self.head += chunk[: HEAD - len(self.head)]
        self.size += len(chunk)
        self._buffer += chunk
        if len(self._buffer) >= BLOCK:
            await self._hand_off()

    async def finish(self) -> tuple[str, str]:
        """Flush and close; returns (md5, sha512) as hex."""
        await self._hand_off()
        await self._settle()
        self._file.close()
        return self._md5.hexdigest(), self._sha512.hexdigest()

    async def discard(self) -> None:
        """Close and remove the file, whatever state the writing is in."""
        try:
            await self._settle()
        except OSError:
            pass
        self._file.close()
        self.path.unlink(missing_ok=True)

    async def _hand_off(self) -> None:
        if not self._buffer:
            return
        block, self._buffer = self._buffer, bytearray()
        await self._settle()  # at most one block in the threads: memory stays flat
        loop = asyncio.get_running_loop()
        self._pending = [
            loop.run_in_executor(None, self._write_and_md5, block),
            loop.run_in_executor(None, self._sha512.update, block),
        ]

    def _write_and_md5(self, block: bytearray) -> None:
        self._file.write(block)
        self._md5.update(block)

    async def _settle(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            await future


def digest_file(path: Path) -> tuple[int, str, str]:
    """(size, md5, sha512) of a file: for imports, which hash what was staged. Blocking."""
    md5, sha512, size = hashlib.md5(), hashlib.sha512(), 0
    with path.open("rb") as file:
        while block := file.read(BLOCK):
            size += len(block)
            md5.update(block)
            sha512.update(block)
    return size, md5.hexdigest(), sha512.hexdigest()
