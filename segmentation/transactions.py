"""CRM transactions (one purchase per line of a CSV) checked and typed for feature building.

Every rejection names the file, the data row and the column, so an analyst can fix the
export instead of guessing. Row numbers count lines after the header: row 1 is the first
line after it, and blank lines are skipped but still counted.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.errors import InputError

OUTPUT_COLUMNS = ["user_id", "timestamp", "amount", "category"]
TIMESTAMP_HINT = "use ISO 8601 such as 2026-05-01T12:30:00Z, 2026-05-01 12:30 or 2026-05-01"
REFUNDS = "negative amounts (refunds) are not supported; remove or net them first"
SHOWN_LINE_CHARS = 80


@dataclass(frozen=True)
class LoadedTransactions:
    """The typed table plus what was dropped on the way, for the analyst's summary."""

    frame: pd.DataFrame
    duplicates_dropped: int
    path: str


def _shown(line: list[str]) -> str:
    text = ",".join(line)
    return text if len(text) <= SHOWN_LINE_CHARS else text[: SHOWN_LINE_CHARS - 3] + "..."


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data records and their row numbers; a record with the wrong field count fails.

    pandas pads short lines and can silently cut long ones, so fields are counted here.
    """
    name = str(path)
    records: list[list[str]] = []
    rows: list[int] = []
    header_line = line = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            while header == []:  # blank lines before the header
                header = next(reader, None)
            if header is None:
                raise InputError("no transactions (the file is empty)", name)
            header_line, line = reader.line_num, reader.line_num
            for record in reader:
                start, line = line + 1, reader.line_num
                if not record:
                    continue
                row = start - header_line
                if len(record) != len(header):
                    raise InputError(
                        f"line has {len(record)} fields, the header has {len(header)}: "
                        f"{_shown(record)!r}; check quoting and delimiters",
                        name,
                        row,
                    )
                records.append(record)
                rows.append(row)
    except csv.Error as exc:
        row = line + 1 - header_line if header_line else None
        raise InputError(f"malformed CSV ({exc})", name, row) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}); re-export as UTF-8", name) from None
    columns = [h.strip() for h in header]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise InputError(f"the header names column '{repeated[0]}' twice; rename one", name)
    return columns, records, rows


def _missing_column(name: str, columns: list[str], flag: str, path: str) -> InputError:
    lowered = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    hint = f"did you mean '{lowered[close[0]]}'? pass {flag}" if close else f"pass {flag}"
    return InputError(f"column '{name}' not found (columns: {', '.join(columns)}); {hint}", path)


def _first_bad(mask: pd.Series) -> int | None:
    """Position of the first True in mask, or None."""
    hits = np.flatnonzero(mask.to_numpy())
    return int(hits[0]) if hits.size else None


def _user_ids(values: pd.Series, rows: list[int], path: str, column: str) -> pd.Series:
    values = values.str.strip()
    at = _first_bad(values == "")
    if at is not None:
        raise InputError("empty user id; every purchase needs its customer", path, rows[at], column)
    return values


def _timestamps(values: pd.Series, rows: list[int], path: str, column: str) -> pd.Series:
    """ISO 8601 with or without zone, or a plain date; naive times are taken as UTC."""
    values = values.str.strip()
    parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
    at = _first_bad(parsed.isna())
    if at is not None:
        bad = values.iloc[at]
        raise InputError(f"cannot read timestamp {bad!r}; {TIMESTAMP_HINT}", path, rows[at], column)
    return parsed.astype("datetime64[ns, UTC]")


def _amounts(values: pd.Series, rows: list[int], path: str, column: str) -> pd.Series:
    values = values.str.strip()
    at = _first_bad(values == "")
    if at is not None:
        raise InputError("empty amount; fill it in or drop the row", path, rows[at], column)
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    at = _first_bad(~np.isfinite(numbers))
    if at is not None:
        raise InputError(
            f"amount {values.iloc[at]!r} is not a number; use a plain decimal such as 19.99",
            path,
            rows[at],
            column,
        )
    at = _first_bad(numbers < 0)
    if at is not None:
        raise InputError(REFUNDS, path, rows[at], column)
    return numbers


def load_transactions(
    path: str | Path,
    user_col: str = "user_id",
    time_col: str = "timestamp",
    amount_col: str = "amount",
    category_col: str | None = "category",
) -> LoadedTransactions:
    """Read, validate and type a transactions CSV; exact duplicate lines are dropped and counted.

    Columns are renamed to user_id, timestamp (UTC), amount (>= 0) and category ("" when the
    file has no such column or category_col is None). Errors give 1-based data rows: row 1 is
    the first line after the header.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise InputError("file not found", name)
    columns, records, rows = _read_rows(path)
    if not records:
        raise InputError("no transactions (only a header)", name)
    raw = pd.DataFrame(records, columns=columns, dtype=str)
    wanted = {"--user-col": user_col, "--time-col": time_col, "--amount-col": amount_col}
    for flag, column in wanted.items():
        if column not in raw.columns:
            raise _missing_column(column, columns, flag, name)
    has_category = category_col is not None and category_col in raw.columns
    frame = pd.DataFrame(
        {
            "user_id": _user_ids(raw[user_col], rows, name, user_col),
            "timestamp": _timestamps(raw[time_col], rows, name, time_col),
            "amount": _amounts(raw[amount_col], rows, name, amount_col),
            "category": raw[category_col].str.strip() if has_category else "",
        }
    )
    duplicated = raw.duplicated(keep="first").to_numpy()
    frame = frame.loc[~duplicated].reset_index(drop=True)
    return LoadedTransactions(frame[OUTPUT_COLUMNS], int(duplicated.sum()), name)
