"""The action server's user lookup on one Redis server vs. a three-node Redis Cluster.

Both get the same 20,000 published users (pseudonyms, as `segment retrain`
publishes them) with profiles and consent; the same ProfileStore code then
looks users up one at a time in alternating rounds. Reported: latency, commands
per lookup on every node (INFO commandstats: a lookup must stay one round trip
on the cluster), how users spread over the nodes, and the cost of switching the
active version (one pointer per bucket, 16,384 keys).

    make bench        # or: .venv/bin/python -m bench.cluster --lookups 3000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import redis

from bench.common import summary, write_result
from core.pseudonyms import pseudonym
from core.redis_clients import sync_client
from core.redis_keys import UserKeys
from personalization.store import ProfileStore
from privacy.consent import GRANTED, consent_record
from segmentation.publish import Keys, publish, rollback
from tests.servers import RedisClusterServers, RedisServer

KEY = b"bench-cluster-pseudonym-key-0123456789"
NS = "pz"
PERSONAS = {"seg-01": "bargain_hunter", "seg-02": "tech_enthusiast", "seg-03": "casual_browser"}


def seed(client, users: list[str]) -> tuple[str, str]:
    """Profiles, consent and two published versions (the newest active)."""
    keys, record = UserKeys(NS, KEY), consent_record(GRANTED, "bench")
    for start in range(0, len(users), 2000):
        with client.pipeline(transaction=False) as pipe:
            for user in users[start : start + 2000]:
                pipe.hset(keys.profile(user), mapping={"segment": "new_visitor"})
                pipe.hset(keys.consent(user), mapping=record)
            pipe.execute()
    names = [pseudonym(u, KEY) for u in users]
    segments = [list(PERSONAS)[i % 3] for i in range(len(users))]
    meta = {"segments": [{"id": k, "persona": v} for k, v in PERSONAS.items()]}
    spec = {"preprocess": {}, "model": {"kind": "centroid"}, "segments": list(PERSONAS)}
    first = publish(client, names, segments, meta, spec, Keys(NS))["version"]
    second = publish(client, names, segments[::-1], meta, spec, Keys(NS))["version"]
    return first, second


def lookups_per_node(admins: list[redis.Redis]) -> list[int]:
    return [
        a.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        + a.info("commandstats").get("cmdstat_eval", {}).get("calls", 0)
        for a in admins
    ]


async def timed_lookups(store: ProfileStore, users: list[str]) -> list[float]:
    out = []
    for user in users:
        t0 = time.perf_counter()
        record = await store.get_user(user)
        out.append(time.perf_counter() - t0)
        assert record is not None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=3000, help="per round and store")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    users = [f"user-{i}" for i in range(args.users)]

    single, cluster = RedisServer("bench-single").start(), None
    try:
        cluster = RedisClusterServers("bench").start()
        setups = {
            "single": (single.url, False, single.admin_url, [single.admin_url]),
            "cluster": (
                cluster.url,
                True,
                cluster.node_url(cluster.ports[0]),
                [cluster.node_url(p) for p in cluster.ports],
            ),
        }
        result: dict = {"users": args.users, "lookups_per_round": args.lookups}
        for name, (url, is_cluster, _, admin_urls) in setups.items():
            client = sync_client(url, cluster=is_cluster, socket_timeout=30)
            versions = seed(client, users)
            t0 = time.perf_counter()
            rollback(client, versions[0], Keys(NS))
            result[f"{name}_activate_s"] = round(time.perf_counter() - t0, 3)
            client.close()
            admins = [redis.Redis.from_url(u) for u in admin_urls]
            result[f"{name}_admins"] = admins

        async def run() -> None:
            stores = {
                name: ProfileStore.from_url(
                    url,
                    timeout=2.0,
                    namespace=NS,
                    pseudonym_key=KEY,
                    cluster=is_cluster,
                    shared_url=single.url,
                )
                for name, (url, is_cluster, _, _) in setups.items()
            }
            lat = {name: [] for name in stores}
            calls = {name: 0 for name in stores}
            for store in stores.values():  # warm: scripts loaded, version known
                await timed_lookups(store, users[:200])
            for r in range(args.rounds):
                order = list(stores) if r % 2 == 0 else list(stores)[::-1]
                for name in order:
                    sample = users[(r * args.lookups) % len(users) :][: args.lookups]
                    before = lookups_per_node(result[f"{name}_admins"])
                    lat[name] += await timed_lookups(stores[name], sample)
                    after = lookups_per_node(result[f"{name}_admins"])
                    calls[name] += sum(after) - sum(before)
                    if name == "cluster":
                        result["cluster_lookups_per_node"] = [
                            a - b for a, b in zip(after, before, strict=True)
                        ]
            for name, store in stores.items():
                result[name] = summary(lat[name], 0, sum(lat[name]))
                result[name]["commands_per_lookup"] = round(calls[name] / len(lat[name]), 3)
                await store.close()

        asyncio.run(run())
    finally:
        single.destroy()
        if cluster is not None:
            cluster.destroy()
    for name in ("single", "cluster"):
        for admin in result.pop(f"{name}_admins"):
            admin.close()
    result["ratio_p50"] = round(result["cluster"]["p50_ms"] / result["single"]["p50_ms"], 2)
    result["ratio_p99"] = round(result["cluster"]["p99_ms"] / result["single"]["p99_ms"], 2)
    result["command"] = "python -m bench.cluster"
    path = write_result("cluster", result)
    print("user lookup        p50 ms   p99 ms   commands/lookup   activate s")
    for name in ("single", "cluster"):
        r = result[name]
        print(
            f"{name:16s} {r['p50_ms']:7.3f}  {r['p99_ms']:7.3f}   {r['commands_per_lookup']:10.3f}"
            f"        {result[f'{name}_activate_s']}"
        )
    print(f"cluster/single p50 {result['ratio_p50']}x, p99 {result['ratio_p99']}x; lookups per")
    print(f"node in the last round: {result.get('cluster_lookups_per_node')}\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
