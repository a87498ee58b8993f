"""How long each hop of a turn may take; they nest so every fault ends in an answer in time.

    gateway -> Rasa            PZ_GATEWAY_RASA_TIMEOUT_S   4.0 s  (gateway/config.py)
    Rasa REST channel answer   PZ_TURN_DEADLINE_S          3.0 s  fallback answer, counted
    Rasa -> action server      PZ_ACTION_TIMEOUT_S         2.0 s  per action call
    action server, per action  PZ_ACTION_DEADLINE_MS       1800   fallback (actions/server.py)
    generated wording (web)    generator.budget_ms.web     1500   template answer
    Redis, each call           store socket timeouts       0.1-0.5 s
    per-user lock lifetime     TICKET_LOCK_LIFETIME        60 s   > the longest bounded turn

Slack expects an answer within 3 s and retries otherwise; Rasa's Slack channel
ignores those retries, so a slow turn is answered once.

Rasa 3.6 waits up to five minutes for an action server (a hard-coded module
constant used only for action calls), so a hung action server held the user
and outlived the lock. `apply()` lowers that constant; `test_deadlines` fails
if an upgrade renames it.
"""

from __future__ import annotations

import os

import rasa.core.actions.action as rasa_action

DEFAULT_ACTION_TIMEOUT_S = 2.0
DEFAULT_TURN_DEADLINE_S = 3.0


def seconds_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < value <= 300:
        raise ValueError(f"{name}={raw!r} must be between 0 and 300 seconds")
    return value


def action_timeout() -> float:
    return seconds_env("PZ_ACTION_TIMEOUT_S", DEFAULT_ACTION_TIMEOUT_S)


def turn_deadline() -> float:
    return seconds_env("PZ_TURN_DEADLINE_S", DEFAULT_TURN_DEADLINE_S)


def apply() -> float:
    """Bound Rasa's calls to the action server; returns the timeout in seconds."""
    if not hasattr(rasa_action, "DEFAULT_REQUEST_TIMEOUT"):
        raise RuntimeError(
            "rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT is gone; "
            "update rasa_ext/deadlines.py for this Rasa version"
        )
    rasa_action.DEFAULT_REQUEST_TIMEOUT = action_timeout()
    return rasa_action.DEFAULT_REQUEST_TIMEOUT
