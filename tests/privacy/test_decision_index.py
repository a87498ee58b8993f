"""The per-user decision index purchases are attributed through (experiments/decisions.py),
against a real Redis: its name holds no id, yet the audit finds it, the export shows it and
erasure deletes it with its `:seen` hash, leaving other users' alone."""

from __future__ import annotations

from core.redis_keys import decision_index_key, decision_seen_key
from experiments.decisions import Decision, DecisionStore
from privacy.audit import find_traces
from privacy.erasure import Eraser
from privacy.export import export_user
from tests.privacy.conftest import PSEUDONYM_KEY

T0 = 1_796_000_000.0
ALICE, BOB = "alice:42@example", "bob"


async def attributed(store: DecisionStore, user: str, entry: str) -> Decision:
    """A logged answer for `user`, then a purchase that rewards it (the worker's call)."""
    decision = Decision(
        user, "bargain_hunter", "recommend", "v", "base", "bandit", 0.5, ("b",), ts=T0
    )
    await store.record(decision)
    outcome = await store.attribute(user, "purchase", T0 + 60, 3600, entry)
    assert (outcome.status, outcome.decision) == ("rewarded", decision.id)
    return decision


async def test_erasure_deletes_the_decision_index_and_its_seen_hash(ns):
    namespace, client = ns
    store = DecisionStore(client, namespace)
    decision = await attributed(store, ALICE, "1700-0")
    await attributed(store, BOB, "1700-1")
    index, seen = decision_index_key(namespace, ALICE), decision_seen_key(namespace, ALICE)
    assert store.index_key(ALICE) == index  # the store names it the way core does
    assert ALICE not in index and await client.exists(index, seen) == 2
    before = await find_traces(client, [ALICE], f"{namespace}:*")
    assert {f"{index} (zset)", f"{seen} (hash)"} <= set(before)
    exported = (await export_user(client, namespace, ALICE, None))["attribution"]
    assert exported == {
        "latest_decisions": {decision.id: T0},
        "attributed_events": {"1700-0": decision.id},
    }

    receipt = await Eraser(client, namespace, pseudonym_key=PSEUDONYM_KEY).erase([ALICE])

    assert receipt[ALICE]["decision_index"] == 2
    assert await client.exists(index, seen) == 0
    assert await find_traces(client, [ALICE], f"{namespace}:*") == []
    assert (await export_user(client, namespace, ALICE, None))["attribution"] is None
    bob = (decision_index_key(namespace, BOB), decision_seen_key(namespace, BOB))
    assert await client.exists(*bob) == 2
