"""Look event classes up by name in a table, not by walking the class tree per event.

Rasa 3.6 resolves every stored event's class with ``Event.resolve_by_type``,
which rebuilds the list of all ``Event`` subclasses (``all_subclasses``,
recursive, with an ``isabstract`` check each) for every single event. A turn
deserializes the stored conversation two or three times, so this was the
largest cost in the tracker store (profile: bench/results/turn_profile.json).
``install()`` answers from a name -> class table built from the same walk;
a name not in the table (an event class imported later) rebuilds the table
once and otherwise falls back to Rasa's own lookup, so the answers,
the ``topic`` special case, defaults and errors stay Rasa's.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import rasa.shared.utils.common
from rasa.shared.core.events import Event

logger = logging.getLogger(__name__)
_STOCK = Event.__dict__.get("resolve_by_type")
_lock = threading.Lock()
_table: dict[str, type[Event]] = {}


def _build() -> dict[str, type[Event]]:
    table: dict[str, type[Event]] = {}
    for cls in rasa.shared.utils.common.all_subclasses(Event):
        table.setdefault(cls.type_name, cls)  # the first match, as Rasa's loop takes
    return table


def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    cls = _table.get(type_name)
    if cls is not None:
        return cls
    with _lock:
        _table.update(_build())
    cls = _table.get(type_name)
    if cls is not None:
        return cls
    return _STOCK.__func__(type_name, default)  # topic, default or Rasa's error


resolve_by_type.cached = True  # type: ignore[attr-defined]


def installed() -> bool:
    hook: Any = Event.__dict__.get("resolve_by_type")
    return bool(getattr(getattr(hook, "__func__", None), "cached", False))


def install() -> bool:
    """Swap in the table lookup (idempotent); False, with the reason logged, if not."""
    if installed():
        return True
    if not isinstance(_STOCK, staticmethod):
        logger.warning(
            "this Rasa has no static Event.resolve_by_type; events are resolved the stock way "
            "(update rasa_ext/event_types.py)"
        )
        return False
    Event.resolve_by_type = staticmethod(resolve_by_type)
    return True


def uninstall() -> None:
    if _STOCK is not None:
        Event.resolve_by_type = _STOCK
