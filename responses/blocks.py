"""Slack answers as Block Kit, for Rasa's own Slack connector.

Rasa 3.6's SlackBot.send_custom_json posts a `json_message` as chat.postMessage keyword
arguments (channel and as_user filled in), so the actions send only this dict to Slack:
one message, its text inside. A button click comes back through SlackInput as the
button's `value`, which is our intent payload ("/add_to_cart{...}").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000
MAX_BUTTONS = 25


def _escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_escape(text), MAX_TEXT)}}


def _actions(buttons: Sequence[Mapping], prefix: str) -> dict | None:
    elements = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": _cut(str(b.get("title", "")), MAX_BUTTON_TEXT)},
            "value": _cut(str(b.get("payload", "")), MAX_VALUE),
            "action_id": f"{prefix}-{i}",
        }
        for i, b in enumerate(buttons[:MAX_BUTTONS])
        if b.get("title") and b.get("payload")
    ]
    return {"type": "actions", "elements": elements} if elements else None


def _fields(pairs: Sequence[tuple[str, str]]) -> list[dict]:
    """A section of fields, or none when every value is empty (Slack refuses empty fields)."""
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{_escape(k)}*\n{_escape(v)}", MAX_FIELD)}
        for k, v in pairs[:MAX_FIELDS]
        if v
    ]
    return [{"type": "section", "fields": fields}] if fields else []


def _products(payload: Mapping) -> list[dict]:
    blocks: list[dict] = []
    for i, card in enumerate(payload.get("products") or []):
        if not isinstance(card, Mapping) or not card.get("name"):
            continue
        price = str(card.get("price") or "")
        if card.get("deal_price"):
            price = f"{card['deal_price']} ({card.get('discount_pct', 0)}% off {price})"
        note = f"\n{card['note']}" if isinstance(card.get("note"), str) and card["note"] else ""
        blocks.append(_section(f"*{card['name']}*{note}"))  # note: the model's reason
        blocks += _fields(
            [
                ("Price", price),
                ("Availability", str(card.get("stock_label") or "")),
                ("Key spec", str(card.get("key_spec") or "")),
                ("Rating", f"{card['rating']}/5" if card.get("rating") else ""),
            ]
        )
        buttons = _actions(card.get("buttons") or [], f"card{i}")
        if buttons:
            blocks.append(buttons)
    return blocks


def _comparison(payload: Mapping) -> list[dict]:
    """Slack has no table block in the API Rasa's client uses: one section per row, with a
    field per product (at most ten)."""
    names = [str(n) for n in payload.get("products") or []]
    blocks = [_section(f"*{payload.get('title') or ' vs '.join(names)}*")]
    for row in payload.get("rows") or []:
        values = [str(v) for v in row.get("values") or []]
        pairs = [(f"{row.get('label', '')}: {n}", v) for n, v in zip(names, values, strict=False)]
        blocks += _fields(pairs)
    return blocks


def _cart(payload: Mapping) -> list[dict]:
    lines = [
        f"• {item.get('quantity', 1)} × {item.get('name', '')}: {item.get('line_total', '')}"
        for item in payload.get("items") or []
        if isinstance(item, Mapping)
    ]
    blocks = [_section("\n".join([f"*{payload.get('title') or 'Your cart'}*", *lines]))]
    blocks.append(_section(f"Total: {payload.get('total', '')}"))
    buttons = _actions(payload.get("buttons") or [], "cart")
    return [*blocks, buttons] if buttons else blocks


RENDER = {"products": _products, "comparison": _comparison, "cart": _cart}


def slack_message(text: str, buttons: Sequence[Mapping], payload: Mapping | None) -> dict:
    """chat.postMessage arguments: the text (also the notification fallback), the
    payload's blocks, then the quick replies; within Block Kit's limits, cut not failed."""
    render = RENDER.get(str((payload or {}).get("type")))
    shown = text
    if render is not None:  # the blocks carry the items: their bullet lines leave the text
        shown = "\n".join(line for line in text.split("\n") if not line.startswith("• "))
    blocks = [_section(shown)] if shown.strip() else []
    if render is not None:
        blocks += render(payload)
    quick = _actions(buttons, "quick")
    if quick:
        blocks.append(quick)
    return {"text": _cut(text, MAX_TEXT), "blocks": blocks[:MAX_BLOCKS]}
