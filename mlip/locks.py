"""Inter-process file locks through ``filelock`` (one implementation instead of hand-written
``fcntl`` calls): :func:`exclusive` waits for the lock, or with ``wait=False`` refuses at once with
a one-line ``UserError`` saying who holds it. The lock file stays behind (removing it would race
with a process about to lock it); the lock itself ends with the process, even on SIGKILL."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mlip.errors import UserError


@contextmanager
def exclusive(path: str | os.PathLike, *, wait: bool = True, busy: str = "the lock is held by another process",
              where: str | None = None) -> Iterator[None]:
    """Hold the exclusive lock ``path`` (created with its folder if missing) for the block."""
    from filelock import FileLock, Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(busy, where) from None
    try:
        yield
    finally:
        lock.release()
