"""Rasa's side of the deadline table (core/settings.py Deadlines): how long Rasa waits for
the action server, and how long the REST channel waits for a turn.

Slack expects an answer within 3 s and retries otherwise; Rasa's Slack channel
ignores those retries, so a slow turn is answered once. The per-user lock lifetime
(TICKET_LOCK_LIFETIME, 60 s) outlives the longest bounded turn.

Rasa 3.6 waits up to five minutes for an action server (a hard-coded module
constant used only for action calls), so a hung action server held the user
and outlived the lock. `apply()` lowers that constant; `test_deadlines` fails
if an upgrade renames it.
"""

from __future__ import annotations

import rasa.core.actions.action as rasa_action

from core.settings import Deadlines


def apply(deadlines: Deadlines) -> float:
    """Bound Rasa's calls to the action server; returns the timeout in seconds."""
    if not hasattr(rasa_action, "DEFAULT_REQUEST_TIMEOUT"):
        raise RuntimeError(
            "rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT is gone; "
            "update rasa_ext/deadlines.py for this Rasa version"
        )
    rasa_action.DEFAULT_REQUEST_TIMEOUT = deadlines.action_call_s
    return rasa_action.DEFAULT_REQUEST_TIMEOUT
