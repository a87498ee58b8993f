"""Transactions loading: renamed columns, one-line errors with file, row and column, exact
cents, and repeated rows (kept without an order id, dropped as repeated order rows with one)."""

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
    assert list(frame.columns) == ["user_id", "timestamp", "amount_cents", "amount", "category"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["amount_cents"].dtype == "int64"
    assert frame["amount_cents"].tolist() == [1999, 120000, 0]
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


def test_identical_rows_without_an_order_id_are_all_purchases(tmp_path):
    # Two identical headphones bought the same day, twice: four real purchases.
    body = "u1,2026-01-05,10,audio\n" * 4 + "u2,2026-01-06,7.5,\n"
    loaded = load_transactions(write(tmp_path, HEADER + body))
    assert loaded.duplicates_dropped == 0 and loaded.warning() is None
    assert loaded.frame["user_id"].tolist() == ["u1"] * 4 + ["u2"]
    assert loaded.frame["amount_cents"].tolist() == [1000] * 4 + [750]


ORDERS = (
    "order_id,user_id,timestamp,amount,category,sku\n"
    "o1,u1,2026-01-05,10,audio,A\n"
    "o1,u1,2026-01-05,10,audio,B\n"  # another line item of o1 (differs in sku): kept
    "o1,u1,2026-01-05,10.00,audio,A\n"  # o1's first row delivered again (10.00 == 10)
    "o2,u1,2026-01-05,10,audio,A\n"  # same item data, another order: kept
    "o1, u1 ,2026-01-05T00:00:00Z,10,audio,A\n"  # o1's first row again, as written otherwise
    "o1,u1,2026-01-05,10,phones,A\n"  # differs in category: kept
    "o3,u2,2026-01-06,7.5,,C\n"
    "o3,u2,2026-01-06,7.5,,C\n"  # o3 again
)


def test_with_an_order_column_repeated_rows_of_an_order_are_dropped_and_counted(tmp_path):
    path = write(tmp_path, ORDERS)
    loaded = load_transactions(path, order_col="order_id")
    assert loaded.duplicates_dropped == 3
    assert loaded.frame["amount_cents"].tolist() == [1000, 1000, 1000, 1000, 750]
    assert loaded.frame["category"].tolist() == ["audio", "audio", "audio", "phones", ""]
    assert loaded.frame.index.tolist() == [0, 1, 2, 3, 4]
    assert loaded.warning() == (
        f"warning: {path}: dropped 3 row(s) that repeat an earlier row of the same order "
        "(column 'order_id') in every column: duplicate deliveries of the export"
    )
    assert load_transactions(path).duplicates_dropped == 0  # no order column: all 8 kept
    assert len(load_transactions(path).frame) == 8


def test_order_column_missing_from_the_file_suggests_the_closest(tmp_path):
    path = write(tmp_path, ORDERS)
    with pytest.raises(InputError) as caught:
        load_transactions(path, order_col="order")
    assert str(caught.value) == (
        f"{path}: column 'order' not found (columns: order_id, user_id, timestamp, amount, "
        "category, sku); did you mean 'order_id'? pass --order-col"
    )


def test_empty_order_id_is_refused(tmp_path):
    path = write(
        tmp_path, "order_id,user_id,timestamp,amount\no1,u1,2026-01-05,1\n ,u1,2026-01-05,1\n"
    )
    with pytest.raises(InputError, match=r"row 2, column 'order_id': empty order id; fill it in"):
        load_transactions(path, order_col="order_id")


def test_only_an_order_id_and_no_amount_is_refused(tmp_path):
    path = write(tmp_path, "order_id,user_id,timestamp\no1,u1,2026-01-05\n")
    with pytest.raises(InputError) as caught:
        load_transactions(path, order_col="order_id")
    assert str(caught.value) == (
        f"{path}: column 'amount' not found (columns: order_id, user_id, timestamp); "
        "pass --amount-col"
    )


def test_amounts_are_read_exactly_as_cents(tmp_path):
    amounts = ["19.99", "0.1", "0.2", "+3.5", ".5", "7.", "19.990", "0012.30", " 4 ", "0"]
    body = "".join(f"u1,2026-01-05,{a},\n" for a in amounts)
    frame = load_transactions(write(tmp_path, HEADER + body)).frame
    assert frame["amount_cents"].tolist() == [1999, 10, 20, 350, 50, 700, 1999, 1230, 400, 0]
    assert frame["amount"].tolist() == [19.99, 0.1, 0.2, 3.5, 0.5, 7.0, 19.99, 12.3, 4.0, 0.0]


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
    ("u1,2026-01-05,1e3,x\n", 1, "amount", "'1e3' is not a number"),
    ("u1,2026-01-05,.,x\n", 1, "amount", "'.' is not a number"),
    ("u1,2026-01-05,1,x\nu1,2026-01-05,$5,x\n", 2, "amount", "'$5' is not a number"),
    (
        "u1,2026-01-05,1,x\nu1,2026-01-05,19.999,x\n",
        2,
        "amount",
        "amount '19.999' has more than 2 decimal places (a fraction of a cent); round amounts",
    ),
    ("u1,2026-01-05,12345678901234,x\n", 1, "amount", "too large (at most 13 digits"),
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
