"""Outages under load: 20 shoppers chat through the gateway while one dependency fails.

A real stack on loopback (Redis, PostgreSQL for the conversations, the action server, one
Rasa server, the gateway with demo login) and a bounded load: 20 shoppers signed in through
the demo login, each sending a message, waiting for the answer and thinking 0.5-1 s. Six of
them have consented and have a tech-enthusiast profile (their recommendations lead with "The
most capable"), four more like them only start talking once the fault is on (their
conversation begins without anything known about them), the other ten are anonymous.

Per scenario: two seconds of normal load, the fault (injected while a message is on its
way, so turns are cut off halfway) with the load going on, the repair, and the load until
every shopper has had a real answer again and a latecomer has heard the persona (at most
POST_MAX_S). New shoppers for each scenario. Scenarios: Redis
killed (SIGKILL) for 30 s, Redis paused (SIGSTOP) for 10 s, PostgreSQL killed for 10 s, the
action server killed and restarted after 8 s, the Rasa process killed and restarted at once.

Per row: messages sent, real answers, apologies (the gateway's ``"fallback": true``),
errors, hangs (no answer within HANG_S), the share of real answers, lost messages (a real
answer whose message is not in the PostgreSQL conversation afterwards), seconds until a
latecomer hears the persona after the repair, seconds from the fault until every shopper
got real answers again, and what Rasa's metrics say (journalled, replayed, degraded turns, events
the broker lost). Asserted: nothing lost, nothing hung, and at least 99% real answers while
Redis is killed or paused; timings are only recorded. Rows: var/security/outages.json
(scripts/security_report.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import aiohttp
import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from core.redis_keys import UserKeys
from privacy.consent import consent_record
from tests.servers import (
    PSEUDONYM_KEY,
    ROOT,
    VAR,
    PostgresServer,
    RedisServer,
    Service,
    action_server,
    gateway_server,
    rasa_server,
    restartable_port,
    write_endpoints,
)

pytestmark = pytest.mark.e2e

MODEL = ROOT / "models" / "voltmart.tar.gz"
RESULTS = VAR.parent / "security" / "outages.json"
KEYS = UserKeys("pz", PSEUDONYM_KEY.encode())  # the servers' key names (PZ_PSEUDONYM_KEY)
DB = "outages"

PROFILED, LATECOMERS, ANONYMOUS = 6, 4, 10  # 20 shoppers
PERSONA = "tech_enthusiast"
PERSONA_WORDING = "The most capable"  # its recommendations' lead (responses/composition.py)
PROFILED_TEXTS = [
    "can you recommend a phone?",
    "recommend a laptop",
    "recommend me a tablet",
    "recommend headphones",
]
ANONYMOUS_TEXTS = ["hi", "recommend a phone", "any deals on laptops?", "what's new?", "thanks"]
THINK_S = (0.5, 1.0)
HANG_S = 10.0  # the gateway answers within its 4 s deadline; a request still open after 10 s hung
BASELINE_S = 2.0
POST_MAX_S = 8.0  # after the repair: until answers and the persona are back, at most this
REAL_SHARE_TARGET = 0.99  # while Redis is killed or paused
RASA_SERIES = {
    "journalled": "pz_tracker_journalled_events_total",
    "replayed": "pz_tracker_replayed_events_total",
    "degraded_turns": "pz_lock_store_degraded_turns_total",
    "broker_lost": "pz_broker_lost_events_total",
}


@dataclass(frozen=True)
class Shopper:
    sender: str
    headers: dict[str, str]
    kind: str  # profiled, latecomer, anonymous
    texts: list[str]


@dataclass
class Reply:
    sender: str
    kind: str
    text: str
    sent: float  # time.monotonic()
    done: float
    outcome: str  # real, apology, error, hung
    persona: bool  # the answer leads with the persona's wording


class Load:
    """The shoppers, each in a loop (say, wait for the answer, think), on an event loop in a
    background thread until `stop`; latecomers wait for `release_latecomers`."""

    def __init__(self, url: str, shoppers: list[Shopper]) -> None:
        self.url, self.shoppers = url, shoppers
        self.replies: list[Reply] = []
        self.in_flight: dict[str, float] = {}  # sender -> when its unanswered message left
        self.late_go = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> Load:
        self.thread.start()
        return self

    def release_latecomers(self) -> None:
        self.late_go.set()

    def mid_turn(self, wait_s: float = 5.0) -> None:
        """Wait until a message has been on its way for 50 ms (Rasa holds its turn's lock):
        the fault then cuts turns off halfway, as a real one would."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            now = time.monotonic()
            if any(now - sent > 0.05 for sent in list(self.in_flight.values())):
                return
            time.sleep(0.005)

    def stop(self) -> list[Reply]:
        self.stopping.set()
        self.late_go.set()
        self.thread.join(HANG_S + 5)
        assert not self.thread.is_alive(), "a shopper is still waiting"
        return list(self.replies)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=HANG_S)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await asyncio.gather(*(self._shop(session, s, i) for i, s in enumerate(self.shoppers)))

    async def _shop(self, session: aiohttp.ClientSession, shopper: Shopper, i: int) -> None:
        rng = random.Random(i)
        await asyncio.sleep(i * THINK_S[0] / len(self.shoppers))  # spread the first messages
        while shopper.kind == "latecomer" and not self.late_go.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        n = 0
        while not self.stopping.is_set():
            text = shopper.texts[n % len(shopper.texts)]
            n += 1
            sent = self.in_flight[shopper.sender] = time.monotonic()
            outcome, persona = await self._say(session, shopper, text)
            del self.in_flight[shopper.sender]
            reply = Reply(
                shopper.sender, shopper.kind, text, sent, time.monotonic(), *(outcome, persona)
            )
            self.replies.append(reply)
            await asyncio.sleep(rng.uniform(*THINK_S))

    async def _say(
        self, session: aiohttp.ClientSession, shopper: Shopper, text: str
    ) -> tuple[str, bool]:
        try:
            async with session.post(
                f"{self.url}/v1/chat", json={"message": text}, headers=shopper.headers
            ) as resp:
                body = await resp.json(content_type=None)
                status = resp.status
        except TimeoutError:
            return "hung", False
        except (aiohttp.ClientError, ValueError):
            return "error", False
        if status != 200 or not isinstance(body, dict) or not body.get("messages"):
            return "error", False
        if body.get("fallback"):
            return "apology", False
        words = " ".join(m.get("text") or "" for m in body["messages"])
        return "real", PERSONA_WORDING in words


