"""Purchases and add-to-carts as conversions, against a real Redis and the real worker: the
decision logged before them (within the attribution window) is rewarded once, the user's
experiment exposures convert, replays change nothing, and users without consent get nothing.
"""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from core.redis_keys import UserKeys
from core.settings import Settings, SettingsError
from experiments.assignment import Experiment
from experiments.config import ExperimentSpec
from experiments.decisions import Decision, DecisionStore, bandit_key
from experiments.exposures import ExposureStore, conversions_key
from experiments.policy import ArmChooser
from privacy.consent import GRANTED, record_consent
from realtime.processing import FeatureWorker
from realtime.sources import RedisStreamSource
from realtime.stream import cart_event, purchase_event
from realtime.worker import attribution_chooser
from tests.realtime.test_worker import add, drain, live

T0 = 1_796_000_000.0
WINDOW_S = 3600
ARMS = ("base", "savings")
# Everyone is in each experiment (one variant only), so exposure never depends on the hash.
BUYS = ExperimentSpec(Experiment("buys", ARMS, (1.0, 0.0)), {"purchase": "any"}, ())
CARTS = ExperimentSpec(Experiment("carts", ARMS, (1.0, 0.0)), {"add_to_cart": "any"}, ())
LIKES = ExperimentSpec(Experiment("likes", ARMS, (1.0, 0.0)), {"feedback": "positive"}, ())


class Shop:
    """A namespace with the stores the action server writes and a worker that reads them."""

    def __init__(self, client, ns: str) -> None:
        self.client, self.ns, self.stream = client, ns, f"{ns}:events"
        self.decisions = DecisionStore(client, ns)
        self.exposures = ExposureStore(client, ns)
        specs = {spec.key: spec for spec in (BUYS, CARTS, LIKES)}
        self.chooser = ArmChooser(self.decisions, self.exposures, specs)

    async def consent(self, user: str, status: str = GRANTED) -> None:
        await record_consent(self.client, self.ns, user, status, "rest")

    async def exposed(self, user: str, at: float = T0) -> None:
        for spec in (BUYS, CARTS, LIKES):
            await self.exposures.expose(spec, user, "bargain_hunter", now=at)

    async def decide(self, user: str, at: float, arm: str = "savings") -> Decision:
        decision = Decision(
            user, "bargain_hunter", "recommend", "v1", arm, "bandit", 0.5, ARMS, ts=at
        )
        await self.decisions.record(decision)
        return decision

    def worker(self, consumer: str = "w1", **options) -> tuple[FeatureWorker, RedisStreamSource]:
        source = RedisStreamSource(self.client, self.stream, consumer=consumer)
        options.setdefault("attribution_window_s", WINDOW_S)
        return FeatureWorker(source, self.client, self.ns, chooser=self.chooser, **options), source

    async def run(self, *events, **options) -> FeatureWorker:
        await add(self.client, self.stream, *events)
        worker, source = self.worker(**options)
        await source.ensure_group()
        await drain(worker, source)
        return worker

    async def decision(self, decision: Decision) -> dict[str, str]:
        raw = await self.client.hgetall(self.decisions.key(decision.id))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def successes(self, arm: str = "savings") -> float:
        value = await self.client.hget(bandit_key(self.ns, "v1", "bargain_hunter"), f"{arm}:s")
        return float(value or 0)

    async def converted(self, spec: ExperimentSpec) -> dict[str, float]:
        raw = await self.client.hgetall(conversions_key(self.ns, spec.key))
        return {k.decode(): float(v) for k, v in raw.items()}


class DiesWhileAttributing:
    """The process is killed after the live features were applied, before attribution."""

    async def attribute(self, *args):
        raise SystemExit("killed")


@pytest.fixture
async def shop(redis_url):
    ns = f"a{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(redis_url)
    yield Shop(client, ns)
    keys = [key async for key in client.scan_iter(match=f"{ns}:*", count=1000)]
    if keys:
        await client.unlink(*keys)
    await client.close()


