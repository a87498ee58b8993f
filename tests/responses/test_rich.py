"""Rich answers: the channel-neutral payload, Slack Block Kit through Rasa's own Slack
connector, and what a Slack button click becomes."""

from __future__ import annotations

import json

from rasa.core.channels.slack import SlackBot, SlackInput

from core.products import load_products
from responses.blocks import MAX_BLOCKS, slack_message
from responses.rich import cart_payload, comparison_payload, products_payload

CATALOGUE = load_products()


class RecordingSlackClient:
    """Stands in for slack_sdk's AsyncWebClient: slack.com is not reachable from here."""

    def __init__(self) -> None:
        self.posted: list[dict] = []

    async def chat_postMessage(self, **kwargs):  # slack_sdk's name
        self.posted.append(kwargs)


def test_cards_say_price_stock_key_spec_and_offer_compare_and_cart():
    out = next(p for p in CATALOGUE.products if p.stock == 0)
    nova = CATALOGUE.match("Nova X12")
    payload = products_payload("Phones for you:", [nova, out])
    assert payload["voltmart"] == 1 and payload["type"] == "products"
    first, second = payload["products"]
    assert first["name"] == "Nova X12" and first["stock"] == "in_stock" and first["key_spec"]
    assert [b["title"] for b in first["buttons"]] == ["Compare", "Add to cart"]
    assert json.loads(first["buttons"][1]["payload"][len("/add_to_cart") :]) == {
        "product": "Nova X12"
    }
    assert second["stock_label"] == "Out of stock"
    assert [b["title"] for b in second["buttons"]] == ["Compare", "Tell me when it's back"]


async def test_block_kit_goes_out_through_rasas_slack_connector():
    products = CATALOGUE.in_category("laptops")[:3]
    text = "Laptops for you:\n" + "\n".join(f"• {p.name}: €{p.price}" for p in products)
    message = slack_message(
        text,
        ({"title": "👍 Helpful", "payload": "/feedback_positive"},),
        products_payload("Laptops for you:", products),
    )
    bot = SlackBot("xoxb-test", slack_channel="C123")
    bot.client = RecordingSlackClient()
    await bot.send_custom_json("U1", message)
    [posted] = bot.client.posted
    assert posted["channel"] == "C123" and posted["text"] == text  # the notification fallback
    blocks = posted["blocks"]
    assert blocks[0]["text"]["text"] == "Laptops for you:"  # bullet lines became blocks
    names = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert names[1:] == [f"*{p.name}*" for p in products]
    values = [e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert f'/add_to_cart{{"product": "{products[0].name}"}}' in values
    assert values[-1] == "/feedback_positive"
    ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(ids) == len(set(ids))


def test_a_slack_button_click_comes_back_as_the_intent_payload():
    """Rasa's SlackInput reads a block_actions click as the button's value."""
    message = slack_message("x", (), products_payload("t", [CATALOGUE.match("Nova X12")]))
    button = next(b for b in message["blocks"] if b["type"] == "actions")["elements"][1]
    click = {"type": "block_actions", "actions": [button]}
    assert SlackInput._is_interactive_message(click)
    assert SlackInput._get_interactive_response(button) == '/add_to_cart{"product": "Nova X12"}'


def test_comparison_and_cart_blocks_and_limits():
    table = comparison_payload("A vs B", ["A <b>", "B"], [("Price", ["€1", "€2"]), ("X", ["", ""])])
    blocks = slack_message("A vs B", (), table)["blocks"]
    assert "*Price: A &lt;b&gt;*\n€1" in json.dumps(blocks, ensure_ascii=False).replace("\\n", "\n")
    assert all(b.get("fields", [1]) for b in blocks)  # an all-empty row adds no empty section
    cart = cart_payload(
        "Your cart (2 items)",
        [{"name": "Nova X12", "quantity": 2, "price": "€1", "line_total": "€2"}],
        "€2",
        [],
    )
    text = json.dumps(slack_message("Your cart", (), cart)["blocks"], ensure_ascii=False)
    assert "2 × Nova X12: €2" in text and "Total: €2" in text
    many = products_payload("All", CATALOGUE.products)
    many["products"] = many["products"] * 10  # far past Block Kit's 50 blocks
    assert len(slack_message("All", (), many)["blocks"]) <= MAX_BLOCKS
