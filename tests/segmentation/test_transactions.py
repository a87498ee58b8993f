"""Transactions loading: renamed columns, one-line errors with file, row and column, duplicates."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation.errors import InputError
from segmentation.transactions import LoadedTransactions, load_transactions

HEADER = "user_id,timestamp,amount,category\n"


def write(tmp_path, text: str, name: str = "tx.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_renamed_columns_are_read_through_the_col_arguments(tmp_path):
    path = write(
        tmp_path,
        (
            "order,customer,ts,amt,cat\n"
            "o1,u1,2026-01-05T10:00:00Z,19.99,headphones\n"
            "o2, u2 ,2026-01-06,1200,laptops\n"
            "o3,u1,2026-02-01T08:30:00+02:00,0,\n"
        ),
    )
    loaded = load_transactions(
        path, user_col="customer", time_col="ts", amount_col="amt", category_col="cat"
    )
    assert isinstance(loaded, LoadedTransactions)
    assert loaded.path == str(path)
    assert loaded.duplicates_dropped == 0
    frame = loaded.frame
    assert list(frame.columns) == ["user_id", "timestamp", "amount", "category"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["amount"].dtype == "float64"
    assert frame["user_id"].tolist() == ["u1", "u2", "u1"]
    assert frame["timestamp"].tolist() == [
        utc("2026-01-05 10:00"),
        utc("2026-01-06"),
        utc("2026-02-01 06:30"),
    ]
    assert frame["amount"].tolist() == [19.99, 1200.0, 0.0]
    assert frame["category"].tolist() == ["headphones", "laptops", ""]


def test_category_is_optional(tmp_path):
    path = write(tmp_path, "user_id,timestamp,amount\nu1,2026-01-05,5\n")
    assert load_transactions(path).frame["category"].tolist() == [""]
    path = write(tmp_path, HEADER + "u1,2026-01-05,5,phones\n", "with.csv")
    assert load_transactions(path, category_col=None).frame["category"].tolist() == [""]
    assert load_transactions(path).frame["category"].tolist() == ["phones"]


def test_naive_zoned_and_date_only_timestamps(tmp_path):
    path = write(
        tmp_path,
        HEADER
        + (
            "u1,2026-03-01 12:30:00,1,\n"
            "u1,2026-03-01T12:30,1,\n"
            "u1,2026-03-01T12:30:00-05:00,1,\n"
            "u1,2026-03-01T12:30:00.250Z,1,\n"
            "u1,2026-03-01,1,\n"
        ),
    )
    stamps = load_transactions(path).frame["timestamp"].tolist()
    assert stamps == [
        utc("2026-03-01 12:30"),  # naive means UTC
        utc("2026-03-01 12:30"),
        utc("2026-03-01 17:30"),
        utc("2026-03-01 12:30:00.250"),
        utc("2026-03-01 00:00"),
    ]


def test_exact_duplicate_rows_are_dropped_and_counted(tmp_path):
    path = write(
        tmp_path,
        "order,user_id,timestamp,amount\n"
        + (
            "o1,u1,2026-01-05,10\n"
            "o1,u1,2026-01-05,10\n"
            "o2,u1,2026-01-05,10\n"  # same purchase data, another order: kept
            "o1,u1,2026-01-05,10\n"
            "o3,u2,2026-01-06,7.5\n"
        ),
    )
    loaded = load_transactions(path)
    assert loaded.duplicates_dropped == 2
    assert loaded.frame["user_id"].tolist() == ["u1", "u1", "u2"]
    assert loaded.frame.index.tolist() == [0, 1, 2]


def test_blank_lines_are_skipped_but_counted_in_row_numbers(tmp_path):
    path = write(tmp_path, HEADER + "u1,2026-01-05,1,\n\nu2,2026-01-06,1,\n\nu3,soon,1,\n")
    with pytest.raises(InputError, match=r"tx.csv, row 5, column 'timestamp'"):
        load_transactions(path)
    path = write(tmp_path, HEADER + "\nu1,2026-01-05,1,\n\n", "ok.csv")
    assert load_transactions(path).frame["user_id"].tolist() == ["u1"]


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nothere.csv: file not found"):
        load_transactions(tmp_path / "nothere.csv")


@pytest.mark.parametrize("text", ["", "\n\n", HEADER, HEADER + "\n\n"])
def test_empty_file_or_header_only_has_no_transactions(tmp_path, text):
    with pytest.raises(InputError, match=r"tx.csv: no transactions"):
        load_transactions(write(tmp_path, text))


def test_missing_column_lists_columns_and_suggests_the_closest(tmp_path):
    path = write(tmp_path, "user,ts,amt\nu1,2026-01-05,3\n")
    with pytest.raises(InputError) as caught:
        load_transactions(path, user_col="user", time_col="ts")
    assert str(caught.value) == (
        f"{path}: column 'amount' not found (columns: user, ts, amt); "
        "did you mean 'amt'? pass --amount-col"
    )
    with pytest.raises(
        InputError, match=r"column 'user_id' not found .*did you mean 'user'\? " r"pass --user-col"
    ):
        load_transactions(path, time_col="ts", amount_col="amt")
    with pytest.raises(
        InputError,
        match=r"column 'when' not found \(columns: user, ts, amt\); " r"pass --time-col$",
    ):
        load_transactions(path, user_col="user", time_col="when", amount_col="amt")


BAD_ROWS = [
    ("u1,2026-01-05,1,x\nu2,2026-01-06,1,x,y\n", 2, None, "line has 5 fields, the header has 4"),
    ("u1,2026-01-05,1,x\nu2,2026-01-06\n", 2, None, "line has 2 fields, the header has 4"),
    ("u1,2026-01-05,1,x\nu2,next tuesday,1,x\n", 2, "timestamp", "cannot read timestamp"),
    ("u1,05/01/2026,1,x\n", 1, "timestamp", "cannot read timestamp '05/01/2026'"),
    ("u1,2026-02-30,1,x\n", 1, "timestamp", "cannot read timestamp"),
    ("u1,,1,x\n", 1, "timestamp", "cannot read timestamp"),
    ("u1,2026-01-05,1,x\nu1,2026-01-05,12.5 EUR,x\n", 2, "amount", "'12.5 EUR' is not a number"),
    ('u1,2026-01-05,"1,5",x\n', 1, "amount", "'1,5' is not a number"),
    ("u1,2026-01-05,NaN,x\n", 1, "amount", "'NaN' is not a number"),
    ("u1,2026-01-05,inf,x\n", 1, "amount", "'inf' is not a number"),
    ("u1,2026-01-05,,x\n", 1, "amount", "empty amount"),
    (
        "u1,2026-01-05,1,x\nu1,2026-01-06,-4.99,x\n",
        2,
        "amount",
        "negative amounts (refunds) are not supported; remove or net them first",
    ),
    ("u1,2026-01-05,1,x\n  ,2026-01-06,1,x\n", 2, "user_id", "empty user id"),
]


@pytest.mark.parametrize(("body", "row", "column", "message"), BAD_ROWS)
def test_bad_rows_name_file_row_and_column(tmp_path, body, row, column, message):
    path = write(tmp_path, HEADER + body, "crm_export.csv")
    with pytest.raises(InputError) as caught:
        load_transactions(path)
    text = str(caught.value)
    where = f"{path}, row {row}" + (f", column '{column}'" if column else "")
    assert text.startswith(where + ": "), text
    assert message in text
    assert "\n" not in text
    assert (caught.value.row, caught.value.column) == (row, column)


def test_wrong_field_count_shows_the_line(tmp_path):
    path = write(tmp_path, HEADER + "u1,2026-01-05,1,x,oops\n")
    with pytest.raises(InputError, match=r"row 1: .*'u1,2026-01-05,1,x,oops'; check quoting"):
        load_transactions(path)


def test_renamed_column_is_named_in_row_errors(tmp_path):
    path = write(tmp_path, "customer,ts,amt\nu1,2026-01-05,-1\n")
    with pytest.raises(InputError, match=r"row 1, column 'amt': negative amounts"):
        load_transactions(path, user_col="customer", time_col="ts", amount_col="amt")


def test_not_utf8_is_an_input_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "Jürgen,2026-01-05,1,x\n").encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1.csv: not UTF-8"):
        load_transactions(path)


def test_repeated_header_name_is_an_input_error(tmp_path):
    path = write(tmp_path, "user_id,timestamp,amount,amount\nu1,2026-01-05,1,2\n")
    with pytest.raises(InputError, match="names column 'amount' twice"):
        load_transactions(path)
