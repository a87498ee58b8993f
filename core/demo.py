"""The demo users `make run` seeds, one per persona, so a newcomer can try every persona.

The gateway's demo login signs in as them; `voltmart-demo-users` (tools/demo_users.py)
writes them. Their contact details are made up (the .invalid domain never resolves).
"""

from __future__ import annotations

from core.personas import (
    BARGAIN_HUNTER,
    CASUAL_BROWSER,
    FREQUENT_BUYER,
    NEW_VISITOR,
    TECH_ENTHUSIAST,
)

DEMO_USERS: dict[str, dict[str, str]] = {
    "user_frequent": {"segment": FREQUENT_BUYER, "favourite_category": "smartphones"},
    "user_bargain": {"segment": BARGAIN_HUNTER, "favourite_category": "headphones"},
    "user_enthusiast": {"segment": TECH_ENTHUSIAST, "favourite_category": "laptops"},
    "user_casual": {"segment": CASUAL_BROWSER, "favourite_category": "smart_home"},
    "user_newcomer": {"segment": NEW_VISITOR},
}
DEMO_CONTACTS: dict[str, dict[str, str]] = {
    sender: {"name": f"Demo {sender.split('_')[1].title()}", "email": f"{sender}@demo.invalid"}
    for sender in DEMO_USERS
}
