"""Carts, checkout, orders and back-in-stock requests through the real actions, real
rasa-sdk objects and a real Redis: whose cart a turn sees, nothing written twice, nothing
of another shopper's shown."""

from __future__ import annotations

import asyncio
import json

from actions.cart import (
    ActionAddToCart,
    ActionCheckout,
    ActionNotifyWhenBack,
    ActionOrderStatus,
    ActionShowCart,
)
from core.products import load_products
from experiments.policy import ArmChooser
from personalization.store import ProfileStore
from privacy.erasure import Eraser
from privacy.export import export_user, readable
from shop.backend import ShopStores
from shop.orders import ORDER_ID
from tests.actions.turns import answer, message
from tests.conftest import FIXTURE_USER, services

BASE = ArmChooser(None, None)
CATALOGUE = load_products()
MEMBER = {"account": "member"}


def text_of(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


async def stream_events(store: ProfileStore) -> list[dict]:
    entries = await store.client.xrange(f"{store.namespace}:events")
    return [json.loads(fields[b"event"]) for _, fields in entries]


async def say(store, domain, action_cls, text, intent, entities=(), **kw):
    action = action_cls(services(store, chooser=BASE))
    return await answer(action, message(text, intent, entities, **kw), domain)


async def add(store, domain, product="Nova X12", quantity=None, **kw):
    entities = [("product", product)] + ([("amount", quantity)] if quantity else [])
    return await say(
        store, domain, ActionAddToCart, f"I'll take the {product}", "add_to_cart", entities, **kw
    )


async def test_add_to_cart_fills_the_members_cart_and_publishes_the_add(store, domain):
    messages, events = await add(store, domain, metadata=MEMBER)
    assert text_of(messages).startswith("Added 1 × Nova X12 to your cart. It now holds 1 item")
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/checkout", "/show_cart"]
    cart = await ShopStores.beside(store).carts.get(f"m:{FIXTURE_USER}")
    assert cart.items == {CATALOGUE.match("Nova X12").id: 1}
    published = await stream_events(store)
    assert [(e["event"], e["sender_id"], e["quantity"]) for e in published] == [
        ("add_to_cart", FIXTURE_USER, 1)
    ]
    assert {"event": "slot", "name": "product", "value": "Nova X12"} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]


async def test_quantity_typos_and_out_of_stock(store, domain):
    messages, _ = await add(store, domain, "nova x21", "2", metadata=MEMBER)  # a typo
    assert "Added 2 × Nova X12" in text_of(messages)
    out = next(p for p in CATALOGUE.products if p.stock == 0)
    messages, _ = await add(store, domain, out.name, metadata=MEMBER)
    assert text_of(messages).startswith(f"I couldn't add the {out.name}: it's out of stock")
    low = next(p for p in CATALOGUE.products if p.stock == 1)
    messages, _ = await add(store, domain, low.name, "2", metadata=MEMBER)
    assert "only 1 left, so I can't add 2" in text_of(messages)
    messages, _ = await add(store, domain, "Nova X12", "500", metadata=MEMBER)
    assert "I can add 1 to 10 of one product at a time" in text_of(messages)
    messages, _ = await add(store, domain, "Quantum Toaster 9000", metadata=MEMBER)
    assert "Quantum Toaster 9000" in text_of(messages) and "Added" not in text_of(messages)
    cart = await ShopStores.beside(store).carts.get(f"m:{FIXTURE_USER}")
    assert cart.items == {CATALOGUE.match("Nova X12").id: 2}
    assert len(await stream_events(store)) == 1  # refusals publish nothing


async def test_show_cart_lists_lines_with_a_cart_payload(store, domain):
    messages, _ = await say(store, domain, ActionShowCart, "what's in my cart", "show_cart")
    assert text_of(messages).startswith("Your cart is empty.")
    await add(store, domain, "Nova X12", "2")
    await add(store, domain, "Pulsebud Mini")
    messages, _ = await say(store, domain, ActionShowCart, "what's in my cart", "show_cart")
    text = text_of(messages)
    nova, buds = CATALOGUE.match("Nova X12"), CATALOGUE.match("Pulsebud Mini")
    assert "• 2 × Nova X12" in text and "• 1 × Pulsebud Mini" in text
    payload = messages[0]["custom"]
    assert payload["type"] == "cart" and [i["quantity"] for i in payload["items"]] == [2, 1]
    price = lambda p: p.deal_price if p.on_deal else p.price  # noqa: E731
    assert f"€{2 * price(nova) + price(buds):,.0f}" in payload["total"].replace(".00", "")


