"""Store policies: Rasa's ResponseSelector answers with the policy (utter_policy, data in
domain.yml); this action adds what differs for this shopper, or says it may have picked
the wrong policy."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.base import PersonalizedAction
from personalization.resolution import Resolution
from personalization.responder import Ask
from shop.perks import SURE, other_policies, perk, selected_policy


class ActionPolicyForYou(PersonalizedAction):
    asks_consent = False  # the answer was Rasa's; a consent question would bury it

    def name(self) -> str:
        return "action_policy_for_you"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask | None:
        selected = selected_policy(tracker.latest_message)
        if selected.confidence < SURE:  # no quick replies: "/policy" skips the selector
            return Ask("policy_unsure", values={"others": other_policies(selected.policy)})
        found = perk(selected.policy, resolution.facts, resolution.personalized)
        if found is None:
            return None
        key, values = found
        return Ask(key, values=values)
