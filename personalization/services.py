"""The parts every action uses, built once per action server from the settings and shared.

`build_services` is the composition root: the action server calls it at start-up and hands
the result to each action's constructor; tests pass their own parts (a store in a private
namespace, a chooser without Redis, a fixed clock) and get real ones for the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.products import ProductCatalogue, load_products
from core.settings import Settings
from experiments.policy import ArmChooser, chooser_for
from experiments.surveys import SurveyStore
from generation.client import Generator
from generation.config import load_generator_config
from personalization.responder import Responder
from personalization.store import ProfileStore
from privacy.keyring import Keyring, service_keyring
from responses.engine import ResponseEngine
from responses.live_catalogue import CatalogueFile

_UNSET = object()  # "build the default" for parts where None is a real choice


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: ProfileStore
    products: ProductCatalogue
    engine: ResponseEngine
    chooser: ArmChooser
    responder: Responder
    keyring: Keyring
    clock: Callable[[], float] = time.time
    # Survey answers beside the decisions they rate; None without a decision log.
    surveys: SurveyStore | None = None

    @property
    def generator(self) -> Generator | None:
        return self.responder.generator

    async def close(self) -> None:
        if self.generator is not None:
            await self.generator.close()
        await self.store.close()


def build_chooser(settings: Settings, store: ProfileStore) -> ArmChooser:
    """Experiments and bandit beside the store's Redis; the experiments file is read once.
    Not per user: on the standalone Redis beside a cluster (core/redis_clients.py)."""
    return chooser_for(store.shared_client, store.namespace, settings.paths.experiments)


def build_generator(
    settings: Settings, store: ProfileStore, products: ProductCatalogue
) -> Generator | None:
    """The optional generator from endpoints.yml (off unless `generator.enabled`)."""
    config = load_generator_config(
        settings.paths.endpoints, settings.generator_enabled, settings.env
    )
    if config is None:
        return None

    async def count(reason: str) -> None:  # shared by every process, for dashboards
        async with asyncio.timeout(store.timeout):
            await store.shared_client.hincrby(f"{store.namespace}:gen:outcomes", reason, 1)

    return Generator(config, [p.name for p in products.products], on_outcome=count)


def build_services(
    settings: Settings,
    *,
    store: ProfileStore | None = None,
    products: ProductCatalogue | None = None,
    engine: ResponseEngine | None = None,
    chooser: ArmChooser | None = None,
    generator: Generator | object | None = _UNSET,
    keyring: Keyring | None = None,
    clock: Callable[[], float] = time.time,
) -> Services:
    """Every part from `settings`, except those given. Broken catalogues, experiments or
    generator settings raise their one-line errors here, before a user is answered."""
    keyring = keyring or service_keyring(settings)
    store = store or ProfileStore.from_settings(settings, keyring.pseudonym_key)
    if products is None:
        products = engine.products if engine is not None else load_products()
    if engine is None:
        engine = ResponseEngine(CatalogueFile(settings.paths.responses), products)
    chooser = chooser or build_chooser(settings, store)
    if generator is _UNSET:
        generator = build_generator(settings, store, products)
    responder = Responder(engine, chooser, generator, store.timeout)
    decisions = chooser.decisions
    surveys = None if decisions is None else SurveyStore(decisions.client, decisions.namespace)
    return Services(settings, store, products, engine, chooser, responder, keyring, clock, surveys)
