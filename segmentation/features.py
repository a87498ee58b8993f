"""One row of features per user, from CRM transactions, exported conversations, or both.

RFM (as of a snapshot date, transactions after it are ignored):
    recency_days     whole days from the last purchase date to the snapshot date
    frequency        number of distinct purchase days
    monetary         total spend
    avg_order_value  monetary / frequency
    tenure_days      whole days from the first purchase date to the snapshot date
Money is summed exactly in integer cents (`amount_cents`, int64, from
segmentation/transactions.py; a frame with only a float `amount` is rounded to cents
first); monetary and avg_order_value are the floats nearest to the exact cent totals
divided by 100 and by 100 * frequency.
Users who never bought have frequency = monetary = avg_order_value = 0 and
recency_days = tenure_days = NaN (imputed later), with has_purchases = 0.

Either source may be missing (None): every user then lacks that side. Without
transactions every user is a non-buyer as above; without conversations every user has
sessions = messages_per_session = every share_* = 0, session_duration_s = sentiment = NaN,
region "unknown" and has_conversations = 0. The default snapshot date is the day after the
last transaction, or, without transactions, the day after the last message (UTC).
The conversation columns are documented in README ("Features").
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from core.dayparts import DAYPARTS
from segmentation.errors import InputError
from segmentation.tables import read_table

INTENT_GROUPS = {
    "ask_recommendation": "recommendations",
    "ask_deals": "deals",
    "ask_new_arrivals": "new_arrivals",
    "ask_specs": "specs",
}
WEB_CHANNELS = ("rest", "socketio", "web")

# The export columns conversation features are built from (segmentation/export.py writes them).
EVENT_COLUMNS = [
    "user_id",
    "timestamp",
    "session",
    "intent",
    "text",
    "channel",
    "timezone",
    "device",
    "region",
]
RFM_COLUMNS = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"]
CONVERSATION_COLUMNS = [
    "sessions",
    "messages_per_session",
    "session_duration_s",
    *[f"share_{g}" for g in INTENT_GROUPS.values()],
    "sentiment",
    *[f"share_{d}" for d in DAYPARTS],
    "share_web",
    "share_mobile",
]
NUMERIC_COLUMNS = [*RFM_COLUMNS, "has_purchases", *CONVERSATION_COLUMNS, "has_conversations"]
CATEGORICAL_COLUMNS = ["region"]
FEATURE_COLUMNS = [*NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS]


def _utc_day_after(stamp: pd.Timestamp) -> dt.date:
    return stamp.tz_convert("UTC").date() + dt.timedelta(days=1)


def default_as_of(transactions: pd.DataFrame, events: pd.DataFrame | None = None) -> dt.date:
    """The day after the last transaction; without transactions, after the last message."""
    if not transactions.empty:
        return _utc_day_after(transactions["timestamp"].max())
    if events is not None and not events.empty:
        return _utc_day_after(pd.Timestamp(float(events["timestamp"].max()), unit="s", tz="UTC"))
    raise InputError("no transactions or messages to derive --as-of from; pass --as-of YYYY-MM-DD")


def with_cents(transactions: pd.DataFrame) -> pd.DataFrame:
    """`transactions` with an int64 `amount_cents`; a float `amount` is rounded to cents."""
    if "amount_cents" in transactions.columns:
        return transactions
    cents = np.round(transactions["amount"].to_numpy(float) * 100).astype(np.int64)
    return transactions.assign(amount_cents=cents)


def rfm(transactions: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """RFM per user from (user_id, timestamp[UTC], amount_cents) rows; see the module docstring."""
    snapshot = pd.Timestamp(as_of)
    empty = pd.DataFrame(columns=RFM_COLUMNS, index=pd.Index([], name="user_id"), dtype=float)
    if transactions.empty:
        return empty
    transactions = with_cents(transactions)
    tx = transactions.loc[transactions["timestamp"].dt.tz_convert(None) < snapshot]
    if tx.empty:
        return empty
    day = tx["timestamp"].dt.tz_convert(None).dt.normalize()
    grouped = tx.assign(day=day).groupby("user_id", sort=True)
    out = pd.DataFrame(
        {
            "last": grouped["day"].max(),
            "first": grouped["day"].min(),
            "frequency": grouped["day"].nunique().astype(float),
        }
    )
    cents = grouped["amount_cents"].sum().to_numpy(np.int64)  # exact
    out["monetary"] = cents / 100
    out["avg_order_value"] = cents / (100 * out["frequency"].to_numpy())
    out["recency_days"] = (snapshot - out["last"]).dt.days.astype(float)
    out["tenure_days"] = (snapshot - out["first"]).dt.days.astype(float)
    return out[RFM_COLUMNS]


@lru_cache(maxsize=1)
def vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()  # lexicon ships inside the package


def sentiment(texts: pd.Series) -> pd.Series:
    """VADER compound score in [-1, 1]; scored once per distinct text."""
    analyzer = vader()
    unique = pd.Series(texts.fillna("").unique())
    scores = unique.map(lambda t: analyzer.polarity_scores(t)["compound"] if t else 0.0)
    return texts.fillna("").map(dict(zip(unique, scores, strict=True))).astype(float)


def local_hours(events: pd.DataFrame) -> pd.Series:
    """Hour of day in each message's own timezone (UTC when unknown or invalid)."""
    utc = pd.to_datetime(events["timestamp"], unit="s", utc=True)
    hours = utc.dt.hour.astype(float)
    for zone, index in events.groupby(events["timezone"].fillna("")).groups.items():
        if not zone:
            continue
        try:
            hours.loc[index] = utc.loc[index].dt.tz_convert(zone).dt.hour.astype(float)
        except (KeyError, ValueError):  # unknown zone name: keep UTC (pytz raises KeyError)
            pass
    return hours


