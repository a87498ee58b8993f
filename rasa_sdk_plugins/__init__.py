"""The package rasa-sdk imports to find plugins (rasa_sdk/plugin.py): `rasa run actions`
then serves the hardened action server (actionserver/plugin.py)."""

from __future__ import annotations

import pluggy

from actionserver import plugin


def init_hooks(manager: pluggy.PluginManager) -> None:
    manager.register(plugin)