async def test_carts_are_per_account_space_so_a_claimed_sender_id_sees_nothing(store, domain):
    await add(store, domain, metadata=MEMBER)
    # Same sender id, but nobody vouched for it (a client talking to Rasa directly).
    messages, _ = await say(store, domain, ActionShowCart, "my cart", "show_cart")
    assert text_of(messages).startswith("Your cart is empty.")
    messages, _ = await say(
        store, domain, ActionShowCart, "my cart", "show_cart", metadata={"account": "admin"}
    )
    assert text_of(messages).startswith("Your cart is empty.")
    # Slack signs its requests: a Slack user is a member of the workspace.
    messages, _ = await say(
        store, domain, ActionShowCart, "cart", "show_cart", input_channel="slack", channel="slack"
    )
    assert "Nova X12" in json.dumps(messages)


async def test_checkout_places_one_order_and_a_second_checkout_says_so(store, domain):
    await add(store, domain, "Nova X12", metadata=MEMBER)
    messages, _ = await say(store, domain, ActionCheckout, "check out", "checkout", metadata=MEMBER)
    text = text_of(messages)
    order_id = ORDER_ID.search(text).group(0)
    assert text.startswith(f"Thank you! Order {order_id} is placed: 1 item")
    again, _ = await say(store, domain, ActionCheckout, "check out", "checkout", metadata=MEMBER)
    assert text_of(again).startswith(f"That cart is already ordered: order {order_id}")
    shop = ShopStores.beside(store)
    assert [o.id for o in await shop.orders.latest(f"m:{FIXTURE_USER}")] == [order_id]
    purchases = [e for e in await stream_events(store) if e["event"] == "purchase"]
    assert len(purchases) == 1 and purchases[0]["order_id"] == order_id
    assert purchases[0]["category"] == "smartphones" and purchases[0]["amount"] > 0
    # A new add starts a new cart: the next checkout is a new order.
    await add(store, domain, "Pulsebud Mini", metadata=MEMBER)
    third, _ = await say(store, domain, ActionCheckout, "check out", "checkout", metadata=MEMBER)
    assert ORDER_ID.search(text_of(third)).group(0) != order_id


async def test_concurrent_checkouts_of_one_cart_place_one_order(store):
    shop = ShopStores.beside(store)
    owner = f"m:{FIXTURE_USER}"
    await shop.carts.add(owner, CATALOGUE.match("Nova X12").id, 1)
    results = await asyncio.gather(
        *(shop.orders.checkout(owner, FIXTURE_USER, CATALOGUE, 1.8e9) for _ in range(5))
    )
    outcomes = sorted(r.outcome for r in results)
    assert outcomes.count("placed") == 1, outcomes
    placed = next(r for r in results if r.outcome == "placed").order_id
    assert {r.order_id for r in results if r.outcome != "placed"} <= {placed}
    assert len(await shop.orders.latest(owner)) == 1


async def test_checkout_of_an_empty_cart_and_without_signing_in(store, domain):
    messages, _ = await say(store, domain, ActionCheckout, "check out", "checkout", metadata=MEMBER)
    assert text_of(messages).startswith("Your cart is empty, so there's nothing to check out")
    await add(store, domain, metadata={"account": "guest"})
    messages, _ = await say(
        store, domain, ActionCheckout, "check out", "checkout", metadata={"account": "guest"}
    )
    assert text_of(messages).startswith("Please sign in first so I can place your order")
    shop = ShopStores.beside(store)
    assert await shop.orders.latest(f"g:{FIXTURE_USER}") == []
    assert (await shop.carts.get(f"g:{FIXTURE_USER}")).units == 1  # the cart is kept


async def test_order_status_is_for_the_signed_in_owner_only(store, domain):
    other = "someone_else"
    await add(store, domain, "Nova X12", metadata=MEMBER, sender=other)
    placed, _ = await say(
        store, domain, ActionCheckout, "check out", "checkout", metadata=MEMBER, sender=other
    )
    theirs = ORDER_ID.search(text_of(placed)).group(0)
    ask = "where is my order?"
    messages, _ = await say(store, domain, ActionOrderStatus, ask, "order_status", metadata=MEMBER)
    assert text_of(messages).startswith("I can't find any orders on your account yet.")
    messages, _ = await say(
        store,
        domain,
        ActionOrderStatus,
        f"status of {theirs}",
        "order_status",
        [("order_id", theirs)],
        metadata=MEMBER,
    )
    assert text_of(messages).startswith(f"I can't find an order {theirs} on your account.")
    assert "Nova" not in text_of(messages)
    made_up, _ = await say(
        store,
        domain,
        ActionOrderStatus,
        "status of VM-00000000",
        "order_status",
        [("order_id", "VM-00000000")],
        metadata=MEMBER,
    )
    assert text_of(made_up) == text_of(messages).replace(theirs, "VM-00000000")
    messages, _ = await say(store, domain, ActionOrderStatus, ask, "order_status", sender=other)
    assert text_of(messages).startswith("Please sign in first so I can show your orders")
    messages, _ = await say(
        store,
        domain,
        ActionOrderStatus,
        f"where is {theirs.lower()}",
        "order_status",
        metadata=MEMBER,
        sender=other,
    )
    text = text_of(messages)
    assert text.startswith(f"Order {theirs} (1 × Nova X12, placed ") and "being packed" in text


