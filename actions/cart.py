"""Carts, checkout, orders and back-in-stock requests: thin actions over shop/.

Whose cart a turn sees comes from shop/accounts.py (what the gateway vouched for), never
from what the message claims; a Redis that does not answer gets an honest answer and
changes nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from rasa_sdk import Tracker

from actions.base import PersonalizedAction
from actions.shopping import focus_events, product_in_focus, unknown_product
from actions.turns import CONSENT_SLOT, entity_values, latest_text
from core.products import OUT, Product
from personalization.resolution import Resolution
from personalization.responder import Ask, Reply
from privacy.consent import GRANTED
from realtime.stream import cart_event
from responses.listing import euros
from responses.rich import cart_payload
from shop.accounts import Account, account_of
from shop.carts import MAX_LINES, MAX_PER_LINE, Cart, ShopUnavailable
from shop.notify import MAX_REQUESTS, request_notification
from shop.orders import ORDER_ID, PlacedOrder, lines_total, priced_lines

logger = logging.getLogger(__name__)

CART_BUTTONS = (
    {"title": "Check out", "payload": "/checkout"},
    {"title": "Show my cart", "payload": "/show_cart"},
)
WORD_QUANTITIES = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}


def account(tracker: Tracker) -> Account:
    metadata = (tracker.latest_message or {}).get("metadata")
    return account_of(tracker.sender_id, metadata, tracker.get_latest_input_channel())


def quantity_of(tracker: Tracker) -> int | None:
    """How many to add: a number NLU found (1 when none); None when it is unusable."""
    amounts = entity_values(tracker, "amount")
    if not amounts:
        words = latest_text(tracker).lower().split()
        return next((WORD_QUANTITIES[w] for w in words if w in WORD_QUANTITIES), 1)
    value = amounts[0].strip("€$£ ")
    return int(value) if value.isdigit() and 1 <= int(value) <= MAX_PER_LINE else None


def units(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def cart_items(cart: Cart, catalogue) -> tuple[list[dict], float]:
    lines = priced_lines(cart, catalogue)
    items = [
        {
            "name": line.name,
            "quantity": line.quantity,
            "price": euros(line.price),
            "line_total": euros(line.total),
        }
        for line in lines
    ]
    return items, lines_total(lines)


def refusal(product: Product, quantity: int | None) -> str | None:
    """Why this product cannot go into the cart in this quantity, if it cannot."""
    if product.stock_state == OUT:
        return "it's out of stock. Say \"tell me when it's back\" and I'll let you know"
    if quantity is None:
        return f"I can add 1 to {MAX_PER_LINE} of one product at a time"
    if quantity > product.stock:
        return f"only {product.stock} left, so I can't add {quantity}"
    return None


class ShopTurnAction(PersonalizedAction):
    """A cart or order action: a Redis that does not answer is one honest line."""

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask | None:
        try:
            return await self.shop_ask(resolution, tracker, account(tracker))
        except ShopUnavailable as exc:
            logger.warning("%s: cart and order store unavailable: %s", self.name(), exc)
            return Ask("shop_unavailable")

    async def shop_ask(self, resolution: Resolution, tracker: Tracker, who: Account) -> Ask:
        raise NotImplementedError


class ActionAddToCart(ShopTurnAction):
    def name(self) -> str:
        return "action_add_to_cart"

    async def shop_ask(self, resolution: Resolution, tracker: Tracker, who: Account) -> Ask:
        catalogue = self.services.products
        product, unknown = product_in_focus(catalogue, tracker)
        if product is None:
            if unknown:
                return unknown_product(unknown)
            return Ask("ask_product")
        quantity = quantity_of(tracker)
        reason = refusal(product, quantity)
        if reason is None:
            added = await self.shop.carts.add(who.owner, product.id, quantity)
            if added == -1:
                reason = f"your cart already holds {MAX_LINES} different products"
            elif added == -2:
                reason = f"that would be more than {MAX_PER_LINE} of it"
        if reason is not None:
            return Ask("cart_refused", product=product, values={"reason": reason})
        event = cart_event(
            tracker.sender_id, product.id, product.category, quantity, self.services.clock()
        )
        await self.shop.orders.publish(event)
        cart = await self.shop.carts.get(who.owner)
        _, total = cart_items(cart, catalogue)
        values = {"quantity": quantity, "count": units(cart.units), "total": euros(total)}
        return Ask("cart_added", product=product, values=values, buttons=CART_BUTTONS)

    def events(self, ask: Ask, reply: Reply):
        return super().events(ask, reply) + focus_events(ask.product)


class ActionShowCart(ShopTurnAction):
    def name(self) -> str:
        return "action_show_cart"

    async def shop_ask(self, resolution: Resolution, tracker: Tracker, who: Account) -> Ask:
        cart = await self.shop.carts.get(who.owner)
        items, total = cart_items(cart, self.services.products)
        if not items:
            return Ask("cart_empty")
        lines = "\n".join(f"• {i['quantity']} × {i['name']}: {i['line_total']}" for i in items)
        count = units(sum(i["quantity"] for i in items))
        payload = cart_payload(f"Your cart ({count})", items, euros(total), CART_BUTTONS[:1])
        values = {"lines": lines, "count": count, "total": euros(total)}
        return Ask("cart_show", values=values, payload=payload, buttons=CART_BUTTONS[:1])


class ActionCheckout(ShopTurnAction):
    def name(self) -> str:
        return "action_checkout"

    async def shop_ask(self, resolution: Resolution, tracker: Tracker, who: Account) -> Ask:
        if not who.signed_in:
            return Ask("sign_in", values={"what": "place your order"})
        orders, catalogue = self.shop.orders, self.services.products
        done = await orders.checkout(who.owner, who.user_id, catalogue, self.services.clock())
        if done.outcome == "changed":  # the cart changed under us: read it once more
            done = await orders.checkout(who.owner, who.user_id, catalogue, self.services.clock())
        if done.outcome == "placed" and done.order is not None:
            order = done.order
            values = {
                "order_id": order.id,
                "count": units(order.units),
                "total": euros(order.total),
                "eta": order.eta,
            }
            return Ask("checkout_placed", values=values)
        if done.outcome == "again":
            total = euros(done.order.total) if done.order else "as confirmed before"
            return Ask("checkout_again", values={"order_id": done.order_id, "total": total})
        if done.outcome == "changed":
            return Ask("shop_unavailable")
        return Ask("checkout_empty")


def status_values(order: PlacedOrder, now: float) -> dict[str, object]:
    status = order.status(now)
    eta = "" if status == "delivered" else f"Expected delivery: {order.eta}."
    items = ", ".join(f"{line.quantity} × {line.name}" for line in order.lines)
    placed = order.placed_at
    return {
        "order_id": order.id,
        "status": status,
        "eta": eta,
        "items": items,
        "placed": datetime.fromtimestamp(placed, UTC).strftime("%-d %B"),
    }


class ActionOrderStatus(ShopTurnAction):
    def name(self) -> str:
        return "action_order_status"

    async def shop_ask(self, resolution: Resolution, tracker: Tracker, who: Account) -> Ask:
        if not who.signed_in:
            return Ask("sign_in", values={"what": "show your orders"})
        orders, now = self.shop.orders, self.services.clock()
        typed = entity_values(tracker, "order_id") or ORDER_ID.findall(latest_text(tracker).upper())
        if typed:
            wanted = typed[0].upper().replace("VM", "VM-", 1).replace("--", "-")
            order = await orders.find(who.owner, wanted) if ORDER_ID.fullmatch(wanted) else None
            if order is None:
                return Ask("order_unknown", values={"typed": typed[0][:20]})
            return Ask("order_status", values=status_values(order, now))
        latest = await orders.latest(who.owner, 1)
        if not latest:
            return Ask("order_none")
        return Ask("order_status", values=status_values(latest[0], now))


class ActionNotifyWhenBack(ShopTurnAction):
    def name(self) -> str:
        return "action_notify_when_back"

    async def shop_ask(self, resolution: Resolution, tracker: Tracker, who: Account) -> Ask:
        product, unknown = product_in_focus(self.services.products, tracker)
        if product is None:
            if unknown:
                return unknown_product(unknown)
            return Ask("ask_product")
        if product.stock_state != OUT:
            return Ask("notify_in_stock", product=product)
        if not resolution.personalized and tracker.get_slot(CONSENT_SLOT) != GRANTED:
            return Ask("notify_needs_consent", product=product)
        saved = await request_notification(
            self.shop.carts, who.user_id, product.id, self.services.clock()
        )
        if not saved:
            return Ask("notify_full", product=product, values={"limit": MAX_REQUESTS})
        return Ask("notify_saved", product=product)

    def events(self, ask: Ask, reply: Reply):
        return super().events(ask, reply) + focus_events(ask.product)