@dataclass
class Stack:
    redis: RedisServer
    postgres: PostgresServer
    actions: Service
    rasa: Service
    rasa_port: int
    gateway_port: int
    rows: dict[str, dict] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def db(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url, decode_responses=True)

    def shoppers(self) -> list[Shopper]:
        """20 new shoppers through the demo login; the consented ones get their profile."""
        kinds = ["profiled"] * PROFILED + ["latecomer"] * LATECOMERS + ["anonymous"] * ANONYMOUS
        out = []
        for kind in kinds:
            login = requests.post(f"{self.url}/demo/login", json={"persona": "default"}, timeout=10)
            login.raise_for_status()
            sender = login.json()["sender"]
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            texts = ANONYMOUS_TEXTS
            if kind != "anonymous":  # as tests/test_e2e.py makes a returning customer
                self.db.hset(KEYS.profile(sender), mapping={"segment": PERSONA})
                self.db.hset(KEYS.consent(sender), mapping=consent_record("granted", "rest"))
                texts = PROFILED_TEXTS
            out.append(Shopper(sender, headers, kind, texts))
        return out

    def user_texts(self, sender: str) -> list[str]:
        events = self.postgres.events(DB, sender)
        return [e.get("text") for e in events if e.get("event") == "user"]

    def rasa_metrics(self) -> dict[str, float]:
        try:
            text = requests.get(
                f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/metrics", timeout=5
            ).text
        except requests.RequestException:
            return {}
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
        return {k: sum(s.value for s in samples if s.name == n) for k, n in RASA_SERIES.items()}

    def gateway_fallbacks(self) -> Counter:
        text = requests.get(f"{self.url}/metrics", timeout=5).text
        return Counter(
            {
                s.labels.get("reason", "?"): s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "gateway_fallbacks_total"
            }
        )


def start_all(services: list[Service], timeout: float) -> None:
    """Start the services at once (Rasa spends most of a minute loading its model)."""
    with ThreadPoolExecutor(len(services)) as pool:
        for done in [pool.submit(service.start, timeout) for service in services]:
            done.result()


