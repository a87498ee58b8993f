"""The catalogue file is validated with errors that name the file and the product."""

from __future__ import annotations

import datetime as dt

import pytest

from core.categories import CATEGORIES
from core.products import ProductCatalogueError, load_products


def test_shipped_catalogue_covers_every_category():
    catalogue = load_products()
    assert len(catalogue.products) >= 40
    for category in CATEGORIES:
        assert len(catalogue.in_category(category)) >= 5
        assert catalogue.new_arrivals(category), f"no new arrivals in {category}"
    assert catalogue.deals(), "no deals at all"


@pytest.mark.parametrize("query", ["Nova X12", "nova x12", "NOVA-X12", "novax12", "nova-x12"])
def test_find_is_forgiving_about_case_and_spacing(query):
    assert load_products().find(query).id == "nova-x12"


def test_find_unknown_or_empty_is_none():
    catalogue = load_products()
    assert catalogue.find("zork 9000") is None
    assert catalogue.find("") is None and catalogue.find(None) is None


def test_deal_price():
    product = next(p for p in load_products().products if p.discount_pct == 15)
    assert product.deal_price == round(product.price * 0.85, 2)


GOOD = """products:
  - id: a
    name: A
    category: laptops
    price: 100
    release_date: 2026-01-01
"""


@pytest.mark.parametrize(
    "text, message",
    [
        ("products: [", "invalid YAML"),
        ("items: []", "expected a top-level 'products:' list"),
        (GOOD.replace("    name: A\n", ""), "product #1 (a) lacks field 'name'"),
        (GOOD.replace("laptops", "toasters"), "category 'toasters'"),
        (GOOD.replace("price: 100", "price: cheap"), "product #1 (a) has a bad value"),
        (GOOD.replace("price: 100", "price: -5"), "price must be > 0"),
        (GOOD.replace("2026-01-01", "soon"), "has a bad value"),
        (GOOD + GOOD.replace("products:\n", ""), "duplicate product ids a"),
    ],
)
def test_bad_catalogue_files_get_one_line_errors(tmp_path, text, message):
    path = tmp_path / "products.yml"
    path.write_text(text)
    with pytest.raises(ProductCatalogueError) as err:
        load_products(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value).strip()


def test_missing_file(tmp_path):
    with pytest.raises(ProductCatalogueError, match="cannot read catalogue"):
        load_products(tmp_path / "nope.yml")


def test_good_minimal_file(tmp_path):
    path = tmp_path / "products.yml"
    path.write_text(GOOD)
    product = load_products(path).products[0]
    assert product.release_date == dt.date(2026, 1, 1) and product.discount_pct == 0


def test_typed_names_with_typos_match_the_catalogue_above_the_threshold():
    catalogue = load_products()
    assert catalogue.match("kestral s3").name == "Kestrel S3"
    assert catalogue.match("Nova X21").name == "Nova X12"
    assert catalogue.match("nova") is None  # too short to mean one product
    assert catalogue.match("fridge") is None
    assert catalogue.match("") is None


def test_products_named_in_a_message_in_order_longest_name_first():
    catalogue = load_products()
    names = lambda text: [p.name for p in catalogue.mentioned(text)]  # noqa: E731
    assert names("compare the nova x21 and kestral s3") == ["Nova X12", "Kestrel S3"]
    assert names("meridian pad pro vs meridian pad") == ["Meridian Pad Pro", "Meridian Pad"]
    assert names("is the Corvo Book 14, or the Calma Note 15 better?") == [
        "Corvo Book 14",
        "Calma Note 15",
    ]
    assert names("what's the weather like") == []
    assert names("") == []


def test_stock_states_and_subsets():
    catalogue = load_products()
    assert catalogue.find("Veyra Fold").stock_state == "out"
    assert catalogue.find("Kestrel S3").stock_state == "low"
    assert catalogue.find("Nova X12").stock_state == "in_stock"
    phones = catalogue.in_category("smartphones")[:2]
    subset = catalogue.subset(phones)
    assert list(subset.products) == phones and subset.new_since == catalogue.new_since
    assert catalogue.subset(phones) is subset  # reused, so cached listings are too