async def test_back_in_stock_needs_consent_and_is_erasable_data(store, domain):
    out = next(p for p in CATALOGUE.products if p.stock == 0)
    ask = f"tell me when the {out.name} is back"
    stranger = "no_consent_user"
    messages, _ = await say(
        store,
        domain,
        ActionNotifyWhenBack,
        ask,
        "notify_when_back",
        [("product", out.name)],
        sender=stranger,
    )
    assert "only remember a back-in-stock request" in text_of(messages)
    assert not await store.client.exists(store.keys.notify(stranger))
    messages, _ = await say(
        store, domain, ActionNotifyWhenBack, ask, "notify_when_back", [("product", out.name)]
    )
    assert text_of(messages).startswith(f"Done: I'll let you know here when the {out.name}")
    assert await store.client.hkeys(store.keys.notify(FIXTURE_USER)) == [out.id.encode()]
    messages, _ = await say(
        store,
        domain,
        ActionNotifyWhenBack,
        "tell me when the nova is back",
        "notify_when_back",
        [("product", "Nova X12")],
    )
    assert text_of(messages).startswith("Good news: the Nova X12 is in stock right now")


async def test_an_unreachable_store_changes_nothing_and_says_so(domain, redis_url):
    down = ProfileStore.from_url("redis://127.0.0.1:1/0", timeout=0.2, namespace="down")
    try:
        for cls, text, intent in [
            (ActionAddToCart, "I'll take the Nova X12", "add_to_cart"),
            (ActionShowCart, "my cart", "show_cart"),
            (ActionCheckout, "check out", "checkout"),
            (ActionOrderStatus, "where is my order", "order_status"),
        ]:
            action = cls(services(down, chooser=BASE))
            tracker = message(text, intent, [("product", "Nova X12")], metadata=MEMBER)
            messages, _ = await answer(action, tracker, domain)
            assert "can't reach carts and orders just now" in text_of(messages), cls
    finally:
        await down.close()


async def test_export_shows_and_erasure_removes_carts_orders_and_requests(store, domain):
    out = next(p for p in CATALOGUE.products if p.stock == 0)
    await add(store, domain, "Nova X12", metadata=MEMBER)
    await say(store, domain, ActionCheckout, "check out", "checkout", metadata=MEMBER)
    await add(store, domain, "Pulsebud Mini")  # an anonymous cart of the same sender id
    await say(
        store, domain, ActionNotifyWhenBack, "tell me", "notify_when_back", [("product", out.name)]
    )
    exported = await export_user(store.client, store.namespace, FIXTURE_USER, None)
    shop = exported["shop"]
    assert [o["lines"][0]["name"] for o in shop["orders"][f"m:{FIXTURE_USER}"]] == ["Nova X12"]
    assert shop["carts"][f"a:{FIXTURE_USER}"][f"i:{CATALOGUE.match('Pulsebud Mini').id}"] == "1"
    assert list(shop["back_in_stock"]) == [out.id]
    assert "- Shop: 1 order(s), 1 item(s) in your cart, 1 back-in-stock request(s)" in readable(
        exported
    )
    receipt = await Eraser(store.client, store.namespace).erase([FIXTURE_USER])
    assert receipt[FIXTURE_USER]["orders"] == 2  # the index and the records
    assert receipt[FIXTURE_USER]["cart"] == 2 and receipt[FIXTURE_USER]["back_in_stock"] == 1
    left = [k async for k in store.client.scan_iter(match=f"{store.namespace}:*")]
    assert not [k for k in left if b":cart:" in k or b":orders:" in k or b":notify:" in k]
    assert (await export_user(store.client, store.namespace, FIXTURE_USER, None))["shop"] is None
