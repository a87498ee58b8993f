"""`segment features` and `segment retrain` with transactions, conversations or both, the
order column, and their bad input through the real command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from segmentation.cli import main
from segmentation.features import EVENT_COLUMNS

CRM = (
    "order_id,user_id,timestamp,amount\n"
    "o1,a,2026-03-01,19.99\n"
    "o1,a,2026-03-01,19.99\n"
    "o2,a,2026-03-02,19.99\n"
    "o2,a,2026-03-02,19.99\n"
    "o3,b,2026-03-03,5\n"
)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def sources(tmp_path) -> tuple[Path, Path]:
    tx = tmp_path / "crm.csv"
    tx.write_text(CRM)
    ev = tmp_path / "events.csv"
    pd.DataFrame(
        [[u, 1.77e9, 0, "greet", "hi", "rest", "", "", ""] for u in ("a", "c")],
        columns=EVENT_COLUMNS,
    ).to_csv(ev, index=False)
    return tx, ev


def features(capsys, tmp_path, *argv) -> tuple[int, str, pd.DataFrame | None]:
    out = tmp_path / "f.csv"
    code, _, err = run(capsys, "features", *argv, "--as-of", "2026-04-01", "-o", out)
    return code, err, pd.read_csv(out) if out.exists() else None


def test_transactions_only_every_row_a_purchase(capsys, tmp_path, sources):
    code, err, table = features(capsys, tmp_path, "--transactions", sources[0])
    assert code == 0 and "warning" not in err
    assert sorted(table["monetary"]) == [5.0, 79.96]  # all four rows of user a count
    assert table["has_purchases"].tolist() == [1, 1]
    assert table["has_conversations"].tolist() == [0, 0]
    assert (table["sessions"] == 0).all() and (table["region"] == "unknown").all()


def test_order_column_drops_repeated_rows_of_an_order_with_a_warning(capsys, tmp_path, sources):
    code, err, table = features(
        capsys, tmp_path, "--transactions", sources[0], "--order-col", "order_id"
    )
    assert code == 0
    assert f"warning: {sources[0]}: dropped 2 row(s) that repeat an earlier row of the same " in err
    assert sorted(table["monetary"]) == [5.0, 39.98]


def test_events_only(capsys, tmp_path, sources):
    code, err, table = features(capsys, tmp_path, "--events", sources[1])
    assert code == 0, err
    assert table["has_purchases"].tolist() == [0, 0]
    assert table["has_conversations"].tolist() == [1, 1]
    assert (table["monetary"] == 0).all() and table["recency_days"].isna().all()


def test_both_sources(capsys, tmp_path, sources):
    code, _, table = features(
        capsys, tmp_path, "--transactions", sources[0], "--events", sources[1]
    )
    assert code == 0 and len(table) == 3  # a bought and chatted, b bought, c chatted
    assert sorted(zip(table["has_purchases"], table["has_conversations"], strict=True)) == [
        (0, 1),
        (1, 0),
        (1, 1),
    ]


@pytest.mark.parametrize("command", [["features", "-o", "f.csv"], ["retrain", "--no-publish"]])
def test_no_source_is_a_usage_error(capsys, command):
    with pytest.raises(SystemExit) as caught:
        main(command)
    assert caught.value.code == 2
    assert "error: give --" in capsys.readouterr().err


BAD = [
    (
        CRM,
        ["--order-col", "order"],
        "column 'order' not found (columns: order_id, user_id, timestamp, amount); "
        "did you mean 'order_id'? pass --order-col",
    ),
    (
        "order_id\no1\no2\n",
        ["--order-col", "order_id"],
        "columns 'user_id', 'timestamp', 'amount' not found (columns: order_id); "
        "pass --user-col, --time-col, --amount-col",
    ),
    (
        "order_id,user_id,timestamp\no1,a,2026-03-01\n",
        ["--order-col", "order_id"],
        "column 'amount' not found (columns: order_id, user_id, timestamp); pass --amount-col",
    ),
    (
        "user_id,timestamp,amount\na,2026-03-01,0.001\n",
        [],
        "row 1, column 'amount': amount '0.001' has more than 2 decimal places",
    ),
]


@pytest.mark.parametrize(("csv", "argv", "message"), BAD)
def test_bad_transactions_one_line_exit_1_nothing_written(capsys, tmp_path, csv, argv, message):
    tx = tmp_path / "crm.csv"
    tx.write_text(csv)
    code, err, table = features(capsys, tmp_path, "--transactions", tx, *argv)
    assert code == 1 and table is None
    assert err.startswith(f"Error: {tx}") and message in err
    assert err.count("\n") == 1


def test_retrain_with_transactions_only(capsys, tmp_path):
    assert main(["demo-data", "--users", "200", "-o", str(tmp_path / "demo")]) == 0
    code, _, err = run(
        capsys,
        "retrain",
        "--transactions",
        tmp_path / "demo" / "transactions.csv",
        "--workdir",
        tmp_path / "work",
        "--k-max",
        "3",
        "--algorithms",
        "kmeans",
        "--no-publish",
        "--report-sample",
        "50",
    )
    assert code == 0, err
    table = pd.read_parquet(tmp_path / "work" / "latest" / "features.parquet")
    assert (table["has_purchases"] == 1).all() and (table["has_conversations"] == 0).all()
    assert (tmp_path / "work" / "latest" / "model" / "model.json").exists()
    assert not list((tmp_path / "work" / "latest").glob("events.*"))  # nothing exported
