"""Atomic writes: the one place where a file is written under a temporary name and renamed.

An interrupted write (a crash, a full disk, a killed job) never leaves a half-written file under
the final name: readers see the old file or the new one. Used by every writer (exports, BDF,
the BaSyTec converter, sessions, batch results).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, directory: bool = False):
    """Yield a temporary sibling of ``path`` (created with mode 600, or a directory); rename it
    onto ``path`` when the block ends without an error, remove it otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.")) if directory else None
    if not directory:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
    target = tmp / path.name if directory else tmp
    try:
        yield target
        if path.exists() and path.is_dir():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