def most_common(frame: pd.DataFrame, column: str) -> pd.Series:
    """Each user's most frequent value (ties: alphabetically first), without a Python loop;
    the fairness audit's groups use it too (segmentation/audit_groups.py)."""
    counts = frame.groupby(["user_id", column]).size().reset_index(name="n")
    counts = counts.sort_values(["user_id", "n", column], ascending=[True, False, True])
    return counts.drop_duplicates("user_id").set_index("user_id")[column]


def conversation_features(events: pd.DataFrame) -> pd.DataFrame:
    if events.empty:
        return pd.DataFrame(
            columns=[*CONVERSATION_COLUMNS, "region"], index=pd.Index([], name="user_id")
        )
    ev = events.copy()
    ev["user_id"] = ev["user_id"].astype(str)
    ev["group"] = ev["intent"].map(INTENT_GROUPS)
    ev["sentiment"] = sentiment(ev["text"])
    ev["daypart"] = pd.cut(local_hours(ev), [-1, 5.999, 11.999, 17.999, 24], labels=DAYPARTS)
    ev["web"] = ev["channel"].isin(WEB_CHANNELS).astype(float)
    ev["mobile"] = (ev["device"] == "mobile").astype(float)

    by_user = ev.groupby("user_id", sort=True)
    messages = by_user.size().astype(float)
    by_session = ev.groupby(["user_id", "session"])["timestamp"]
    durations = (by_session.max() - by_session.min()).groupby(level=0).mean()
    sessions = by_session.size().groupby(level=0).size().astype(float)
    out = pd.DataFrame({"sessions": sessions})
    out["messages_per_session"] = messages / sessions
    out["session_duration_s"] = durations
    groups = ev.groupby(["user_id", "group"]).size().unstack(fill_value=0)
    for group in INTENT_GROUPS.values():
        out[f"share_{group}"] = (groups[group] if group in groups else 0) / messages
    out["sentiment"] = by_user["sentiment"].mean()
    parts = ev.groupby(["user_id", ev["daypart"].astype(str)]).size().unstack(fill_value=0)
    for part in DAYPARTS:
        out[f"share_{part}"] = (parts[part] if part in parts else 0) / messages
    out["share_web"] = by_user["web"].mean()
    out["share_mobile"] = by_user["mobile"].mean()
    out["region"] = most_common(ev.loc[ev["region"].fillna("") != ""], "region")
    return out.fillna({c: 0.0 for c in CONVERSATION_COLUMNS if c.startswith("share_")})


