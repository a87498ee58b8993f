"""Product recommendations, deals, new arrivals and specs, each in the user's persona."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.base import PersonalizedAction
from actions.turns import requested_category
from personalization.profiles import Profile
from personalization.responder import Ask


class ActionRecommendProducts(PersonalizedAction):
    def name(self) -> str:
        return "action_recommend_products"

    def ask(self, profile: Profile, tracker: Tracker) -> Ask:
        category = (
            requested_category(tracker) or profile.recent_category or profile.favourite_category
        )
        if category is None:
            return Ask("ask_category")
        return Ask("recommend", category=category, decision=True, follow_up="offer_deals")


class ActionShowDeals(PersonalizedAction):
    def name(self) -> str:
        return "action_show_deals"

    def ask(self, profile: Profile, tracker: Tracker) -> Ask:
        return Ask("deals", category=requested_category(tracker), decision=True)


class ActionShowNewArrivals(PersonalizedAction):
    def name(self) -> str:
        return "action_show_new_arrivals"

    def ask(self, profile: Profile, tracker: Tracker) -> Ask:
        return Ask("new_arrivals", category=requested_category(tracker), decision=True)


class ActionShowSpecs(PersonalizedAction):
    def name(self) -> str:
        return "action_show_specs"

    def ask(self, profile: Profile, tracker: Tracker) -> Ask:
        name = next(tracker.get_latest_entity_values("product"), None) or tracker.get_slot(
            "product"
        )
        name = name if isinstance(name, str) else None
        product = self.services.products.find(name)
        if product is None:
            if name:
                return Ask("unknown_product", values={"typed": name[:60]})
            return Ask("ask_product")
        return Ask("specs", product=product)


class ActionGreet(PersonalizedAction):
    """The greeting, in the persona's words and the user's time of day."""

    def name(self) -> str:
        return "action_greet"

    def ask(self, profile: Profile, tracker: Tracker) -> Ask:
        return Ask("greet")
