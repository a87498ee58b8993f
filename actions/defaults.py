"""Process-wide parts the actions use unless a test injects its own: chooser, generator."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from rasa_sdk import Tracker

from actions.catalogue import default_catalogue
from actions.responding import Reply
from actions.store import ProfileStore
from experiments.config import load_experiments
from experiments.decisions import DecisionStore
from experiments.exposures import ExposureStore
from experiments.policy import ArmChooser, load_bandit_settings
from privacy.keys import Keyring, load_keyring
from responses.cues import Cues
from responses.generation import Generator, load_generator_config
from responses.guarding import GenerationRequest, ProductFact
from responses.listing import euros

EXPERIMENTS_FILE = Path(__file__).resolve().parent.parent / "experiments" / "experiments.yml"

_choosers: dict[int, ArmChooser] = {}


def experiments_path() -> Path:
    return Path(os.environ.get("PZ_EXPERIMENTS_FILE", str(EXPERIMENTS_FILE)))


def endpoints_path() -> str:
    return os.environ.get("PZ_ENDPOINTS_FILE", "endpoints.yml")


_generators: dict[int, Generator | None] = {}


def default_generator(store: ProfileStore) -> Generator | None:
    """The optional generator from endpoints.yml (off unless `generator.enabled`)."""
    if id(store) not in _generators:
        config = load_generator_config(endpoints_path())
        generator = None
        if config is not None:

            async def count(reason: str) -> None:  # shared by every process, for dashboards
                async with asyncio.timeout(store.timeout):
                    await store.shared_client.hincrby(f"{store.namespace}:gen:outcomes", reason, 1)

            names = [p.name for p in default_catalogue().products]
            generator = Generator(config, names, on_outcome=count)
        _generators[id(store)] = generator
    return _generators[id(store)]


def generation_request(reply: Reply, cues: Cues, tracker: Tracker) -> GenerationRequest:
    facts = tuple(
        ProductFact(p.name, euros(p.price), euros(p.deal_price) if p.on_deal else None, p.highlight)
        for p in reply.rendered.products
    )
    text = (tracker.latest_message or {}).get("text")
    return GenerationRequest(
        cues.persona,
        cues.coarse(),
        facts,
        reply.text,
        text if isinstance(text, str) else "",
        cues.channel,
    )


def default_chooser(store: ProfileStore) -> ArmChooser:
    """Experiments and bandit beside the store's Redis; the experiments file is read once."""
    if id(store) not in _choosers:
        path = experiments_path()
        experiments = load_experiments(path) if path.exists() else {}
        _choosers[id(store)] = ArmChooser(
            # Not per user: on the standalone Redis beside a cluster (actions/redis_clients.py).
            DecisionStore(store.shared_client, store.namespace),
            ExposureStore(store.shared_client, store.namespace),
            experiments,
            load_bandit_settings(path),
        )
    return _choosers[id(store)]


_keyring: list[Keyring] = []


def default_keyring() -> Keyring:
    """Encryption and pseudonym keys from the environment (development: var/secrets/)."""
    if not _keyring:
        _keyring.append(load_keyring(os.environ, allow_dev=True))
    return _keyring[0]
