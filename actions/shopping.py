"""Budgets, comparisons and availability: thin actions over shop/ and the catalogue."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from actions.base import PersonalizedAction
from actions.turns import SHOWN_SLOT, entity_values, latest_text, requested_category
from core.products import OUT, Product, ProductCatalogue
from personalization.resolution import Resolution
from personalization.responder import Ask, Reply
from responses.listing import examples
from responses.rich import comparison_payload
from shop.budgets import EUR_PER, BudgetProblem, parse_budget, within
from shop.comparison import MIN_PRODUCTS, compare, plain_rows

# How an unusable budget is quoted back when NLU found no amount to quote.
INVALID_WORDS = {"negative": "a negative amount", "zero": "zero", "absurd": "that size"}


def unknown_product(typed: str) -> Ask:
    """What was typed matched nothing in the catalogue: said so, never another product."""
    return Ask("unknown_product", values={"typed": typed[:60]})


def named_products(catalogue: ProductCatalogue, tracker: Tracker) -> tuple[list[Product], str]:
    """The products this message names (typos matched), and the first name that matched
    nothing (empty if none): entities first, then a scan of the text for names NLU missed."""
    found: list[Product] = []
    unknown = ""
    for value in entity_values(tracker, "product"):
        product = catalogue.match(value)
        if product is None:
            unknown = unknown or value
        elif product not in found:
            found.append(product)
    for product in catalogue.mentioned(latest_text(tracker)):
        if product not in found:
            found.append(product)
    return found, unknown


def product_in_focus(catalogue: ProductCatalogue, tracker: Tracker) -> tuple[Product | None, str]:
    """The one product a message is about: named now, else the one the conversation was
    about ("is it in stock?"); and what was typed if it matched nothing."""
    found, unknown = named_products(catalogue, tracker)
    if found:
        return found[0], ""
    if unknown:
        return None, unknown
    return catalogue.match(tracker.get_slot("product")), ""


def focus_events(product: Product | None) -> list[EventType]:
    return [SlotSet("product", product.name)] if product is not None else []


class ActionFindInBudget(PersonalizedAction):
    def name(self) -> str:
        return "action_find_in_budget"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        """Filtered to the budget, ranked for the shopper; nothing fits: the nearest."""
        amounts, currencies = entity_values(tracker, "amount"), entity_values(tracker, "currency")
        budget = parse_budget(latest_text(tracker), amounts, currencies)
        category = requested_category(tracker, carry_over=True)
        if isinstance(budget, BudgetProblem):
            if budget.reason == "unknown_currency":
                return Ask("budget_currency", values={"currency": budget.detail})
            if budget.reason == "no_amount":
                return Ask("budget_ask", category=category)
            typed = next(iter(amounts), "") or INVALID_WORDS.get(budget.reason, "that")
            return Ask("budget_invalid", values={"typed": typed[:40]})
        catalogue = self.services.products
        fitting, nearest = within(catalogue, category, budget)
        stated = (
            f"Prices are in euros: I converted your budget at an indicative rate "
            f"(1 {budget.currency} ≈ €{EUR_PER[budget.currency]:.2f})."
            if budget.converted
            else ""
        )
        values = {"budget": budget.describe(), "stated": stated}
        if not fitting:
            return Ask("budget_nearest", category, within=catalogue.subset(nearest),
                       values=values, cards=True)  # fmt: skip
        if budget.cheapest:
            return Ask("budget_cheapest", category, within=catalogue.subset(fitting), cards=True)
        return Ask("budget", category, within=catalogue.subset(fitting), values=values, cards=True)


class ActionCompareProducts(PersonalizedAction):
    def name(self) -> str:
        return "action_compare_products"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        """Two to four products side by side. One named: compared with the others the last
        listing showed; more than four: the first four, saying so."""
        catalogue = self.services.products
        found, unknown = named_products(catalogue, tracker)
        if unknown and not found:
            return unknown_product(unknown)
        if len(found) < MIN_PRODUCTS:
            shown = tracker.get_slot(SHOWN_SLOT)
            shown = [catalogue.find(i) for i in shown] if isinstance(shown, list) else []
            found += [p for p in shown if p is not None and p not in found]
        if len(found) < MIN_PRODUCTS:
            first = found[0] if found else None
            if first is None:
                return Ask("compare_which", values={"examples": examples(catalogue)})
            return Ask("compare_need_more", product=first,
                       values={"examples": examples(catalogue, first.category)})  # fmt: skip
        table = compare(found, resolution.traits)
        title = table.title
        if table.dropped:
            title += f" (the first {len(table.products)} of the {len(found)} you named)"
        rows = plain_rows(table)
        payload = comparison_payload(title, [p.name for p in table.products], table.rows)
        return Ask(
            "compare",
            values={"title": title, "rows": rows, "first": table.first, "dropped": table.dropped},
            payload=payload,
        )


class ActionCheckStock(PersonalizedAction):
    def name(self) -> str:
        return "action_check_stock"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        catalogue = self.services.products
        product, unknown = product_in_focus(catalogue, tracker)
        if product is None:
            category = requested_category(tracker)
            if category and not unknown:
                in_stock = catalogue.subset(
                    p for p in catalogue.in_category(category) if p.stock_state != OUT
                )
                return Ask("stock_category", category, within=in_stock, cards=True)
            if unknown:
                return unknown_product(unknown)
            return Ask("ask_product")
        values = {"count": product.stock}
        if product.stock_state == OUT:
            alternatives = [
                p
                for p in catalogue.in_category(product.category)
                if p.stock_state != OUT and p is not product
            ]
            back = {
                "title": "Tell me when it's back",
                "payload": f'/notify_when_back{{"product":"{product.name}"}}',
            }
            return Ask(
                "stock_out",
                product.category,
                product=product,
                within=catalogue.subset(alternatives),
                values=values,
                cards=True,
                buttons=(back,),
            )
        key = "stock_low" if product.stock_state == "low" else "stock"
        return Ask(key, product=product, values=values)

    def events(self, ask: Ask, reply: Reply) -> list[EventType]:
        return super().events(ask, reply) + focus_events(ask.product)
