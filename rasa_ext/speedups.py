"""Rasa's per-turn costs that rasa_ext removes, each a contained swap backed by a profile.

    validation    action-server answers checked by a validator prepared once
    event_types   event classes found in a table, not by walking the class tree per event

The tracker store's own savings (one read per save, events streamed in one
round trip) live in rasa_ext/stores.py. Installed when the REST channel or the
tracker store is created; ``PZ_RASA_SPEEDUPS=0`` keeps stock Rasa, which is what
the benchmark's baseline runs (bench/turns.py).
"""

from __future__ import annotations

import logging

from rasa_ext import event_types, validation

logger = logging.getLogger(__name__)


def install(enabled: bool = True) -> dict[str, bool]:
    """Install every speed-up (idempotent) unless not `enabled` (PZ_RASA_SPEEDUPS=0,
    core/settings.py); which ones are active."""
    if not enabled:
        logger.info("PZ_RASA_SPEEDUPS=0: stock Rasa")
        return {"validation": False, "event_types": False}
    return {"validation": validation.install(), "event_types": event_types.install()}


def uninstall() -> None:
    validation.uninstall()
    event_types.uninstall()
