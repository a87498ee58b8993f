"""Who is who in the fairness audit: one row per audited user with their segment, the groups
they belong to and whether they converted.

Groups come from three places: `region` from the features table; `device` and `channel`
(each user's most frequent non-blank value) from a `segment export` table; and sensitive
columns (`--sensitive-col`, e.g. age_band or gender) from the CRM transactions CSV, each
user's most frequent non-blank value. Sensitive columns are read here, for the audit only:
`segment features` never reads them (segmentation/transactions.py keeps the user, time,
amount and category columns), so they cannot become a feature or move a segment. A user
without a value is in the group `unknown`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.pseudonyms import pseudonymize_frame
from segmentation.config import TransactionColumns
from segmentation.errors import InputError
from segmentation.features import most_common

UNKNOWN = "unknown"
BUILT_IN = ("region", "device", "channel")
EVENT_GROUPS = ("device", "channel")


@dataclass(frozen=True)
class Dimension:
    """One way of grouping users: its column in AuditTable.users and where it came from."""

    name: str
    source: str
    sensitive: bool = False


@dataclass(frozen=True)
class AuditTable:
    """`users`: user_id, segment, the dimensions' columns and `converted` (0/1)."""

    users: pd.DataFrame
    dimensions: tuple[Dimension, ...]
    conversion: dict = field(default_factory=dict)  # what `converted` means, for the report


def most_common_value(frame: pd.DataFrame, column: str) -> pd.Series:
    """Each user's most frequent non-blank value of `column` (ties: alphabetically first)."""
    values = frame[["user_id", column]].copy()
    values[column] = values[column].fillna("").astype(str).str.strip()
    return most_common(values.loc[values[column] != ""], column)


def population(features: pd.DataFrame, assignments: pd.DataFrame, path: str) -> pd.DataFrame:
    """The users of both the features table and the model's assignments, with their segment."""
    joined = features.merge(assignments[["user_id", "segment"]], on="user_id", how="inner")
    if joined.empty:
        raise InputError(
            "no user of the features table is in the model's assignments; "
            "pass the features the model was trained on",
            path,
        )
    return joined.reset_index(drop=True)


def event_groups(path: str, pseudonym_key: bytes) -> pd.DataFrame:
    """Per user: the device and channel they write from most often (a `segment export`)."""
    from segmentation.features import read_events

    events = pseudonymize_frame(read_events(path), "user_id", pseudonym_key)
    return pd.DataFrame({column: most_common_value(events, column) for column in EVENT_GROUPS})


def _read_columns(path: str, wanted: list[str]) -> pd.DataFrame:
    if not Path(path).is_file():
        raise InputError("file not found", path)
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read CSV ({str(exc).splitlines()[0]})", path) from None
    columns = [str(c).strip() for c in header]
    for name in wanted:
        if name not in columns:
            raise InputError(
                f"sensitive column '{name}' not found (columns: {', '.join(columns)}); "
                "check --sensitive-col",
                path,
            )
    frame = pd.read_csv(
        path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=True
    )
    frame.columns = columns
    return frame[wanted]


def sensitive_groups(
    path: str, user_col: str, names: tuple[str, ...], pseudonym_key: bytes
) -> pd.DataFrame:
    """Per user (as the pseudonym `segment features` gives them): each sensitive column's
    most frequent value. A column with fewer than two values has nothing to compare."""
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"--sensitive-col '{repeated[0]}' is given twice")
    clash = [n for n in names if n in BUILT_IN]
    if clash:
        raise InputError(
            f"--sensitive-col '{clash[0]}' has the name of a built-in group "
            f"({', '.join(BUILT_IN)}); rename the column in the export"
        )
    frame = _read_columns(path, [user_col, *names])
    frame = frame.rename(columns={user_col: "user_id"})
    frame["user_id"] = frame["user_id"].str.strip()
    frame = pseudonymize_frame(frame.loc[frame["user_id"] != ""], "user_id", pseudonym_key)
    out = pd.DataFrame({name: most_common_value(frame, name) for name in names})
    for name in names:
        values = sorted(out[name].dropna().unique())
        if len(values) < 2:
            shown = f"one value ('{values[0]}')" if values else "no values"
            raise InputError(
                f"sensitive column '{name}' has {shown}: there are no groups to compare",
                path,
            )
    return out


def purchases_since(
    path: str, columns: TransactionColumns, as_of: dt.date, pseudonym_key: bytes
) -> tuple[set[str], int]:
    """Users with a purchase on or after `as_of`, and how many purchases there were."""
    from segmentation.transactions import load_transactions

    loaded = load_transactions(
        path,
        user_col=columns.user,
        time_col=columns.time,
        amount_col=columns.amount,
        category_col=columns.category,
        order_col=columns.order,
    )
    tx = pseudonymize_frame(loaded.frame, "user_id", pseudonym_key)
    after = tx.loc[tx["timestamp"].dt.tz_convert(None) >= pd.Timestamp(as_of)]
    if after.empty:
        raise InputError(
            f"no purchase on or after --as-of {as_of}: conversions cannot be measured; pass "
            "an export that runs past the snapshot, or leave --as-of out",
            path,
        )
    return set(after["user_id"].astype(str)), len(after)


def _attach(users: pd.DataFrame, groups: pd.DataFrame, names) -> pd.DataFrame:
    joined = users.join(groups, on="user_id")
    for name in names:
        joined[name] = joined[name].fillna(UNKNOWN).astype(str)
    return joined


def audit_table(
    joined: pd.DataFrame,
    *,
    events: str | None = None,
    transactions: str | None = None,
    sensitive: tuple[str, ...] = (),
    columns: TransactionColumns | None = None,
    as_of: dt.date | None = None,
    pseudonym_key: bytes = b"",
) -> AuditTable:
    """The audit's users (features joined with assignments) with their groups and outcome."""
    if sensitive and not transactions:
        raise InputError("--sensitive-col needs --transactions (the CRM export holding it)")
    if as_of and not transactions:
        raise InputError("--as-of needs --transactions (the purchases after the snapshot)")
    columns = columns or TransactionColumns()
    users = joined[["user_id", "segment"]].copy()
    users["region"] = joined["region"].fillna(UNKNOWN).astype(str)
    dimensions = [Dimension("region", "features table")]
    if events:
        users = _attach(users, event_groups(events, pseudonym_key), EVENT_GROUPS)
        dimensions += [Dimension(name, f"events ({Path(events).name})") for name in EVENT_GROUPS]
    if sensitive:
        groups = sensitive_groups(transactions, columns.user, sensitive, pseudonym_key)
        users = _attach(users, groups, sensitive)
        source = f"CRM export ({Path(transactions).name}), audit only"
        dimensions += [Dimension(name, source, sensitive=True) for name in sensitive]
    if as_of:
        buyers, purchases = purchases_since(transactions, columns, as_of, pseudonym_key)
        users["converted"] = users["user_id"].isin(buyers).astype(float)
        conversion = {
            "metric": "purchased after the snapshot",
            "definition": f"share of users with a purchase on or after {as_of} in "
            f"{Path(transactions).name} ({purchases} purchases), i.e. after the answers "
            "their segment was given",
        }
    else:
        users["converted"] = joined["has_purchases"].astype(float).clip(0, 1).to_numpy()
        conversion = {
            "metric": "has bought",
            "definition": "share of users who bought before the snapshot (has_purchases in "
            "the features table); it describes the group, not what the answers caused: pass "
            "--as-of with a newer export to measure purchases after it",
        }
    return AuditTable(users, tuple(dimensions), conversion)
