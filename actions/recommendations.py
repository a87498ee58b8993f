"""Product recommendations, deals, new arrivals and specs, each in the user's persona."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.base import PersonalizedAction, requested_category
from actions.context import message_context
from actions.profiles import Profile
from actions.render import (
    DEALS,
    NEW_ARRIVALS,
    RECOMMEND,
    render_ask_category,
    render_listing,
    render_specs,
    render_unknown_product,
)


class ActionRecommendProducts(PersonalizedAction):
    def name(self) -> str:
        return "action_recommend_products"

    def answer(self, profile: Profile, tracker: Tracker) -> str:
        category = (
            requested_category(tracker) or profile.recent_category or profile.favourite_category
        )
        if category is None:
            return render_ask_category(profile.segment)
        compact = message_context(tracker).compact
        return render_listing(RECOMMEND, profile.segment, self.catalogue, category, compact)


class ActionShowDeals(PersonalizedAction):
    def name(self) -> str:
        return "action_show_deals"

    def answer(self, profile: Profile, tracker: Tracker) -> str:
        return render_listing(
            DEALS,
            profile.segment,
            self.catalogue,
            requested_category(tracker),
            message_context(tracker).compact,
        )


class ActionShowNewArrivals(PersonalizedAction):
    def name(self) -> str:
        return "action_show_new_arrivals"

    def answer(self, profile: Profile, tracker: Tracker) -> str:
        return render_listing(
            NEW_ARRIVALS,
            profile.segment,
            self.catalogue,
            requested_category(tracker),
            message_context(tracker).compact,
        )


class ActionShowSpecs(PersonalizedAction):
    def name(self) -> str:
        return "action_show_specs"

    def answer(self, profile: Profile, tracker: Tracker) -> str:
        name = next(tracker.get_latest_entity_values("product"), None) or tracker.get_slot(
            "product"
        )
        product = self.catalogue.find(name if isinstance(name, str) else None)
        if product is None:
            return render_unknown_product(name if isinstance(name, str) else None, self.catalogue)
        return render_specs(profile.segment, product)
