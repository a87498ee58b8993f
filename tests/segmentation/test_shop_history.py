"""The generated shop history: deterministic, in the formats `segment export` and
`segment features` read, with demo users whose facts come from their own orders."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from core.demo import DEMO_PERSONAS, DEMO_USER_IDS
from core.products import load_products
from segmentation.export import export_jsonl
from segmentation.features import build_features
from segmentation.shop_history import (
    DEMO_SCRIPTS,
    END,
    MIN_SHOPPERS,
    demo_facts,
    fingerprint,
    generate,
    write_history,
)
from segmentation.transactions import load_transactions

SHOPPERS = 120


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    return write_history(tmp_path_factory.mktemp("history"), SHOPPERS, seed=7)


def test_the_same_seed_and_size_give_the_same_bytes(history, tmp_path):
    again = write_history(tmp_path / "again", SHOPPERS, seed=7)
    assert digest(again.events) == digest(history.events)
    assert digest(again.transactions) == digest(history.transactions)
    other = write_history(tmp_path / "other", SHOPPERS, seed=8)
    assert digest(other.events) != digest(history.events)
    assert fingerprint(SHOPPERS, 7) != fingerprint(SHOPPERS, 8) != fingerprint(SHOPPERS + 1, 8)


def test_demo_users_do_not_depend_on_the_crowd():
    small, large = generate(MIN_SHOPPERS, seed=1), generate(MIN_SHOPPERS * 2, seed=2)
    assert [s.user_id for s in small[:5]] == list(DEMO_USER_IDS)
    assert small[:5] == large[:5]
    assert small[5:] != large[5 : len(small)]  # the crowd follows the seed


def test_events_are_event_broker_messages_that_segment_export_reads(history):
    lines = [json.loads(line) for line in history.events.read_text().splitlines()]
    kinds = Counter(message["event"] for message in lines)
    assert set(kinds) == {"session_started", "user", "bot"} and kinds["user"] == kinds["bot"]
    user = next(m for m in lines if m["event"] == "user" and m["parse_data"]["entities"])
    assert set(user["metadata"]) >= {"timezone", "region", "device"}
    entity = user["parse_data"]["entities"][0]
    assert user["text"][entity["start"] : entity["end"]]  # the span names a word of the text
    frame = export_jsonl(history.events)
    assert len(frame) == kinds["user"] and frame["user_id"].nunique() == SHOPPERS
    assert set(frame["timezone"]) <= {"Europe/Berlin", "Europe/Paris", "Europe/Amsterdam",
                                      "Europe/Madrid", "Europe/Rome"}  # fmt: skip
    assert (frame["timestamp"] < END.timestamp()).all()


def test_transactions_are_crm_rows_that_features_join_with_the_events(history):
    first = history.transactions.read_text().splitlines()[1].split(",")
    assert first[1][-6:] in ("+01:00", "+02:00")  # ISO 8601 with the shopper's zone
    loaded = load_transactions(history.transactions)
    catalogue = {p.category: p for p in load_products().products}
    assert loaded.duplicates_dropped == 0 and set(loaded.frame["category"]) <= set(catalogue)
    features, as_of = build_features(loaded.frame, export_jsonl(history.events))
    assert len(features) == SHOPPERS and str(as_of) <= "2026-12-02"
    by_user = features.set_index("user_id")
    assert by_user.loc["user_newcomer", "has_purchases"] == 0
    assert by_user.loc["user_frequent", "frequency"] == 12
    assert by_user.loc["user_enthusiast", "share_specs"] > 0.5
    assert by_user.loc["user_bargain", "share_deals"] > 0.5


def test_demo_facts_are_their_own_crm_history(history):
    frame = load_transactions(history.transactions).frame
    for user in DEMO_USER_IDS:
        facts, rows = demo_facts(user), frame[frame["user_id"] == user]
        assert "segment" not in facts
        assert int(facts["order_count"]) == len(rows)
        assert float(facts["order_total"]) == pytest.approx(rows["amount"].sum())
        if len(rows):
            last = rows.loc[rows["timestamp"].idxmax()]
            assert int(facts["last_order_at"]) == int(last["timestamp"].timestamp())
            assert facts["last_order_category"] == last["category"]
    assert demo_facts("user_bargain")["favourite_category"] == "headphones"
    assert demo_facts("user_enthusiast")["favourite_category"] == "laptops"
    assert demo_facts("user_newcomer") == {"order_count": "0", "order_total": "0.00"}


def test_demo_scripts_buy_products_that_were_out_at_the_time():
    assert list(DEMO_SCRIPTS) == list(DEMO_USER_IDS) == list(DEMO_PERSONAS)
    catalogue = load_products()
    for user in DEMO_USER_IDS:
        for order in generate(MIN_SHOPPERS, catalogue=catalogue)[DEMO_USER_IDS.index(user)].orders:
            assert order.product.release_date <= order.at.date(), (user, order.product.id)


def test_a_history_too_small_to_segment_is_refused():
    with pytest.raises(ValueError, match=f"at least {MIN_SHOPPERS} shoppers, not 10"):
        generate(10)
