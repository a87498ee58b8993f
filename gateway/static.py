"""The web chat page: files under gateway/static/ served at /, index.html for directories.

Served as a fallback for GET requests no API route matched, instead of a catch-all route,
so a wrong method on an API path still answers 405 rather than "file not found".
"""

from __future__ import annotations

from pathlib import Path


def static_file(root: Path, url_path: str) -> Path | None:
    """The file ``url_path`` names inside ``root``, or None (no dot-files, no escaping root)."""
    rel = url_path.lstrip("/")
    if not rel or rel.endswith("/"):
        rel += "index.html"
    parts = rel.split("/")
    if any(not p or p.startswith(".") for p in parts) or "\\" in rel or "\x00" in rel:
        return None
    try:
        base = root.resolve()
        candidate = (base / rel).resolve()
        if candidate.is_relative_to(base) and candidate.is_file():
            return candidate
    except (OSError, ValueError):
        pass
    return None