async def test_a_purchase_in_the_window_rewards_the_decision_before_it_and_converts(shop):
    await shop.consent("ann")
    await shop.exposed("ann")
    older = await shop.decide("ann", T0 + 10, arm="base")
    latest = await shop.decide("ann", T0 + 20)
    after = await shop.decide("ann", T0 + 500)  # made after the purchase: not its cause

    worker = await shop.run(purchase_event("ann", 99.0, "laptops", timestamp=T0 + 100))

    rewarded = await shop.decision(latest)
    assert (rewarded["reward"], rewarded["conversion"]) == ("1", "purchase")
    assert float(rewarded["converted_at"]) == T0 + 100
    assert "reward" not in await shop.decision(older)
    assert "reward" not in await shop.decision(after)
    assert await shop.successes("savings") == 1 and await shop.successes("base") == 0
    assert await shop.converted(BUYS) == {"ann": T0 + 100}  # at the purchase's time
    assert await shop.converted(CARTS) == {} and await shop.converted(LIKES) == {}
    assert worker.stats.attributions == {"rewarded": 1} and worker.stats.conversions == 1
    assert (await live(shop.client, shop.ns, "ann"))["purchases"] == "1"


async def test_an_add_to_cart_rewards_like_a_purchase_and_keeps_purchase_features(shop):
    await shop.consent("bea")
    await shop.exposed("bea")
    decision = await shop.decide("bea", T0 + 10)

    worker = await shop.run(
        purchase_event("bea", 20.0, "phones", timestamp=T0 + 5),
        cart_event("bea", "Voltbook Pro 14", "laptops", 3, timestamp=T0 + 60),
        cart_event("bea", "Voltbuds", "", 1, timestamp=T0 + 70),
    )

    assert (await shop.decision(decision))["conversion"] == "add_to_cart"
    assert await shop.successes() == 1  # the second cart finds it rewarded already
    assert await shop.converted(CARTS) == {"bea": T0 + 60}
    assert await shop.converted(BUYS) == {}  # the purchase came before any decision
    assert worker.stats.attributions == {"unattributed": 1, "rewarded": 1, "already_rewarded": 1}
    bea = await live(shop.client, shop.ns, "bea")
    assert (bea["cart_adds"], bea["cart_items"], bea["last_cart_category"]) == ("2", "4", "laptops")
    assert float(bea["last_cart"]) == T0 + 70 and float(bea["last_seen"]) == T0 + 70
    # Purchase features keep their meaning: a cart is not a purchase.
    assert (bea["purchases"], bea["last_category"], float(bea["monetary"])) == ("1", "phones", 20)
    assert float(bea["last_purchase"]) == T0 + 5


async def test_outside_the_window_or_without_a_decision_nothing_is_rewarded_but_counted(shop):
    for user in ("cal", "dee"):
        await shop.consent(user)
        await shop.exposed(user)
    decision = await shop.decide("cal", T0)

    worker = await shop.run(
        purchase_event("cal", 10.0, timestamp=T0 + WINDOW_S + 1),
        cart_event("dee", timestamp=T0 + 5),  # dee has no decision at all
    )

    assert "reward" not in await shop.decision(decision)
    assert await shop.successes() == 0
    assert await shop.converted(BUYS) == {} and await shop.converted(CARTS) == {}
    assert worker.stats.attributions == {"unattributed": 2} and worker.stats.conversions == 0
    assert worker.stats.applied == 2  # the features still count the events


async def test_a_longer_window_reaches_further_back(shop):
    await shop.consent("eli")
    decision = await shop.decide("eli", T0)
    await shop.run(
        purchase_event("eli", 10.0, timestamp=T0 + 2 * 86400), attribution_window_s=3 * 86400
    )
    assert (await shop.decision(decision))["reward"] == "1"


async def test_replaying_an_entry_after_a_crash_does_not_reward_twice(shop):
    await shop.consent("fox")
    await shop.exposed("fox")
    first = await shop.decide("fox", T0 + 10)
    await add(shop.client, shop.stream, purchase_event("fox", 10.0, timestamp=T0 + 1000))
    crashed, source = shop.worker()
    await source.ensure_group()

    async def no_ack(ids):  # the process dies after attributing, before acknowledging
        raise SystemExit("killed")

    source.ack = no_ack
    with pytest.raises(SystemExit):
        await crashed.process(await source.read(100, 50))
    # A decision logged meanwhile, but before the purchase's time, must not take a reward
    # from the replay either.
    meanwhile = await shop.decide("fox", T0 + 500)

    restarted, again = shop.worker()
    await drain(restarted, again)

    assert await shop.successes() == 1
    assert (await shop.decision(first))["reward"] == "1"
    assert "reward" not in await shop.decision(meanwhile)
    assert restarted.stats.duplicates == 1 and restarted.stats.attributions == {"replayed": 1}
    assert await shop.converted(BUYS) == {"fox": T0 + 1000}
    assert (await shop.client.xpending(shop.stream, "features"))["pending"] == 0


