"""Feature definitions checked against hand-computed values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segmentation.errors import InputError
from segmentation.features import (
    FEATURE_COLUMNS,
    build_features,
    check_features,
    read_events,
    rfm,
)
from segmentation.transactions import load_transactions


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


# --- legitimately repeated rows, each source alone and both, against hand computation ----

SNAPSHOT = dt.date(2026, 4, 1)
CRM = (
    "order_id,user_id,timestamp,amount,category\n"
    "o1,alice,2026-03-01T10:00:00Z,19.99,audio\n"
    "o1,alice,2026-03-01T10:00:00Z,19.99,audio\n"  # two identical headphones in one order
    "o2,alice,2026-03-10,0.10,\n"
    "o3,alice,2026-03-10,0.20,\n"
    "o4,bob,2026-03-31T23:59:59Z,5.00,\n"
    "o5,bob,2026-04-02,100,\n"  # after the snapshot: ignored
)
NO_PURCHASES = {
    "recency_days": np.nan,
    "frequency": 0.0,
    "monetary": 0.0,
    "avg_order_value": 0.0,
    "tenure_days": np.nan,
    "has_purchases": 0.0,
}
ALICE_BUYS = {
    "recency_days": 22.0,  # last purchase day 2026-03-10 -> 2026-04-01
    "frequency": 2.0,  # 1 and 10 March
    "monetary": 40.28,  # 19.99 + 19.99 + 0.10 + 0.20: both headphones count
    "avg_order_value": 20.14,  # 40.28 / 2
    "tenure_days": 31.0,  # 2026-03-01 -> 2026-04-01
    "has_purchases": 1.0,
}
BOB_BUYS = {
    "recency_days": 1.0,  # 31 March -> 1 April
    "frequency": 1.0,
    "monetary": 5.0,
    "avg_order_value": 5.0,
    "tenure_days": 1.0,
    "has_purchases": 1.0,
}
NO_CONVERSATIONS = {
    "sessions": 0.0,
    "messages_per_session": 0.0,
    "session_duration_s": np.nan,
    "share_recommendations": 0.0,
    "share_deals": 0.0,
    "share_new_arrivals": 0.0,
    "share_specs": 0.0,
    "sentiment": np.nan,
    "share_night": 0.0,
    "share_morning": 0.0,
    "share_afternoon": 0.0,
    "share_evening": 0.0,
    "share_web": 0.0,
    "share_mobile": 0.0,
    "has_conversations": 0.0,
    "region": "unknown",
}
CHATS = [
    # alice: one session of two messages 100 s apart, 09:00 UTC (no timezone: UTC)
    ("alice", ts("2026-03-05T09:00:00Z"), 0, "ask_deals", "", "rest", "", "mobile", "DE"),
    ("alice", ts("2026-03-05T09:01:40Z"), 0, "greet", "", "rest", "", "mobile", "DE"),
    # carol: 21:00 in Berlin (UTC+1), then after the switch to summer time 07:00, 07:30 (UTC+2)
    (
        "carol",
        ts("2026-03-20T20:00:00Z"),
        0,
        "ask_specs",
        "",
        "socketio",
        "Europe/Berlin",
        "desktop",
        "FR",
    ),
    (
        "carol",
        ts("2026-03-30T05:00:00Z"),
        1,
        "ask_recommendation",
        "",
        "slack",
        "Europe/Berlin",
        "",
        "FR",
    ),
    (
        "carol",
        ts("2026-03-30T05:30:00Z"),
        1,
        "ask_recommendation",
        "",
        "slack",
        "Europe/Berlin",
        "",
        "FR",
    ),
]
ALICE_TALKS = {
    **NO_CONVERSATIONS,
    "sessions": 1.0,
    "messages_per_session": 2.0,
    "session_duration_s": 100.0,
    "share_deals": 0.5,
    "sentiment": 0.0,  # empty texts score 0
    "share_morning": 1.0,
    "share_web": 1.0,
    "share_mobile": 1.0,
    "has_conversations": 1.0,
    "region": "DE",
}
CAROL_TALKS = {
    **NO_CONVERSATIONS,
    "sessions": 2.0,
    "messages_per_session": 1.5,  # 3 messages / 2 sessions
    "session_duration_s": 900.0,  # (0 + 1800) / 2
    "share_recommendations": 2 / 3,
    "share_specs": 1 / 3,
    "sentiment": 0.0,
    "share_morning": 2 / 3,
    "share_evening": 1 / 3,
    "share_web": 1 / 3,  # socketio only
    "has_conversations": 1.0,
    "region": "FR",
}


def crm_file(tmp_path, text: str = CRM):
    path = tmp_path / "crm.csv"
    path.write_text(text)
    return path


def events_table(tmp_path):
    path = tmp_path / "events.csv"
    events(CHATS).to_csv(path, index=False)
    return read_events(str(path))


def assert_features(features: pd.DataFrame, expected: dict[str, dict]) -> None:
    """Every feature column of every user equals the hand computation (NaN where expected)."""
    rows = features.set_index("user_id")
    assert sorted(rows.index) == sorted(expected)
    assert list(features.columns) == ["user_id", *FEATURE_COLUMNS]
    for user, want in expected.items():
        assert set(want) == set(FEATURE_COLUMNS), user
        for column, value in want.items():
            got = rows.loc[user, column]
            if isinstance(value, str):
                assert got == value, (user, column, got)
            elif np.isnan(value):
                assert np.isnan(got), (user, column, got)
            else:
                assert got == pytest.approx(value, rel=1e-12, abs=0), (user, column, got)


def test_repeated_rows_are_purchases_and_both_sources_join(tmp_path):
    loaded = load_transactions(crm_file(tmp_path))
    assert loaded.duplicates_dropped == 0
    features, as_of = build_features(loaded.frame, events_table(tmp_path), SNAPSHOT)
    assert as_of == SNAPSHOT
    assert_features(
        features,
        {
            "alice": {**ALICE_BUYS, **ALICE_TALKS},
            "bob": {**BOB_BUYS, **NO_CONVERSATIONS},
            "carol": {**NO_PURCHASES, **CAROL_TALKS},
        },
    )
    money = features.set_index("user_id")["monetary"]
    assert money["alice"] == 40.28 and money["alice"] == 4028 / 100  # exact, not approximate


def test_with_an_order_column_a_repeated_row_of_one_order_is_dropped(tmp_path):
    loaded = load_transactions(crm_file(tmp_path), order_col="order_id")
    assert loaded.duplicates_dropped == 1
    features, _ = build_features(loaded.frame, None, SNAPSHOT)
    alice = {
        **ALICE_BUYS,
        "monetary": 20.29,  # 19.99 + 0.10 + 0.20: o1's repeated row dropped
        "avg_order_value": 10.145,  # 20.29 / 2
    }
    assert_features(
        features, {"alice": {**alice, **NO_CONVERSATIONS}, "bob": {**BOB_BUYS, **NO_CONVERSATIONS}}
    )


def test_transactions_only(tmp_path):
    loaded = load_transactions(crm_file(tmp_path))
    features, _ = build_features(loaded.frame, None, SNAPSHOT)
    assert_features(
        features,
        {"alice": {**ALICE_BUYS, **NO_CONVERSATIONS}, "bob": {**BOB_BUYS, **NO_CONVERSATIONS}},
    )
    assert build_features(loaded.frame, None)[1] == dt.date(2026, 4, 3)  # after bob's last


def test_conversations_only(tmp_path):
    features, as_of = build_features(None, events_table(tmp_path))
    assert as_of == dt.date(2026, 3, 31)  # the day after carol's last message
    assert_features(
        features,
        {"alice": {**NO_PURCHASES, **ALICE_TALKS}, "carol": {**NO_PURCHASES, **CAROL_TALKS}},
    )


def test_no_source_at_all_is_an_input_error():
    with pytest.raises(InputError, match="no source: give transactions, conversations"):
        build_features(None, None)