def kill(service: Service) -> None:
    """SIGKILL the service's process group: a crash, no clean shutdown."""
    assert service.proc is not None
    os.killpg(service.proc.pid, signal.SIGKILL)
    service.proc.wait(10)


def restart(service: Service, timeout: float) -> None:
    service.log = service.log.with_name(f"{service.name}-restarted.log")  # keep the first log
    service.start(timeout=timeout)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL.relative_to(ROOT)} is missing: run 'make train' first")
    server = RedisServer("outages").start()
    postgres = PostgresServer("outages").start()
    postgres.database(DB)
    # Restarted on the same ports by the scenarios.
    actions_port, rasa_port, gateway_port = (restartable_port() for _ in range(3))
    endpoints = write_endpoints(
        VAR / "outage-endpoints.yml", actions_port, server, postgres=postgres, db=DB
    )
    actions = action_server(actions_port, server.url, name="outage-actions")
    rasa = rasa_server(rasa_port, endpoints, name="outage-rasa", PZ_REDIS_URL=server.url)
    gateway = gateway_server(
        gateway_port,
        rasa_port,
        server.url,
        VAR / "outage-secrets",
        name="outage-gateway",
        PZ_GATEWAY_RATE_ADDRESS="100000/10",  # every shopper comes from 127.0.0.1
        PZ_GATEWAY_RATE_USER="100000/10",
    )
    services = [actions, rasa, gateway]
    try:
        start_all(services, timeout=240)
        yield Stack(server, postgres, actions, rasa, rasa_port, gateway_port)
    finally:
        for service in reversed(services):
            service.stop()
        server.destroy()
        postgres.destroy()
        shutil.rmtree(ROOT / "var" / "spool" / f"{DB}-{postgres.port}", ignore_errors=True)


def lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence: how many of `a` appear in `b` in order."""
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def lost_messages(stack: Stack, replies: list[Reply], wait_s: float = 20.0) -> int:
    """Messages that got a real answer but are not in the conversation in PostgreSQL, in the
    order sent (apologised ones may or may not be there). Late turns and a journal replay may
    still be under way: waits up to `wait_s` for them."""
    real: dict[str, list[str]] = {}
    for r in sorted(replies, key=lambda r: r.sent):
        if r.outcome == "real":
            real.setdefault(r.sender, []).append(r.text)
    deadline = time.monotonic() + wait_s
    while True:
        lost = sum(len(t) - lcs(t, stack.user_texts(s)) for s, t in real.items())
        if lost == 0 or time.monotonic() > deadline:
            return lost
        time.sleep(0.5)


def recovered(replies: list[Reply], repaired: float) -> bool:
    """Every shopper has had a real answer to a message sent since the repair, and a
    latecomer has heard the persona."""
    talked = {r.sender for r in replies}
    real = {r.sender for r in replies if r.outcome == "real" and r.sent >= repaired}
    persona = any(r.kind == "latecomer" and r.persona and r.done >= repaired for r in replies)
    return real == talked and persona


def resumed_s(during: list[Reply], injected: float) -> float | None:
    """Seconds from the fault until every shopper got real answers again: per shopper, the
    first real answer to a message sent after their last apology; 0 without apologies;
    None when some shopper had none by the end of the load."""
    back = []
    for sender in {r.sender for r in during if r.outcome != "real"}:
        mine = [r for r in during if r.sender == sender]
        last = max(r.done for r in mine if r.outcome != "real")
        real = [r.done for r in mine if r.outcome == "real" and r.sent >= last]
        if not real:
            return None
        back.append(min(real))
    return round(max(back) - injected, 1) if back else 0.0


def figures(
    replies: list[Reply], injected: float, repaired: float, stopped: float
) -> dict[str, object]:
    """The row's figures over the messages sent from the fault on."""
    during = [r for r in replies if r.sent >= injected]
    count = Counter(r.outcome for r in during)
    persona_back = [
        r.done for r in during if r.kind == "latecomer" and r.persona and r.done >= repaired
    ]
    known = [
        r for r in during if r.kind == "profiled" and r.outcome == "real" and r.done < repaired
    ]

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "fault_s": round(repaired - injected, 1),
        "load_s": round(stopped - injected, 1),
        "sent": len(during),
        "real": count["real"],
        "apologies": count["apology"],
        "errors": count["error"],
        "hung": count["hung"],
        "real_share": share(count["real"], len(during)),
        "slowest_s": round(max((r.done - r.sent for r in during), default=0.0), 2),
        # A latecomer (consented, conversation begun during the fault) hears the persona.
        "personalization_resumed_s": (
            round(min(persona_back) - repaired, 2) if persona_back else None
        ),
        "answers_resumed_s": resumed_s(during, injected),
        # Consented shoppers known before the fault who kept their persona during it.
        "persona_kept_share": share(sum(r.persona for r in known), len(known)),
    }


