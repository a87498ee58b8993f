"""The product catalogue (core/data/products.yml): loaded once, validated, queried by plain
functions. The response catalogue, which words answers, is responses/catalogue.py."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.categories import CATEGORIES

DEFAULT_PATH = Path(__file__).parent / "data" / "products.yml"
# A product counts as a new arrival within this many days of the catalogue's newest release,
# so "new" stays meaningful without depending on today's date.
NEW_ARRIVAL_WINDOW_DAYS = 120


class ProductCatalogueError(ValueError):
    """The product catalogue file is unusable; the message names the file and the product."""


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str
    price: float
    discount_pct: int
    release_date: dt.date
    rating: float
    ease_score: int = 3  # 1..5: how easy for a non-technical first-time user
    specs: Mapping[str, str] = field(default_factory=dict)
    ease_of_use: str = ""
    highlight: str = ""

    @property
    def on_deal(self) -> bool:
        return self.discount_pct > 0

    @property
    def deal_price(self) -> float:
        return round(self.price * (100 - self.discount_pct) / 100, 2)


def _normalise_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class ProductCatalogue:
    def __init__(self, products: Iterable[Product]) -> None:
        self.products: tuple[Product, ...] = tuple(products)
        self._by_name = {_normalise_name(p.name): p for p in self.products}
        self._by_name.update({_normalise_name(p.id): p for p in self.products})
        newest = max((p.release_date for p in self.products), default=dt.date.min)
        self.new_since = newest - dt.timedelta(days=NEW_ARRIVAL_WINDOW_DAYS)

    def in_category(self, category: str | None) -> list[Product]:
        return [p for p in self.products if category is None or p.category == category]

    def find(self, name: str | None) -> Product | None:
        """Case-, space- and punctuation-insensitive product lookup."""
        if not name:
            return None
        return self._by_name.get(_normalise_name(name))

    def is_new(self, product: Product) -> bool:
        return product.release_date >= self.new_since

    def new_arrivals(self, category: str | None = None) -> list[Product]:
        found = [p for p in self.in_category(category) if self.is_new(p)]
        return sorted(found, key=lambda p: p.release_date, reverse=True)

    def deals(self, category: str | None = None) -> list[Product]:
        found = [p for p in self.in_category(category) if p.on_deal]
        return sorted(found, key=lambda p: (-p.discount_pct, p.deal_price))


def _product(raw: object, index: int, source: str) -> Product:
    where = f"{source}: product #{index + 1}"
    if not isinstance(raw, dict):
        raise ProductCatalogueError(f"{where} is not a mapping")
    where += f" ({raw.get('id', '?')!s})"
    try:
        product = Product(
            id=str(raw["id"]),
            name=str(raw["name"]),
            category=str(raw["category"]),
            price=float(raw["price"]),
            discount_pct=int(raw.get("discount_pct", 0)),
            release_date=dt.date.fromisoformat(str(raw["release_date"])),
            rating=float(raw.get("rating", 0)),
            ease_score=int(raw.get("ease_score", 3)),
            specs={str(k): str(v) for k, v in (raw.get("specs") or {}).items()},
            ease_of_use=str(raw.get("ease_of_use", "")),
            highlight=str(raw.get("highlight", "")),
        )
    except KeyError as exc:
        raise ProductCatalogueError(f"{where} lacks field {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ProductCatalogueError(f"{where} has a bad value: {exc}") from None
    if product.category not in CATEGORIES:
        raise ProductCatalogueError(
            f"{where}: category {product.category!r} not in {', '.join(CATEGORIES)}"
        )
    if product.price <= 0 or not 0 <= product.discount_pct < 100:
        raise ProductCatalogueError(f"{where}: price must be > 0 and discount_pct within 0..99")
    if not 1 <= product.ease_score <= 5:
        raise ProductCatalogueError(f"{where}: ease_score must be within 1..5")
    return product


def load_products(path: Path | str = DEFAULT_PATH) -> ProductCatalogue:
    source = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise ProductCatalogueError(f"{source}: cannot read catalogue ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise ProductCatalogueError(f"{source}: invalid YAML{where} ({problem})") from None
    if not isinstance(data, dict) or not isinstance(data.get("products"), list):
        raise ProductCatalogueError(f"{source}: expected a top-level 'products:' list")
    products = [_product(raw, i, source) for i, raw in enumerate(data["products"])]
    ids = [p.id for p in products]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ProductCatalogueError(f"{source}: duplicate product ids {', '.join(duplicates)}")
    return ProductCatalogue(products)
