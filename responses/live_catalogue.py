"""The response catalogue the action server answers from, re-read when its file changes.

Wording changes need neither `rasa train` nor a restart; an edit that fails the checks is
refused (logged) and the last good catalogue kept.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from responses.catalogue import DEFAULT_PATH, CatalogueError, ResponseCatalogue, load_catalogue
from responses.checks import lint

logger = logging.getLogger(__name__)


def checked(path: str | Path) -> ResponseCatalogue:
    """Loaded and linted: a catalogue with lint errors is refused like a malformed one."""
    catalogue = load_catalogue(path)
    problems = lint(catalogue)
    if problems:
        more = (
            f" (and {len(problems) - 1} more; run make lint-responses)" if len(problems) > 1 else ""
        )
        raise CatalogueError(problems[0] + more)
    return catalogue


class CatalogueFile:
    """The catalogue, re-read when the file changes; a broken edit keeps the last good one."""

    def __init__(self, path: str | Path = DEFAULT_PATH, check_every_s: float = 1.0) -> None:
        self.path, self.check_every_s = Path(path), check_every_s
        self._mtime = self._stat()
        self.catalogue = checked(self.path)  # start-up: a broken file is fatal
        self._checked = time.monotonic()

    def _stat(self) -> float | None:
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def get(self) -> ResponseCatalogue:
        now = time.monotonic()
        if now - self._checked >= self.check_every_s:
            self._checked = now
            mtime = self._stat()
            if mtime is not None and mtime != self._mtime:
                self._mtime = mtime
                try:
                    self.catalogue = checked(self.path)
                    logger.info("reloaded response catalogue %s", self.path)
                except CatalogueError as exc:
                    logger.error("%s; keeping the previous catalogue", exc)
        return self.catalogue
