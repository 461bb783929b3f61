"""Owner-only files and folders: the database holds the admin secret's salt and hash, the log
and the control socket what the service does. What the service creates is readable by its
owner alone (folders 0700, files 0600); an existing file of ours is tightened to 0600. Folders
that already exist are left as they are (they may be shared, like a home directory)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) owner-only; an existing folder is not changed."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=DIR_MODE)
        with contextlib.suppress(OSError):
            os.chmod(d, DIR_MODE)  # the umask may have taken bits from mkdir's mode


def private_file(path: Path) -> None:
    """Create ``path`` empty if missing, and make it owner-only (when it is ours)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.close(fd)
    getuid = getattr(os, "getuid", None)  # POSIX only: elsewhere the mode bits mean little
    with contextlib.suppress(OSError):
        if getuid is not None and os.stat(path).st_uid == getuid():
            os.chmod(path, FILE_MODE)


def opener(path: str, flags: int) -> int:
    """An ``open(opener=...)`` that creates files owner-only (log files, rotated ones too)."""
    return os.open(path, flags, FILE_MODE)
