"""A local, fsynced journal of conversation events the database could not take yet.

While PostgreSQL is down the tracker store still answers: each turn's new events are
appended here (one JSON line per save, flushed and fsynced before the answer leaves), and
written to the database in order once it is back. A Rasa process that was killed leaves its
journal behind; the next one to start claims it (an atomic rename) and replays it, so a
message that got an answer is never lost with the process.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Batch = tuple[str, list[dict[str, Any]]]  # (sender id, events as dicts)


class Spool:
    def __init__(self, directory: Path, name: str | None = None) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{name or f'rasa-{os.getpid()}'}.jsonl"
        self.pending = self._count(self.path)
        self._lock = threading.Lock()  # appends and replays come from worker threads

    def append(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        """Durable before it returns: the answer may only leave once this is on disk."""
        line = json.dumps({"sender_id": sender_id, "events": events}, separators=(",", ":"))
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            self.pending += 1

    def claim_orphans(self) -> None:
        """Take over the journals of processes that are gone, appended to this one's."""
        for other in sorted(self.dir.glob("rasa-*.jsonl")):
            pid = other.stem.removeprefix("rasa-")
            if other == self.path or (pid.isdigit() and _alive(int(pid))):
                continue
            claimed = other.with_suffix(f".claimed-{os.getpid()}")
            try:
                other.rename(claimed)
            except OSError:
                continue  # another process claimed it first
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(claimed.read_text(encoding="utf-8"))
                out.flush()
                os.fsync(out.fileno())
            claimed.unlink()
            self.pending = self._count(self.path)
            logger.warning("claimed the unsaved conversation journal of process %s", pid)

    def replay(self, write: Callable[[list[Batch]], None]) -> int:
        """Write every journalled batch in order (`write` raises if the database is still
        down, and the journal stays); returns how many batches were written."""
        with self._lock:
            if not self.pending or not self.path.exists():
                return 0
            batches = list(_read(self.path))
            write(batches)
            self.path.unlink()
            self.pending = 0
            return len(batches)

    @staticmethod
    def _count(path: Path) -> int:
        if not path.exists():
            return 0
        with open(path, encoding="utf-8") as handle:
            return sum(1 for line in handle if line.strip())


def _read(path: Path) -> Iterator[Batch]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                yield str(record["sender_id"]), list(record["events"])
            except (ValueError, KeyError, TypeError):
                # A line torn by a crash mid-write: the turn it held got no answer.
                logger.error("%s line %d is not a journal record; skipped", path, number)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
