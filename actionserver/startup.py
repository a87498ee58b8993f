"""What the action server checks and builds before it listens, so a broken configuration
stops it with one line instead of failing a user's first turn."""

from __future__ import annotations

import ipaddress

from core.settings import Settings, SettingsError
from personalization.services import Services, build_services


def check_generator_budgets(services: Services) -> None:
    """Generated wording must give up before the action's own deadline cuts it off."""
    generator = services.generator
    action_ms = services.settings.deadlines.action_s * 1000
    if generator is None:
        return
    for channel, budget_ms in generator.config.budgets_ms.items():
        if budget_ms >= action_ms:
            raise SettingsError(
                f"generator.budget_ms.{channel}={budget_ms} in {services.settings.paths.endpoints}"
                f" must be shorter than PZ_ACTION_DEADLINE_MS={action_ms:g}"
            )


def start_services(settings: Settings) -> Services:
    """Load the catalogues, experiments, generator settings and keys. Every problem is a
    one-line ValueError (CatalogueError, ExperimentConfigError, GeneratorConfigError,
    SettingsError, bad keys)."""
    services = build_services(settings)
    check_generator_budgets(services)
    return services


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
