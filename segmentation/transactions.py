"""CRM transactions (one purchase per line of a CSV) checked and typed for feature building.

Every rejection names the file, the data row and the column, so an analyst can fix the
export instead of guessing. Row numbers count lines after the header: row 1 is the first
line after it, and blank lines are skipped but still counted.

Rows are purchases. No row is dropped because it looks like another: without an order id
two identical lines (the same item bought twice on one day) are two purchases. With an
order-id column (`order_col`, `--order-col`), a row that repeats an earlier row of the same
order exactly (same order id and equal in every other column of the file) is a duplicate
delivery of the export and is dropped (counted in `duplicates_dropped`); rows of one order
that differ in any column (its line items) are all kept. Columns are compared as read:
user id, category and the columns not used are compared as text without surrounding
spaces, the timestamp as an instant and the amount in cents (so `10` and `10.00` are
equal). An empty order id is refused.

Amounts are read exactly as integer cents (`amount_cents`, int64), never through a binary
float: a plain decimal, digits with an optional `+` and at most two decimal places (more
places are accepted only when they are zeros, `19.990`; `19.999` is refused as a fraction
of a cent); a `-` is refused (refunds), and so are exponents, thousands separators and
currency symbols; at most 13 digits before the point. `amount` is `amount_cents / 100` for display.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.errors import InputError

OUTPUT_COLUMNS = ["user_id", "timestamp", "amount_cents", "amount", "category"]
TIMESTAMP_HINT = "use ISO 8601 such as 2026-05-01T12:30:00Z, 2026-05-01 12:30 or 2026-05-01"
REFUNDS = "negative amounts (refunds) are not supported; remove or net them first"
SHOWN_LINE_CHARS = 80
# sign, digits before the point, digits after it; "" for a missing part (RE2 syntax).
AMOUNT_PATTERN = r"^(?P<sign>[+-]?)(?P<whole>\d*)(?:\.(?P<fraction>\d*))?$"
MAX_WHOLE_DIGITS = 13


@dataclass(frozen=True)
class LoadedTransactions:
    """The typed table plus what was dropped on the way, for the analyst's summary."""

    frame: pd.DataFrame
    duplicates_dropped: int  # repeated rows of an order (only with an order column)
    path: str
    order_col: str | None = None

    def warning(self) -> str | None:
        """The analyst's warning about dropped rows, or None when none were dropped."""
        if not self.duplicates_dropped:
            return None
        return (
            f"warning: {self.path}: dropped {self.duplicates_dropped} row(s) that repeat an "
            f"earlier row of the same order (column '{self.order_col}') in every column: "
            "duplicate deliveries of the export"
        )


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


def _missing_columns(wanted: dict[str, str], columns: list[str], path: str) -> InputError:
    """Every wanted column (flag -> name) the file lacks, each with a "did you mean" among
    the columns no other option uses."""
    missing = {flag: name for flag, name in wanted.items() if name not in columns}
    taken = set(wanted.values())
    free = {c.lower(): c for c in columns if c not in taken}
    hints, plain = [], []
    for flag, name in missing.items():
        close = difflib.get_close_matches(name.lower(), list(free), n=1, cutoff=0.5)
        if close:
            hints.append(f"did you mean '{free[close[0]]}'? pass {flag}")
        else:
            plain.append(flag)
    if plain:
        hints.append(f"pass {', '.join(plain)}")
    names = ", ".join(f"'{name}'" for name in missing.values())
    what = f"column {names}" if len(missing) == 1 else f"columns {names}"
    return InputError(f"{what} not found (columns: {', '.join(columns)}); {'; '.join(hints)}", path)


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


