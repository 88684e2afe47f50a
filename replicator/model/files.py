"""Opening a file someone else may have left in place: never through a symlink, never a FIFO.

A path given to the replicator (a dump's records and data, `--report`, `--metrics-file`) may
hold whatever another user or an earlier mistake left there: a symlink to somewhere else, a
FIFO (opening one blocks until another process opens its other end: the run hangs at its
start), a device, a sparse file of a terabyte. Every such file is opened here: `O_NOFOLLOW`
(a symlink is refused), `O_NONBLOCK` for the open only (a FIFO answers at once), then held to
be a regular file by `fstat` on what was opened, so nothing can be swapped in between.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat


class NotRegularFile(OSError):
    """What was found at the path is no regular file (a FIFO, a device, a directory)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(errno.EINVAL, "not a regular file", str(path))


def open_regular(path: str | os.PathLike[str], flags: int, mode: int = 0o600) -> int:
    """A descriptor of the regular file at `path`, opened with `flags` (an `opener` for `open`).

    OSError as `os.open` raises it (ELOOP for a symlink, ENXIO for a FIFO opened for writing
    that nobody reads), or `NotRegularFile`. A file created here gets `mode` (owner-only by
    default), less the umask.
    """
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(path)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd
