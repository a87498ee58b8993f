"""Files only their owner may read (secrets, keys): created once, or replaced atomically."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, text: str) -> bool:
    """Create ``path`` with mode 600 unless it exists; True if it was created.

    An existing file is never overwritten (a second process must not mint a second secret),
    only tightened to mode 600 if others could read it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True


def replace_private(path: Path, text: str) -> None:
    """Atomically replace ``path`` with a mode-600 file holding ``text``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
