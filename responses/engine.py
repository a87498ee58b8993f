"""Turning a response key and the turn's cues into text: the catalogue's variant, then its wording.

Product lists are rendered by plain, cached functions of immutable inputs, so
the per-turn cost is choosing the variant and filling a few slots.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from core.categories import CATEGORIES, category_label
from core.products import Product, ProductCatalogue
from core.ranking import FOR_YOU, FOR_YOU_PICKS, Fit, ranked
from responses.catalogue import (
    BASE_ARM,
    LISTING,
    PRODUCT,
    ResponseCatalogue,
    Section,
    Variant,
    Wording,
)
from responses.composition import composed, facts_for, fit_of
from responses.cues import Cues
from responses.listing import (
    PICKS,
    category_facts,
    examples,
    facts_inline,
    facts_lines,
    product_line,
)
from responses.live_catalogue import CatalogueFile
from responses.template import Format, format_for

SHOP = "Voltmart"


@dataclass(frozen=True)
class Rendered:
    text: str
    response: str
    variant: str
    arm: str
    products: tuple[Product, ...] = ()


def _section(
    products: ProductCatalogue,
    section: Section,
    category: str | None,
    fit: Fit,
    values: dict,
    fmt: Format,
) -> tuple[list[str], list[Product]]:
    limit = min(section.limit, 2) if fit.compact else section.limit
    if section.pick in FOR_YOU_PICKS:
        chosen = list(ranked(products, category, fit, section.pick)[: min(limit, fit.length)])
    else:
        chosen = PICKS[section.pick](products, category)[:limit]
    facts = _facts(section.facts, fit)
    if chosen:
        lines = [section.title.render(values, fmt)]
        lines += [fmt.escape(product_line(p, facts)) for p in chosen]
        return lines, chosen
    return ([section.empty.render(values, fmt)] if section.empty else []), []


def _facts(names: tuple[str, ...], fit: Fit) -> tuple[str, ...]:
    """`for_you` stands for the facts the traits call for."""
    if FOR_YOU not in names:
        return names
    out: list[str] = []
    for name in names:
        for fact in facts_for(fit.traits) if name == FOR_YOU else (name,):
            if fact not in out:
                out.append(fact)
    return tuple(out)


@functools.lru_cache(maxsize=2048)  # pure function of immutable inputs
def _listing(
    products: ProductCatalogue,
    wording: Wording,
    category: str | None,
    fit: Fit,
    fmt: Format,
    items: tuple[tuple[str, object], ...],
) -> tuple[str, tuple[Product, ...]]:
    values = dict(items)
    lines: list[str] = []
    shown: list[Product] = []
    intro = wording.intro.render(values, fmt) if wording.intro else ""
    if intro:  # an intro of only variables may come out empty
        lines.append(intro)
    for section in wording.sections:
        section_lines, chosen = _section(products, section, category, fit, values, fmt)
        lines += section_lines
        shown += chosen
    if wording.closing and shown:  # the closing speaks about the products shown
        lines.append(wording.closing.render(values, fmt))
    return "\n".join(lines), tuple(shown)


class ResponseEngine:
    def __init__(
        self,
        source: CatalogueFile | ResponseCatalogue,
        products: ProductCatalogue,
        shop: str = SHOP,
    ) -> None:
        self._source, self.products, self.shop = source, products, shop

    @property
    def catalogue(self) -> ResponseCatalogue:
        source = self._source
        return source.get() if isinstance(source, CatalogueFile) else source

    def cues_with_facts(
        self, cues: Cues, category: str | None, within: ProductCatalogue | None = None
    ) -> Cues:
        """Add the requested category and its catalogue facts, so conditions can test them."""
        category = category if category in CATEGORIES else None
        facts = category_facts(within or self.products, category)
        return replace(
            cues, category=category, has_deals=facts["has_deals"], has_new=facts["has_new"]
        )

    def variant(self, key: str, cues: Cues) -> Variant:
        return self.catalogue.get(key).select(cues)

    def common(self, cues: Cues) -> dict[str, object]:
        return {
            **composed(self.products, cues),
            "shop": self.shop,
            "persona": cues.persona.replace("_", " "),
            "greeting": cues.greeting,
            "time_of_day": cues.time_of_day or "",
            "region": cues.region or "",
            "channel": cues.channel,
        }

    def render(
        self,
        key: str,
        cues: Cues,
        *,
        arm: str = BASE_ARM,
        variant: Variant | None = None,
        compact: bool = False,
        product: Product | None = None,
        within: ProductCatalogue | None = None,
        **values: object,
    ) -> Rendered:
        """`within` restricts a listing to some products (a budget's), ranked the same way."""
        response = self.catalogue.get(key)
        variant = variant or response.select(cues)
        wording = variant.wording(arm)
        arm = arm if arm in variant.arm_names else BASE_ARM
        fmt = format_for(cues.channel)
        values = {**self.common(cues), **values}
        if product is not None:  # any kind of answer about one product may name it
            values["product"] = product.name
        if response.kind == LISTING:
            listed = within or self.products
            values.update(category_facts(listed, cues.category))
            values["category"] = category_label(cues.category)
            text, shown = _listing(
                listed,
                wording,
                cues.category,
                fit_of(cues, compact),
                fmt,
                tuple(sorted(values.items())),
            )
            return Rendered(text, key, variant.id, arm, shown)
        if response.kind == PRODUCT and product is not None:
            values.update(product=product.name, category=category_label(product.category))
            facts = _facts(wording.facts, fit_of(cues, compact))
            if wording.layout == "list":
                lines = [wording.text.render(values, fmt)]
                lines += [fmt.escape(f"• {line}") for line in facts_lines(product, facts)]
                return Rendered("\n".join(lines), key, variant.id, arm, (product,))
            values["facts"] = facts_inline(product, facts)
            return Rendered(wording.text.render(values, fmt), key, variant.id, arm, (product,))
        if key in ("unknown_product", "ask_product"):
            values.setdefault("examples", examples(self.products, cues.favourite))
        if key == "ask_category":
            values.setdefault("options", ", ".join(category_label(c) for c in CATEGORIES))
        return Rendered(wording.text.render(values, fmt), key, variant.id, arm)
