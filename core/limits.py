"""Limits and fixed texts more than one process must agree on, defined once."""

from __future__ import annotations

# The longest message a user may send: the gateway's default (PZ_GATEWAY_MAX_MESSAGE_CHARS)
# and the Rasa REST channel's default (credentials.yml max_message_chars).
MAX_MESSAGE_CHARS = 2000

# What a user reads when a turn fails, says nothing or runs past its deadline, whether the
# gateway (no answer from Rasa in time) or Rasa's REST channel (rasa_ext/channels.py) notices.
TURN_FALLBACK_TEXT = "Sorry, I'm having trouble answering right now. Please try again in a moment."

# What one action answers when it fails or passes its deadline on the action server; Rasa
# then carries on with the rest of the turn.
ACTION_FALLBACK_TEXT = "Sorry, I couldn't get that answer ready just now. Could you ask me again?"

# Either apology also goes out as a custom payload beside its text, so the gateway (or any
# REST client) can count it as no real answer without matching the wording: who gave it
# ("rasa" for the channel, "action" for the action server) and why.
FALLBACK_PAYLOAD_TYPE = "fallback"
FALLBACK_SOURCES = ("rasa", "action")
FALLBACK_REASONS = ("deadline", "error", "empty")


def fallback_payload(source: str, reason: str) -> dict[str, str | int]:
    return {"voltmart": 1, "type": FALLBACK_PAYLOAD_TYPE, "source": source, "reason": reason}
