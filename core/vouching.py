"""How a chat message says who vouched for its sender: the gateway, which verified the
shopper's token, puts `account` in the message metadata and proves it is the gateway with
a shared secret header; Rasa's REST channel (rasa_ext/channels.py) drops the key from any
request without it. shop/accounts.py turns it into whose cart and orders a turn sees."""

from __future__ import annotations

MEMBER, GUEST, ANONYMOUS = "member", "guest", "anonymous"
ACCOUNT_KEY = "account"  # the metadata key
VOUCH_HEADER = "X-PZ-Gateway-Token"  # carries PZ_GATEWAY_SECRET
GUEST_PREFIX = "guest_"  # the gateway's guest tokens are for senders named so


def account_for_subject(subject: str) -> str:
    """A token's subject is a signed-in member, unless the gateway issued it to a guest."""
    return GUEST if subject.startswith(GUEST_PREFIX) else MEMBER