async def test_a_crash_between_applying_and_attributing_is_made_good_by_the_replay(shop):
    await shop.consent("gia")
    await shop.exposed("gia")
    decision = await shop.decide("gia", T0 + 10)
    await add(shop.client, shop.stream, purchase_event("gia", 10.0, timestamp=T0 + 100))
    crashed, source = shop.worker()
    await source.ensure_group()

    crashed.chooser = DiesWhileAttributing()
    with pytest.raises(SystemExit):
        await crashed.process(await source.read(100, 50))
    assert (await live(shop.client, shop.ns, "gia"))["purchases"] == "1"  # applied
    assert "reward" not in await shop.decision(decision)

    restarted, again = shop.worker()
    await drain(restarted, again)
    assert (await shop.decision(decision))["reward"] == "1" and await shop.successes() == 1
    assert (await live(shop.client, shop.ns, "gia"))["purchases"] == "1"  # counted once


async def test_without_consent_nothing_is_recorded(shop):
    await shop.consent("hal", "denied")
    decisions = {}
    for user in ("hal", "ivo"):  # ivo was never asked
        await shop.exposed(user)
        decisions[user] = await shop.decide(user, T0 + 10)

    worker = await shop.run(
        purchase_event("hal", 10.0, timestamp=T0 + 100),
        cart_event("ivo", timestamp=T0 + 100),
    )

    for decision in decisions.values():
        assert "reward" not in await shop.decision(decision)
    assert await shop.successes() == 0
    assert await shop.converted(BUYS) == {} and await shop.converted(CARTS) == {}
    assert worker.stats.not_kept == 2 and worker.stats.attributions == {}
    for user in decisions:
        assert await shop.client.exists(UserKeys(shop.ns).live(user)) == 0


async def test_a_broken_index_key_is_counted_and_does_not_stall_the_stream(shop):
    await shop.consent("jon")
    await shop.consent("kim")
    await shop.client.set(shop.decisions.index_key("jon"), "not a sorted set")
    decision = await shop.decide("kim", T0 + 10)

    worker = await shop.run(
        purchase_event("jon", 10.0, timestamp=T0 + 100),
        purchase_event("kim", 10.0, timestamp=T0 + 100),
    )

    assert worker.stats.attributions == {"failed": 1, "rewarded": 1}
    assert (await shop.decision(decision))["reward"] == "1"
    assert (await shop.client.xpending(shop.stream, "features"))["pending"] == 0


async def test_the_worker_entry_point_wires_the_stores_and_the_window(shop, tmp_path):
    settings = Settings.from_env({"PZ_EXPERIMENTS_FILE": str(tmp_path / "none.yml")})
    chooser = attribution_chooser(shop.client, shop.ns, settings)
    assert chooser.experiments == {} and chooser.decisions.namespace == shop.ns
    await shop.consent("lea")
    decision = await shop.decide("lea", T0)
    shop.chooser = chooser
    await shop.run(purchase_event("lea", 10.0, timestamp=T0 + 60))
    assert (await shop.decision(decision))["reward"] == "1"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 86400), ("3600", 3600), (" 60 ", 60), ("2592000", 2592000)]
)
def test_attribution_window_setting(value, expected):
    env = {} if value is None else {"PZ_ATTRIBUTION_WINDOW_S": value}
    assert Settings.from_env(env).attribution_window_s == expected


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "a day", "2592001"])
def test_a_bad_attribution_window_is_one_line_naming_the_variable(value):
    with pytest.raises(SettingsError) as failure:
        Settings.from_env({"PZ_ATTRIBUTION_WINDOW_S": value})
    message = str(failure.value)
    assert message.startswith(f"PZ_ATTRIBUTION_WINDOW_S={value!r} ") and "\n" not in message
