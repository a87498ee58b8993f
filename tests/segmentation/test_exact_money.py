"""Money is summed exactly: a million transactions, totals to the cent against integer and
Decimal arithmetic done here in plain Python."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import numpy as np

from segmentation.features import build_features
from segmentation.transactions import load_transactions

ROWS = 1_000_000
USERS = 20_000


def test_a_million_amounts_sum_to_the_exact_cent(tmp_path):
    rng = np.random.default_rng(7)
    users = rng.integers(0, USERS, ROWS).tolist()
    days = rng.integers(1, 29, ROWS).tolist()
    cents = rng.integers(0, 1_000_000, ROWS).tolist()  # up to 9,999.99
    amounts = [f"{c // 100}.{c % 100:02d}" for c in cents]
    path = tmp_path / "million.csv"
    with path.open("w") as handle:
        handle.write("user_id,timestamp,amount\n")
        handle.writelines(
            f"u{u},2026-02-{d:02d},{a}\n" for u, d, a in zip(users, days, amounts, strict=True)
        )

    exact: dict[str, int] = defaultdict(int)  # cents per user, Python integers
    purchase_days: dict[str, set[int]] = defaultdict(set)
    naive: dict[str, float] = defaultdict(float)  # what float arithmetic gives
    for u, d, a in zip(users, days, amounts, strict=True):
        exact[f"u{u}"] += int(a.replace(".", ""))
        purchase_days[f"u{u}"].add(d)
        naive[f"u{u}"] += float(a)
    total = sum(Decimal(a) for a in amounts)

    loaded = load_transactions(path)
    assert len(loaded.frame) == ROWS and loaded.duplicates_dropped == 0
    assert int(loaded.frame["amount_cents"].sum()) == total * 100 == sum(exact.values())
    features, _ = build_features(loaded.frame, None, dt.date(2026, 3, 1))
    features = features.set_index("user_id")
    assert len(features) == len(exact)
    want = np.array([exact[u] for u in features.index], dtype=np.int64)
    freq = np.array([len(purchase_days[u]) for u in features.index], dtype=float)
    # monetary is the float nearest to the exact total: exact cents / 100, correctly rounded.
    assert (features["monetary"].to_numpy() == want / 100).all()
    assert (features["avg_order_value"].to_numpy() == want / (100 * freq)).all()
    assert (features["frequency"].to_numpy() == freq).all()
    assert sum(np.round(features["monetary"].to_numpy() * 100).astype(np.int64)) == total * 100
    # The check above can fail: summing floats drifts for some users.
    assert any(naive[u] != exact[u] / 100 for u in features.index)
