"""Product recommendations, deals, new arrivals and specs, each in the user's persona."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.base import PersonalizedAction
from actions.shopping import named_products, unknown_product
from actions.turns import latest_intent, latest_text, requested_category
from core.products import ProductCatalogue
from personalization.resolution import Resolution
from personalization.responder import Ask


def unknown_only(catalogue: ProductCatalogue, tracker: Tracker) -> Ask | None:
    """Asked for "a good book": the message names a thing the catalogue does not have and
    no category; showing other products instead would answer a question nobody asked."""
    if requested_category(tracker) is not None:
        return None
    found, unknown = named_products(catalogue, tracker)
    return unknown_product(unknown) if unknown and not found else None


class ListingAction(PersonalizedAction):
    """An answer that lists catalogue products: a message naming only a thing the
    catalogue lacks is told so first."""

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        return unknown_only(self.services.products, tracker) or await self.listing(
            resolution, tracker
        )

    async def listing(self, resolution: Resolution, tracker: Tracker) -> Ask:
        raise NotImplementedError


class ActionRecommendProducts(ListingAction):
    def name(self) -> str:
        return "action_recommend_products"

    async def listing(self, resolution: Resolution, tracker: Tracker) -> Ask:
        """Without a category named, the shopper's own history answers: what goes with a
        recent purchase, the category they were looking at, their favourite, their last
        order's; a placed shopper with no history gets their segment's picks across the
        shop. Only a shopper nobody has placed yet is asked back."""
        profile, facts = resolution.profile, resolution.facts
        category = requested_category(tracker, carry_over=True) or next(
            (
                c
                for c in (
                    facts.companion(self.services.clock()),
                    profile.recent_category,
                    facts.favourite_category or profile.favourite_category,
                    facts.last_order_category,
                )
                if c
            ),
            None,
        )
        if category is None and not resolution.traits.placed:
            return Ask("ask_category")
        return Ask(
            "recommend", category=category, decision=True, follow_up="offer_deals", cards=True
        )


class ActionShowDeals(ListingAction):
    def name(self) -> str:
        return "action_show_deals"

    async def listing(self, resolution: Resolution, tracker: Tracker) -> Ask:
        # "Yes" to the offer after a recommendation means that category's deals.
        carry_over = latest_intent(tracker) == "affirm"
        return Ask(
            "deals", category=requested_category(tracker, carry_over), decision=True, cards=True
        )


class ActionShowNewArrivals(ListingAction):
    def name(self) -> str:
        return "action_show_new_arrivals"

    async def listing(self, resolution: Resolution, tracker: Tracker) -> Ask:
        return Ask("new_arrivals", category=requested_category(tracker), decision=True, cards=True)


class ActionShowSpecs(PersonalizedAction):
    def name(self) -> str:
        return "action_show_specs"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        name = next(tracker.get_latest_entity_values("product"), None) or tracker.get_slot(
            "product"
        )
        name = name if isinstance(name, str) else None
        products = self.services.products
        product = products.match(name) or next(iter(products.mentioned(latest_text(tracker))), None)
        if product is None:
            if name:
                return unknown_product(name)
            return Ask("ask_product")
        return Ask("specs", product=product)


class ActionGreet(PersonalizedAction):
    """The greeting, in the persona's words and the user's time of day."""

    def name(self) -> str:
        return "action_greet"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        return Ask("greet")
