"""Who vouches for the sender of a message, and so whose cart and orders it may see.

The gateway verified the shopper's token and says so in the message metadata (`account`:
member for a signed-in shopper, guest for a guest token); Rasa's REST channel keeps that
key only when the request carries the gateway's secret (rasa_ext/channels.py), so a client
talking to Rasa directly cannot claim to be a member. Slack signs its requests, so a
Slack user is a member of the workspace. Everyone else is anonymous: a cart of their own
sender id in a separate key space, and no orders until they sign in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.redis_keys import owner_name
from core.vouching import ACCOUNT_KEY, ANONYMOUS, GUEST, MEMBER

VOUCHED = {MEMBER: "m", GUEST: "g"}
SIGNED_CHANNELS = frozenset({"slack"})  # channels whose requests are signed by the platform


@dataclass(frozen=True)
class Account:
    user_id: str
    kind: str  # member | guest | anonymous

    @property
    def owner(self) -> str:
        """The owner name of this account's cart and orders (core/redis_keys.py)."""
        space = VOUCHED.get(self.kind, "a")
        return owner_name(space, self.user_id)

    @property
    def signed_in(self) -> bool:
        """Orders are placed and shown only for a shopper we can identify."""
        return self.kind == MEMBER


def account_of(user_id: str, metadata: object, input_channel: str | None) -> Account:
    if input_channel in SIGNED_CHANNELS:
        return Account(user_id, MEMBER)
    claimed = metadata.get(ACCOUNT_KEY) if isinstance(metadata, Mapping) else None
    if claimed in VOUCHED:
        return Account(user_id, claimed)
    return Account(user_id, ANONYMOUS)
