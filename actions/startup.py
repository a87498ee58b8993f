"""Configuration checked when the action server starts, not on a user's first turn.

rasa-sdk imports every module of the package at start-up, so importing this
one runs the check; nothing else imports it.
"""

from __future__ import annotations

import logging

from actions.defaults import endpoints_path, experiments_path
from experiments.config import ExperimentConfigError, load_experiments
from experiments.policy import load_bandit_settings
from responses.catalogue import CatalogueError
from responses.engine import default_engine
from responses.generation import GeneratorConfigError, load_generator_config

logger = logging.getLogger(__name__)


def check_configuration() -> None:
    """Load the catalogue, experiments and generator settings; exit with one line if broken."""
    try:
        default_engine()
        path = experiments_path()
        if path.exists():
            load_experiments(path)
            load_bandit_settings(path)
        load_generator_config(endpoints_path())
    except (CatalogueError, ExperimentConfigError, GeneratorConfigError) as exc:
        logger.error("%s", exc)
        raise SystemExit(f"Error: {exc}") from None


check_configuration()
