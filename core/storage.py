"""Atomic file writes: a reader never sees half a file, a crash never destroys the last good one."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success flush, fsync and rename it into place.

    If the body raises, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); a file written here is as readable as any other the
        # process writes (a dashboard run as another user must read the runs a job wrote).
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value: object) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, allow_nan=False) + "\n")


def atomic_write_with(path: Path, write: Callable[[IO], None]) -> None:
    """Atomically write whatever ``write(handle)`` produces (e.g. numpy's savez)."""
    with atomic_open(path, "wb") as handle:
        write(handle)


def _umask() -> int:
    """The process's umask, read without changing it (os.umask can only be read by setting it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def describe_error(error: BaseException) -> str:
    """One line for an error: an OSError as its reason and the file (``No space left on device: /runs/x``)."""
    if isinstance(error, OSError) and error.strerror:
        where = error.filename
        if isinstance(where, str) and Path(where).name.startswith(".") and where.endswith(".tmp"):
            where = str(Path(where).parent)  # an atomic write's temporary file: the folder says more
        return f"{error.strerror}: {where}" if where else error.strerror
    return f"{type(error).__name__}: {error}"


class UnsafeFile(ValueError):
    """A file that is not a regular file, or larger than its cap; the message says which."""


def read_regular_file(path: Path, cap: int) -> bytes:
    """The bytes of a regular file of at most ``cap`` bytes.

    A FIFO would block a reader forever and a link to /dev/zero would fill the memory: only regular files
    (after following links) are read, opened without blocking, and never more than ``cap`` bytes.
    """
    path = Path(path)
    with _open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > cap:
            raise UnsafeFile(f"{path.name} is {size / 2**20:.1f} MiB, over its limit of {cap / 2**20:g} MiB")
        data = handle.read(cap + 1)
    if len(data) > cap:  # it grew while being read
        raise UnsafeFile(f"{path.name} is over its limit of {cap / 2**20:g} MiB")
    return data


def read_file_head(path: Path, size: int) -> bytes:
    """At most the first ``size`` bytes of a regular file (a header), on the same terms as ``read_regular_file``."""
    with _open_regular(Path(path)) as handle:
        return handle.read(size)


def _open_regular(path: Path) -> IO[bytes]:
    """``path`` opened for reading without blocking; UnsafeFile unless it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, PermissionError):
        raise
    except OSError as error:
        raise UnsafeFile(f"{path.name} can't be opened ({error.strerror})") from None
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise UnsafeFile(f"{path.name} is not a regular file")
    return handle
