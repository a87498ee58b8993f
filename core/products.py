"""The product catalogue (core/data/products.yml): loaded once, validated, queried by plain
functions. The response catalogue, which words answers, is responses/catalogue.py."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

from core.categories import CATEGORIES

DEFAULT_PATH = Path(__file__).parent / "data" / "products.yml"
# A product counts as a new arrival within this many days of the catalogue's newest release,
# so "new" stays meaningful without depending on today's date.
NEW_ARRIVAL_WINDOW_DAYS = 120
LOW_STOCK = 3  # this many units or fewer: "only 2 left"
# Similarity (rapidfuzz ratio, 0..100) a typed name needs to count as a catalogue name:
# "kestral s3" (89) and "nova x21" (86) match, "nova" alone (73) or "the nova" do not.
FUZZY_CUTOFF = 85.0
MAX_SCANNED_WORDS = 300  # a message is at most 2,000 characters; names sit near the start
MAX_SUBSETS = 1024
IN_STOCK, LOW, OUT = "in_stock", "low", "out"


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
    stock: int = 0

    @property
    def stock_state(self) -> str:
        if self.stock <= 0:
            return OUT
        return LOW if self.stock <= LOW_STOCK else IN_STOCK

    @property
    def key_spec(self) -> str:
        return next(iter(self.specs.values()), "")

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
        self._names = [_normalise_name(p.name) for p in self.products]
        newest = max((p.release_date for p in self.products), default=dt.date.min)
        self.new_since = newest - dt.timedelta(days=NEW_ARRIVAL_WINDOW_DAYS)
        self._subsets: dict[tuple[str, ...], ProductCatalogue] = {}

    def subset(self, products: Iterable[Product]) -> ProductCatalogue:
        """Some of these products as a catalogue of their own (a budget's), with the same
        idea of "new"; kept, so the listings cached for it are reused."""
        ids = tuple(p.id for p in products)
        found = self._subsets.get(ids)
        if found is None:
            if len(self._subsets) >= MAX_SUBSETS:
                self._subsets.clear()
            found = ProductCatalogue(p for p in self.products if p.id in set(ids))
            found.new_since = self.new_since
            self._subsets[ids] = found
        return found

    def in_category(self, category: str | None) -> list[Product]:
        return [p for p in self.products if category is None or p.category == category]

    def find(self, name: str | None) -> Product | None:
        """Case-, space- and punctuation-insensitive product lookup."""
        if not name:
            return None
        return self._by_name.get(_normalise_name(name))

    def match(self, name: str | None) -> Product | None:
        """The product a typed name means, typos included; None below FUZZY_CUTOFF."""
        exact = self.find(name)
        if exact is not None or not name or not self.products:
            return exact
        best = process.extractOne(
            _normalise_name(name[:80]), self._names, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
        )
        return self.products[best[2]] if best else None

    def mentioned(self, text: str, limit: int = 20) -> list[Product]:
        """Products named anywhere in a message, typos included, in the order written.

        Every run of one to four words is scored against every name at once (rapidfuzz's
        cdist); the best non-overlapping matches win, so "Meridian Pad Pro" is not also
        "Meridian Pad"."""
        words = [w for w in (_normalise_name(w) for w in text.split()[:MAX_SCANNED_WORDS]) if w]
        n = len(words)
        spans = [(i, j) for i in range(n) for j in range(i + 1, min(i + 4, n) + 1)]
        if not spans or not self.products:
            return []
        scores = process.cdist(
            ["".join(words[i:j]) for i, j in spans], self._names, scorer=fuzz.ratio
        )
        found = []
        for row, (i, j) in enumerate(spans):
            column = int(scores[row].argmax())
            if scores[row][column] >= FUZZY_CUTOFF:
                found.append((-float(scores[row][column]), i - j, i, j, column))
        taken: set[int] = set()
        chosen: list[tuple[int, int]] = []
        for _, _, i, j, column in sorted(found):
            if taken.isdisjoint(range(i, j)):
                taken.update(range(i, j))
                chosen.append((i, column))
        out: list[Product] = []
        for _, column in sorted(chosen):
            if self.products[column] not in out:
                out.append(self.products[column])
        return out[:limit]

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
            stock=int(raw.get("stock", 0)),
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
    if product.stock < 0:
        raise ProductCatalogueError(f"{where}: stock must be 0 or more")
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