def run_scenario(
    stack: Stack,
    key: str,
    title: str,
    inject: Callable[[], None],
    repair: Callable[[], None],
    fault_s: float,
    metrics: bool = True,
) -> dict:
    """Load, fault, repair, load until recovered; the row goes to RESULTS."""
    shoppers = stack.shoppers()
    rasa_before, gateway_before = stack.rasa_metrics(), stack.gateway_fallbacks()
    load = Load(stack.url, shoppers).start()
    try:
        time.sleep(BASELINE_S)
        load.mid_turn()
        injected = time.monotonic()
        inject()
        load.release_latecomers()
        time.sleep(fault_s)
        repair()
        repaired = time.monotonic()
        while time.monotonic() - repaired < POST_MAX_S and not recovered(load.replies, repaired):
            time.sleep(0.1)
        time.sleep(0.5)  # a little more normal load
    finally:
        replies = load.stop()
    stopped = time.monotonic()
    row = {
        "title": title,
        "shoppers": len(shoppers),
        **figures(replies, injected, repaired, stopped),
    }
    row["lost"] = lost_messages(stack, replies)
    row["apology_reasons"] = {
        k: int(v) for k, v in (stack.gateway_fallbacks() - gateway_before).items() if v
    }
    if metrics:  # not across a Rasa restart: its counters start again at zero
        after = stack.rasa_metrics()
        row["rasa"] = {k: int(after.get(k, 0) - rasa_before.get(k, 0)) for k in RASA_SERIES}
    stack.rows[key] = row
    # Every reply, for a closer look (times relative to the fault).
    (VAR / f"outage-{key}.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    **vars(r),
                    "sent": round(r.sent - injected, 3),
                    "done": round(r.done - injected, 3),
                }
            )
            + "\n"
            for r in replies
        )
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(stack.rows, indent=2) + "\n")
    return row


def hard_guarantees(row: dict, real_share: float | None = None) -> None:
    assert row["lost"] == 0, row  # every real answer's message is in the conversation
    assert row["hung"] == 0, row  # an answer or a clear error, never a hang
    if real_share is not None:
        assert row["real_share"] >= real_share, row


def test_redis_killed_for_30_s(stack: Stack):
    def inject() -> None:
        stack.redis.proc.kill()
        stack.redis.proc.wait(10)

    row = run_scenario(
        stack, "redis_killed", "Redis killed for 30 s", inject, stack.redis.start, 30.0
    )
    hard_guarantees(row, REAL_SHARE_TARGET)
    assert row["personalization_resumed_s"] is not None, row  # the persona came back


def test_redis_paused_for_10_s(stack: Stack):
    row = run_scenario(
        stack,
        "redis_paused",
        "Redis paused (SIGSTOP) for 10 s",
        stack.redis.pause,
        stack.redis.resume,
        10.0,
    )
    hard_guarantees(row, REAL_SHARE_TARGET)
    assert row["personalization_resumed_s"] is not None, row


def test_postgres_killed_for_10_s(stack: Stack):
    row = run_scenario(
        stack,
        "postgres_killed",
        "PostgreSQL killed for 10 s",
        stack.postgres.kill,
        stack.postgres.restart,
        10.0,
    )
    hard_guarantees(row)


def test_action_server_killed_and_restarted(stack: Stack):
    row = run_scenario(
        stack,
        "action_server_killed",
        "Action server killed, restarted after 8 s",
        lambda: kill(stack.actions),
        lambda: restart(stack.actions, 90),
        8.0,
    )
    hard_guarantees(row)


def test_rasa_killed_and_restarted(stack: Stack):
    row = run_scenario(
        stack,
        "rasa_killed",
        "Rasa process killed, restarted at once",
        lambda: kill(stack.rasa),
        lambda: restart(stack.rasa, 240),
        0.0,
        metrics=False,
    )
    hard_guarantees(row)
