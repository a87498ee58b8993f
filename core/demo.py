"""The demo users `make run` seeds, one per persona, so a newcomer can try every persona.

Their segments come from the published model: each has a history in the generated shop
history (segmentation/shop_history.py) typical of its persona, and `voltmart-demo-users`
(tools/demo_users.py) writes the facts of that history into its profile, never a
`segment` (that field is an explicit override). The gateway's demo login signs a persona
in as its demo user. Their contact details are made up (the .invalid domain never resolves).
"""

from __future__ import annotations

from core.personas import (
    BARGAIN_HUNTER,
    CASUAL_BROWSER,
    FREQUENT_BUYER,
    NEW_VISITOR,
    TECH_ENTHUSIAST,
)

# The persona each demo user's history was written to show.
DEMO_PERSONAS: dict[str, str] = {
    "user_frequent": FREQUENT_BUYER,
    "user_bargain": BARGAIN_HUNTER,
    "user_enthusiast": TECH_ENTHUSIAST,
    "user_casual": CASUAL_BROWSER,
    "user_newcomer": NEW_VISITOR,
}
DEMO_USER_IDS: tuple[str, ...] = tuple(DEMO_PERSONAS)
# persona -> demo user, for the gateway's demo login
DEMO_SENDERS: dict[str, str] = {persona: sender for sender, persona in DEMO_PERSONAS.items()}
DEMO_CONTACTS: dict[str, dict[str, str]] = {
    sender: {"name": f"Demo {sender.split('_')[1].title()}", "email": f"{sender}@demo.invalid"}
    for sender in DEMO_USER_IDS
}
