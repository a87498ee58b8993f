"""The decision store's side of attribution, against a real Redis: the per-user index of
decisions (bounded, expiring, no trace of the id in its name) and the once-only reward."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from experiments.decisions import INDEX_SIZE, Decision, DecisionStore, bandit_key

T0 = 1_796_000_000.0
ARMS = ("base", "savings")


def decision(user: str, at: float, arm: str = "savings") -> Decision:
    return Decision(user, "casual_browser", "deals", "v2", arm, "bandit", 0.5, ARMS, ts=at)


@pytest.fixture
async def store(redis_url, ns):
    client = aioredis.Redis.from_url(redis_url)
    yield DecisionStore(client, ns, ttl_s=600)
    await client.close()


async def counts(store: DecisionStore) -> dict[str, float]:
    raw = await store.client.hgetall(bandit_key(store.namespace, "v2", "casual_browser"))
    return {k.decode(): float(v) for k, v in raw.items()}


async def test_the_index_keeps_the_latest_decisions_expires_and_names_no_user(store):
    user = "mia:7@example"
    for i in range(INDEX_SIZE + 5):
        await store.record(decision(user, T0 + i))
    store.record_soon(decision(user, T0 + 100))  # the action server's batched path
    await store.flush()
    key = store.index_key(user)
    assert user not in key and key.startswith(f"{store.namespace}:dec:by:")
    assert await store.client.zcard(key) == INDEX_SIZE
    scores = [score for _, score in await store.client.zrange(key, 0, -1, withscores=True)]
    assert scores[0] == T0 + 6 and scores[-1] == T0 + 100
    assert 0 < await store.client.ttl(key) <= 600
    assert store.index_key("someone else") != key


@pytest.mark.parametrize(
    ("at", "status"),
    [
        (T0 + 10, "rewarded"),
        (T0, "rewarded"),  # the same second counts as after it
        (T0 + 60, "rewarded"),  # the window's edge
        (T0 + 61, "unattributed"),
        (T0 - 1, "unattributed"),  # before the decision
    ],
)
async def test_the_window_runs_back_from_the_event(store, at, status):
    made = decision("nia", T0)
    await store.record(made)
    outcome = await store.attribute("nia", "purchase", at, 60, "1-0")
    assert outcome.status == status
    assert outcome.decision == (made.id if status == "rewarded" else "")
    assert (await counts(store)).get("savings:s", 0) == (status == "rewarded")


async def test_feedback_first_keeps_its_reward_and_a_decision_is_rewarded_once(store):
    made = decision("oto", T0)
    await store.record(made)
    await store.feedback(made.id, "oto", "down")
    first = await store.attribute("oto", "add_to_cart", T0 + 5, 60, "1-0")
    assert (first.status, first.decision) == ("already_rewarded", made.id)
    assert await counts(store) == {"savings:f": 1.0}  # no success added
    assert (await store.client.hget(store.key(made.id), "reward")) == b"0"

    liked = decision("oto", T0 + 20, arm="base")
    await store.record(liked)
    assert (await store.attribute("oto", "purchase", T0 + 30, 60, "2-0")).status == "rewarded"
    assert (await store.attribute("oto", "purchase", T0 + 31, 60, "3-0")).status == (
        "already_rewarded"
    )
    assert (await store.feedback(liked.id, "oto", "up")).status == "rated"
    assert await counts(store) == {"savings:f": 1.0, "base:s": 1.0}  # thumbs up came second


async def test_a_seen_entry_gets_its_first_answer_and_an_erased_decision_none(store):
    assert (await store.attribute("pia", "purchase", T0, 60, "1-0")).status == "unattributed"
    made = decision("pia", T0 - 10)
    await store.record(made)  # logged late: the seen entry still had no decision
    again = await store.attribute("pia", "purchase", T0, 60, "1-0")
    assert (again.status, again.decision) == ("replayed", "")
    assert await counts(store) == {}

    await store.client.delete(store.key(made.id))  # erased or expired; the index remains
    outcome = await store.attribute("pia", "purchase", T0, 60, "2-0")
    assert (outcome.status, outcome.decision) == ("unattributed", "")
    seen = store.index_key("pia") + ":seen"
    assert 0 < await store.client.ttl(seen) <= 7 * 24 * 3600