def build_features(
    transactions: pd.DataFrame | None,
    events: pd.DataFrame | None,
    as_of: dt.date | None = None,
) -> tuple[pd.DataFrame, dt.date]:
    """Join RFM and conversation features for every user seen in either source; a missing
    source (None) leaves its side empty, as the module docstring says."""
    if transactions is None and events is None:
        raise InputError("no source: give transactions, conversations (events) or both")
    if transactions is None:
        transactions = pd.DataFrame(
            {
                "user_id": pd.Series(dtype=str),
                "timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                "amount_cents": pd.Series(dtype=np.int64),
            }
        )
    if events is None:
        events = pd.DataFrame(columns=EVENT_COLUMNS)
    as_of = as_of or default_as_of(transactions, events)
    money = rfm(transactions, as_of)
    talk = conversation_features(events)
    users = money.index.union(talk.index)
    out = pd.DataFrame(index=pd.Index(users, name="user_id"))
    out = out.join(money).join(talk)
    out["has_purchases"] = out.index.isin(money.index).astype(float)
    out["has_conversations"] = out.index.isin(talk.index).astype(float)
    for column in ("frequency", "monetary", "avg_order_value", "sessions"):
        out[column] = out[column].fillna(0.0)
    for column in CONVERSATION_COLUMNS:
        if column.startswith("share_") or column == "messages_per_session":
            out[column] = out[column].fillna(0.0)
    out["region"] = out["region"].fillna("unknown").astype(str)
    out = out[FEATURE_COLUMNS].astype({c: float for c in NUMERIC_COLUMNS})
    return out.reset_index(), as_of


NO_USERS = "the features table has no users"


def check_feature_columns(columns, path: str) -> None:
    """The features table's columns (both engines)."""
    missing = [c for c in ["user_id", *FEATURE_COLUMNS] if c not in columns]
    if missing:
        raise InputError(
            f"missing feature columns {', '.join(missing)}; was it written by 'segment features'?",
            path,
        )


def check_features(frame: pd.DataFrame, path: str) -> pd.DataFrame:
    """Validate a features table read back from disk."""
    check_feature_columns(frame.columns, path)
    if frame.empty:
        raise InputError(NO_USERS, path)
    if frame["user_id"].duplicated().any():
        row = int(np.flatnonzero(frame["user_id"].duplicated().to_numpy())[0]) + 1
        raise InputError("duplicate user_id", path, row, "user_id")
    return frame


def read_feature_table(path: str) -> pd.DataFrame:
    """A `segment features` table, checked, with user ids as text, in canonical order."""
    frame = check_features(read_table(path), path)
    frame["user_id"] = frame["user_id"].astype(str)
    return canonical_order(frame)


def canonical_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by their feature values. Written sorted by user id, a pseudonym, the
    rows' order would change with the pseudonym key, and k-means' start, the samples and so
    the chosen model with it; rows tied on every feature are the same point to a model."""
    columns = [c for c in frame.columns if c != "user_id"] + ["user_id"]
    return frame.sort_values(columns, kind="mergesort", ignore_index=True)


def read_events(path: str) -> pd.DataFrame:
    """A `segment export` table with the columns conversation features need, blanks as ''."""
    frame = read_table(path)
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"missing columns {', '.join(missing)}; was it written by 'segment export'?", path
        )
    frame["user_id"] = frame["user_id"].astype(str)
    for column in ("intent", "text", "channel", "timezone", "device", "region"):
        frame[column] = frame[column].fillna("").astype(str)
    return frame