def _amounts(values: pd.Series, rows: list[int], path: str, column: str) -> np.ndarray:
    """Exact integer cents (int64), vectorised in Arrow; the rules are in the module docstring."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(pa.array(values.to_numpy(), type=pa.string()))
    at = _first_bad(pd.Series(pc.equal(text, "").to_numpy(zero_copy_only=False)))
    if at is not None:
        raise InputError("empty amount; fill it in or drop the row", path, rows[at], column)

    def bad(mask) -> int | None:
        return _first_bad(pd.Series(pc.fill_null(mask, True).to_numpy(zero_copy_only=False)))

    parts = pc.extract_regex(text, AMOUNT_PATTERN)
    sign, whole, fraction = (pc.struct_field(parts, [i]) for i in range(3))
    at = bad(pc.and_(pc.equal(whole, ""), pc.equal(fraction, "")))
    if at is not None:
        raise InputError(
            f"amount {values.iloc[at].strip()!r} is not a number; use a plain decimal such as "
            "19.99",
            path,
            rows[at],
            column,
        )
    at = bad(pc.equal(sign, "-"))
    if at is not None:
        raise InputError(REFUNDS, path, rows[at], column)
    at = bad(pc.not_equal(pc.utf8_trim(pc.utf8_slice_codeunits(fraction, 2), "0"), ""))
    if at is not None:
        raise InputError(
            f"amount {values.iloc[at].strip()!r} has more than 2 decimal places (a fraction of "
            "a cent); round amounts to cents in the export",
            path,
            rows[at],
            column,
        )
    whole = pc.utf8_ltrim(whole, "0")
    at = bad(pc.greater(pc.utf8_length(whole), MAX_WHOLE_DIGITS))
    if at is not None:
        raise InputError(
            f"amount {values.iloc[at].strip()!r} is too large (at most {MAX_WHOLE_DIGITS} "
            "digits before the point)",
            path,
            rows[at],
            column,
        )
    units = pc.cast(pc.if_else(pc.equal(whole, ""), "0", whole), pa.int64())
    cents = pc.cast(pc.utf8_slice_codeunits(pc.utf8_rpad(fraction, 2, "0"), 0, 2), pa.int64())
    out = units.to_numpy() * 100 + cents.to_numpy()
    if out.size and int(out.max()) * out.size >= 2**63:  # a sum could overflow int64
        raise InputError("amounts too large to sum exactly in cents; split the file", path)
    return out


def _duplicate_deliveries(
    raw: pd.DataFrame, typed: pd.DataFrame, used: dict[str, str]
) -> np.ndarray:
    """True for rows equal to an earlier row of the same order in every column (as read)."""
    typed_by_source = {source: typed[column] for column, source in used.items()}
    key = pd.DataFrame(
        {c: typed_by_source[c] if c in typed_by_source else raw[c].str.strip() for c in raw}
    )
    return key.duplicated(keep="first").to_numpy()


def load_transactions(
    path: str | Path,
    user_col: str = "user_id",
    time_col: str = "timestamp",
    amount_col: str = "amount",
    category_col: str | None = "category",
    order_col: str | None = None,
) -> LoadedTransactions:
    """Read, validate and type a transactions CSV; every row is a purchase, except repeated
    rows of one order when `order_col` is given (see the module docstring).

    Columns are renamed to user_id, timestamp (UTC), amount_cents (int64, >= 0), amount
    (amount_cents / 100) and category ("" when the file has no such column or category_col is
    None). Errors give 1-based data rows: row 1 is the first line after the header.
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
    if order_col is not None:
        wanted["--order-col"] = order_col
    if any(column not in raw.columns for column in wanted.values()):
        raise _missing_columns(wanted, columns, name)
    has_category = category_col is not None and category_col in raw.columns
    cents = _amounts(raw[amount_col], rows, name, amount_col)
    frame = pd.DataFrame(
        {
            "user_id": _user_ids(raw[user_col], rows, name, user_col),
            "timestamp": _timestamps(raw[time_col], rows, name, time_col),
            "amount_cents": cents,
            "amount": cents / 100,
            "category": raw[category_col].str.strip() if has_category else "",
        }
    )
    if order_col is None:
        return LoadedTransactions(frame[OUTPUT_COLUMNS], 0, name)
    at = _first_bad(raw[order_col].str.strip() == "")
    if at is not None:
        raise InputError(
            "empty order id; fill it in, or leave out --order-col (then every row is a purchase)",
            name,
            rows[at],
            order_col,
        )
    used = {"user_id": user_col, "timestamp": time_col, "amount_cents": amount_col}
    if has_category:
        used["category"] = category_col
    repeated = _duplicate_deliveries(raw, frame, used)
    frame = frame.loc[~repeated].reset_index(drop=True)
    return LoadedTransactions(frame[OUTPUT_COLUMNS], int(repeated.sum()), name, order_col)
