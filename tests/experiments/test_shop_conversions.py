"""Experiments that convert on a purchase or an add-to-cart: experiments.yml names them, bad
values are one-line errors, and the feature worker's attribution path converts them."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from core.settings import Settings
from experiments.config import ANY_EVENT, ExperimentConfigError, load_experiments
from experiments.decisions import Decision
from experiments.exposures import conversions_key
from experiments.policy import ANY
from privacy.consent import GRANTED, record_consent
from realtime.processing import FeatureWorker
from realtime.sources import RedisStreamSource
from realtime.stream import purchase_event
from realtime.worker import attribution_chooser
from tests.realtime.test_worker import add, drain

T0 = 1_796_000_000.0
# Everyone is in both experiments and sees base, so exposure never depends on the hash.
SHOP = """experiments:
  - key: buy-copy
    response: recommend
    variants: {base: 1.0, savings: 0.0}
    conversion: {purchase: any}
  - key: cart-copy
    response: recommend
    variants: {base: 1.0, savings: 0.0}
    conversion: {add_to_cart: any}
"""


def write(tmp_path, text):
    path = tmp_path / "experiments.yml"
    path.write_text(text)
    return path


def test_purchase_and_add_to_cart_conversions_load(tmp_path):
    specs = load_experiments(write(tmp_path, SHOP))
    assert specs["buy-copy"].conversion == {"purchase": "any"}
    assert specs["cart-copy"].conversion == {"add_to_cart": "any"}


def test_the_config_value_is_the_one_attribution_matches():
    assert ANY_EVENT == ANY


@pytest.mark.parametrize(
    ("conversion", "message"),
    [
        ("{purchase: all}", "'conversion' purchase takes 'any' (every purchase counts), not 'all'"),
        ("{purchase: yes}", "purchase takes 'any' (every purchase counts), not True"),
        ("{purchase: }", "purchase takes 'any' (every purchase counts), not None"),
        ("{add_to_cart: 2}", "add_to_cart takes 'any' (every add-to-cart counts), not 2"),
        ("{purchase: any, intent: affirm}", "{purchase: any} stands alone"),
        ("{feedback: positive, add_to_cart: any}", "{add_to_cart: any} stands alone"),
        ("{checkout: any}", "must be {intent: <name>}, {feedback: positive}, {purchase: any}"),
    ],
)
def test_a_bad_shop_conversion_is_refused_in_one_line(tmp_path, conversion, message):
    path = write(tmp_path, SHOP.replace("{purchase: any}", conversion))
    with pytest.raises(ExperimentConfigError) as err:
        load_experiments(path)
    text = str(err.value)
    assert text.startswith(f"{path}, line 2: experiment 'buy-copy': ") and message in text
    assert "\n" not in text


async def test_the_worker_converts_an_experiment_that_converts_on_purchase(tmp_path, redis_url, ns):
    client = aioredis.Redis.from_url(redis_url)
    settings = Settings.from_env({"PZ_EXPERIMENTS_FILE": str(write(tmp_path, SHOP))})
    chooser = attribution_chooser(client, ns, settings)  # as voltmart-worker builds it
    assert set(chooser.experiments) == {"buy-copy", "cart-copy"}
    await record_consent(client, ns, "ann", GRANTED, "rest")
    for spec in chooser.experiments.values():
        assert await chooser.exposures.expose(spec, "ann", "bargain_hunter", now=T0)
    arms = ("base", "savings")
    decision = Decision(
        "ann", "bargain_hunter", "recommend", "v1", "base", "experiment", 1.0, arms, ts=T0 + 10
    )
    await chooser.decisions.record(decision)
    stream = f"{ns}:events"
    await add(client, stream, purchase_event("ann", 49.0, "phones", timestamp=T0 + 100))
    source = RedisStreamSource(client, stream, consumer="w1")
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns, chooser=chooser, attribution_window_s=3600)

    await drain(worker, source)

    converted = await client.hgetall(conversions_key(ns, "buy-copy"))
    assert {k.decode(): float(v) for k, v in converted.items()} == {"ann": T0 + 100}
    assert await client.hgetall(conversions_key(ns, "cart-copy")) == {}  # not a cart
    assert await client.hget(chooser.decisions.key(decision.id), "conversion") == b"purchase"
    assert worker.stats.attributions == {"rewarded": 1} and worker.stats.conversions == 1
    await client.close()
