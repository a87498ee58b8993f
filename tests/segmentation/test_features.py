"""Feature definitions checked against hand-computed values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segmentation.errors import InputError
from segmentation.features import FEATURE_COLUMNS, build_features, check_features, rfm


def tx(rows):
    frame = pd.DataFrame(rows, columns=["user_id", "timestamp", "amount"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


TX = tx(
    [
        ("alice", "2026-01-10T09:00:00Z", 100.0),
        ("alice", "2026-01-10T18:00:00Z", 50.0),  # same day: one purchase day
        ("alice", "2026-03-01T12:00:00Z", 30.0),
        ("bob", "2026-03-30T23:30:00Z", 999.0),
        ("carol", "2026-04-05T10:00:00Z", 10.0),  # after the snapshot: ignored
    ]
)


def test_rfm_matches_hand_computed_values():
    out = rfm(TX, dt.date(2026, 4, 1))
    alice, bob = out.loc["alice"], out.loc["bob"]
    assert alice["recency_days"] == 31  # 2026-03-01 -> 2026-04-01
    assert alice["frequency"] == 2  # 10 Jan (twice) and 1 Mar
    assert alice["monetary"] == 180
    assert alice["avg_order_value"] == 90
    assert alice["tenure_days"] == 81  # 2026-01-10 -> 2026-04-01
    assert (bob["recency_days"], bob["frequency"], bob["tenure_days"]) == (2, 1, 2)
    assert "carol" not in out.index


def test_default_snapshot_is_the_day_after_the_last_transaction():
    features, as_of = build_features(
        TX,
        pd.DataFrame(
            columns=[
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
        ),
    )
    assert as_of == dt.date(2026, 4, 6)
    carol = features.set_index("user_id").loc["carol"]
    assert carol["recency_days"] == 1 and carol["tenure_days"] == 1


def events(rows):
    cols = [
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
    return pd.DataFrame(rows, columns=cols)


def ts(text):
    return pd.Timestamp(text).timestamp()


def test_conversation_features_by_hand():
    ev = events(
        [
            # dana: two sessions; Berlin is UTC+1 in January
            (
                "dana",
                ts("2026-01-05T06:30:00Z"),
                0,
                "ask_deals",
                "any deals? great!",
                "rest",
                "Europe/Berlin",
                "mobile",
                "DE",
            ),
            (
                "dana",
                ts("2026-01-05T06:32:00Z"),
                0,
                "ask_specs",
                "specs please",
                "rest",
                "Europe/Berlin",
                "mobile",
                "DE",
            ),
            (
                "dana",
                ts("2026-01-06T20:00:00Z"),
                1,
                "greet",
                "hi",
                "slack",
                "Europe/Berlin",
                "desktop",
                "DE",
            ),
            (
                "dana",
                ts("2026-01-06T20:10:00Z"),
                1,
                "ask_deals",
                "this is terrible",
                "slack",
                "Europe/Berlin",
                "desktop",
                "DE",
            ),
            # erik: unknown zone -> UTC hour
            (
                "erik",
                ts("2026-01-05T02:00:00Z"),
                0,
                "ask_recommendation",
                "a laptop",
                "socketio",
                "Not/AZone",
                "mobile",
                "",
            ),
        ]
    )
    features, _ = build_features(TX, ev, dt.date(2026, 4, 1))
    dana = features.set_index("user_id").loc["dana"]
    assert dana["sessions"] == 2 and dana["messages_per_session"] == 2
    assert dana["session_duration_s"] == pytest.approx((120 + 600) / 2)
    assert dana["share_deals"] == 0.5 and dana["share_specs"] == 0.25
    assert dana["share_recommendations"] == 0
    assert dana["share_morning"] == 0.5  # 07:30 and 07:32 local
    assert dana["share_evening"] == 0.5  # 21:00 and 21:10 local
    assert dana["share_web"] == 0.5 and dana["share_mobile"] == 0.5
    assert dana["region"] == "DE"
    assert dana["has_purchases"] == 0 and np.isnan(dana["recency_days"])
    assert dana["frequency"] == 0 and dana["monetary"] == 0
    assert -1 <= dana["sentiment"] <= 1
    erik = features.set_index("user_id").loc["erik"]
    assert erik["share_night"] == 1 and erik["region"] == "unknown"
    alice = features.set_index("user_id").loc["alice"]
    assert alice["has_conversations"] == 0 and alice["sessions"] == 0
    assert list(features.columns) == ["user_id", *FEATURE_COLUMNS]


def test_sentiment_is_positive_for_praise_and_negative_for_complaints():
    ev = events(
        [
            ("p", 1.0, 0, "thank", "this is great, I love it!", "rest", "", "", ""),
            ("n", 1.0, 0, "deny", "awful, terrible service", "rest", "", "", ""),
        ]
    )
    features, _ = build_features(TX, ev, dt.date(2026, 4, 1))
    s = features.set_index("user_id")["sentiment"]
    assert s["p"] > 0.5 and s["n"] < -0.5


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.drop(columns=["monetary"]), "missing feature columns monetary"),
        (lambda f: f.iloc[0:0], "no users"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "row 2, column 'user_id': duplicate user_id"),
    ],
)
def test_features_table_checks(change, message):
    features, _ = build_features(TX.iloc[:1], events([]), dt.date(2026, 4, 1))
    with pytest.raises(InputError, match=message):
        check_features(change(features), "f.parquet")
