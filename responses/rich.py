"""Rich answers: the channel-neutral payload (Rasa `custom`) behind product cards, a
comparison table and a cart summary.

The web chat draws it, responses/blocks.py turns it into Slack Block Kit, REST clients get
it beside the plain text. Every payload says `"voltmart": 1` so clients can tell ours from
anything else a channel sends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.products import OUT, Product
from responses.listing import euros

VERSION = 1
MAX_CARDS = 6


def _intent(intent: str, product: str) -> str:
    return f"/{intent}{json.dumps({'product': product}, ensure_ascii=False)}"


def stock_label(p: Product) -> str:
    if p.stock_state == OUT:
        return "Out of stock"
    return f"Only {p.stock} left" if p.stock_state == "low" else "In stock"


def card(p: Product, note: str = "") -> dict:
    """One product card; out of stock offers "tell me when it's back" instead of the cart.
    `note`: why it suits this shopper, when a model wrote that (generation/)."""
    second = (
        {"title": "Tell me when it's back", "payload": _intent("notify_when_back", p.name)}
        if p.stock_state == OUT
        else {"title": "Add to cart", "payload": _intent("add_to_cart", p.name)}
    )
    return {
        "id": p.id,
        "name": p.name,
        "category": p.category,
        "price": euros(p.price),
        "deal_price": euros(p.deal_price) if p.on_deal else None,
        "discount_pct": p.discount_pct,
        "stock": p.stock_state,
        "stock_label": stock_label(p),
        "key_spec": p.key_spec,
        "rating": p.rating,
        **({"note": note} if note else {}),
        "buttons": [{"title": "Compare", "payload": _intent("compare_products", p.name)}, second],
    }


def products_payload(title: str, products: Sequence[Product], notes: Sequence[str] = ()) -> dict:
    notes = tuple(notes) + ("",) * len(products)
    return {
        "voltmart": VERSION,
        "type": "products",
        "title": title,
        "products": [card(p, n) for p, n in zip(products[:MAX_CARDS], notes, strict=False)],
    }


def comparison_payload(
    title: str, names: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]
) -> dict:
    return {
        "voltmart": VERSION,
        "type": "comparison",
        "title": title,
        "products": list(names),
        "rows": [{"label": label, "values": list(values)} for label, values in rows],
    }


def cart_payload(title: str, items: Sequence[dict], total: str, buttons: Sequence[dict]) -> dict:
    """items: {"name", "quantity", "price", "line_total"} (prices already worded)."""
    return {
        "voltmart": VERSION,
        "type": "cart",
        "title": title,
        "items": list(items),
        "total": total,
        "buttons": list(buttons),
    }
