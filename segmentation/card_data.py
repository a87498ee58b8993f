"""What a model card says beyond model.json: where the data came from, and what changed.

`segment features` writes `<features>.sources.json` beside its table (the transactions and
events it read: path, SHA-256, rows, first and last day; the as-of date; users).
`segment train` copies it into the model directory's card.json, with the changes since
the previous model: users that moved, segments that are new, gone, split or merged. Both
are computed once, when the inputs are at hand; the card is rendered from these files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd

SOURCES_SUFFIX = ".sources.json"
CARD_DATA = "card.json"
# A segment counts as split (merged) when two or more segments each take (give) at least
# this share of its users present in both versions.
PART_SHARE = 0.25


def file_digest(path: str | Path) -> str | None:
    """SHA-256 of a file's bytes (first 16 hex digits); None for a directory or no file."""
    path = Path(path)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _source(path, frame: pd.DataFrame | None) -> dict | None:
    if path is None:
        return None
    days = None
    if frame is not None and "timestamp" in frame.columns and len(frame):
        column = frame["timestamp"]
        unit = "s" if pd.api.types.is_numeric_dtype(column) else None  # exports: epoch seconds
        stamps = pd.to_datetime(column, unit=unit, utc=True, errors="coerce").dropna()
        if len(stamps):
            days = [stamps.min().date().isoformat(), stamps.max().date().isoformat()]
    return {
        "path": str(Path(path).resolve()),
        "sha256": file_digest(path),
        "rows": None if frame is None else len(frame),
        "first_day": days[0] if days else None,
        "last_day": days[1] if days else None,
    }


def sources_path(features: str | Path) -> Path:
    return Path(f"{features}{SOURCES_SUFFIX}")


def record_sources(
    features: str | Path,
    transactions: tuple[str | None, pd.DataFrame | None],
    events: tuple[str | None, pd.DataFrame | None],
    as_of: dt.date,
    users: int,
) -> Path:
    """Write `<features>.sources.json`: (path, frame) of each source, either may be None."""
    record = {
        "features": {"path": str(Path(features).resolve()), "sha256": file_digest(features)},
        "transactions": _source(*transactions),
        "events": _source(*events),
        "as_of": str(as_of),
        "users": int(users),
    }
    path = sources_path(features)
    path.write_text(json.dumps(record, indent=2))
    return path


def read_sources(features: str | Path) -> dict | None:
    """The sources of a features table, if recorded for exactly this table."""
    try:
        record = json.loads(sources_path(features).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("features", {}).get("sha256") != file_digest(
        features
    ):
        return None
    return record


def _parts(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Row label -> {column label: users} for the cells holding at least PART_SHARE of a row."""
    shares = table.div(table.sum(axis=1), axis=0)
    return {
        str(row): {
            str(col): int(table.loc[row, col])
            for col in table.columns
            if shares.loc[row, col] >= PART_SHARE
        }
        for row in table.index
    }


def changes(previous: pd.DataFrame | None, current: pd.DataFrame) -> dict | None:
    """Users moved, segments new, gone, split and merged between two assignment tables
    (user_id, segment); None without a previous one."""
    if previous is None:
        return None
    both = current[["user_id", "segment"]].merge(
        previous[["user_id", "segment"]], on="user_id", suffixes=("", "_prev")
    )
    table = pd.crosstab(both["segment_prev"], both["segment"])
    moved = both["segment"] != both["segment_prev"]
    transitions = both.loc[moved].groupby(["segment_prev", "segment"]).size()
    old_ids, new_ids = set(previous["segment"].astype(str)), set(current["segment"].astype(str))
    splits = {s: p for s, p in _parts(table).items() if len(p) > 1}
    merges = {s: p for s, p in _parts(table.T).items() if len(p) > 1}
    return {
        "compared_users": len(both),
        "moved_users": int(moved.sum()),
        "only_previous_users": int(len(previous) - len(both)),
        "only_current_users": int(len(current) - len(both)),
        "transitions": [
            {"from": a, "to": b, "users": int(n)}
            for (a, b), n in transitions.sort_values(ascending=False).items()
        ],
        "new_segments": sorted(new_ids - old_ids),
        "gone_segments": sorted(old_ids - new_ids),
        "splits": [{"segment": s, "into": p} for s, p in sorted(splits.items())],
        "merges": [{"segment": s, "from": p} for s, p in sorted(merges.items())],
    }


def write_card_data(
    model_dir: str | Path,
    features: str,
    previous: tuple[str, str, pd.DataFrame] | None,
    current: pd.DataFrame,
) -> Path:
    """card.json: the features' sources and the changes since `previous`, given as
    (its folder, its published version, its assignments)."""
    data = {
        "features": {"path": str(Path(features).resolve()), "sha256": file_digest(features)},
        "sources": read_sources(features),
        "previous": None,
        "changes": None,
    }
    if previous is not None:
        folder, version, assignments = previous
        data["previous"] = {"path": str(Path(folder).resolve()), "version": version}
        data["changes"] = changes(assignments, current)
    path = Path(model_dir) / CARD_DATA
    path.write_text(json.dumps(data, indent=2))
    return path
