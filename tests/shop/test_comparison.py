"""Side by side, with the segment's attributes first."""

from __future__ import annotations

from core.products import load_products
from core.traits import PRESETS, UNPLACED
from responses.rich import comparison_payload
from shop.comparison import MAX_PRODUCTS, compare, plain_rows, row_order

CATALOGUE = load_products()
PHONES = [CATALOGUE.find("Nova X12"), CATALOGUE.find("Kestrel S3")]


def test_the_segment_decides_which_attributes_come_first():
    assert row_order(PRESETS["bargain_hunter"])[0] == "price"
    assert row_order(PRESETS["tech_enthusiast"])[0] == "specs"
    assert row_order(PRESETS["casual_browser"])[0] == "ease"
    assert row_order(PRESETS["frequent_buyer"])[0] == "rating"
    assert row_order(UNPLACED)[0] == "price"  # nobody placed: the plain order
    labels = [label for label, _ in compare(PHONES, PRESETS["tech_enthusiast"]).rows]
    assert labels[:2] == ["Display", "Chip"]


def test_every_row_has_one_value_per_product_and_the_same_facts_for_everyone():
    a = compare(PHONES, PRESETS["bargain_hunter"])
    b = compare(PHONES, PRESETS["tech_enthusiast"])
    assert all(len(values) == 2 for _, values in a.rows)
    assert sorted(a.rows) == sorted(b.rows)  # arranged differently, same facts
    assert dict(a.rows)["Price"] == ("€899", "€404.10 (10% off €449)")
    assert dict(a.rows)["Availability"] == ("In stock", "Only 2 left")


def test_more_than_four_products_keeps_the_first_four_and_says_how_many_were_dropped():
    many = list(CATALOGUE.in_category("laptops"))
    table = compare(many, UNPLACED)
    assert len(table.products) == MAX_PRODUCTS
    assert table.dropped == len(many) - MAX_PRODUCTS
    assert table.title.count(" vs ") == MAX_PRODUCTS - 1


def test_products_of_different_categories_show_a_dash_for_missing_specs():
    mixed = compare([CATALOGUE.find("Nova X12"), CATALOGUE.find("Hushwave H9")], UNPLACED)
    assert any("—" in values for _, values in mixed.rows)


def test_plain_lines_and_the_payload_carry_the_same_rows():
    table = compare(PHONES, PRESETS["bargain_hunter"])
    lines = plain_rows(table).split("\n")
    assert lines[0] == "• Price: Nova X12 €899; Kestrel S3 €404.10 (10% off €449)"
    payload = comparison_payload(table.title, [p.name for p in table.products], table.rows)
    assert payload["type"] == "comparison" and payload["voltmart"] == 1
    assert [r["label"] for r in payload["rows"]] == [label for label, _ in table.rows]
