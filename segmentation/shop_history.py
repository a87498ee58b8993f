"""A generated shop history, so `make run` trains its segment model on behaviour.

Shoppers follow the planted personas of segmentation/synthetic.py (purchase rhythm, basket
size, questions, devices) plus the habits below, buy products of core/data/products.yml,
and chat in Rasa's tracker events as the event broker sends them (JSON lines, read by
`segment export`); their orders are CRM rows (CSV, ISO 8601 times with a zone). The five
demo users (core/demo.py) are written out by hand as typical members of their persona, so
each lands in its segment because of what it did. The same (GENERATOR_VERSION, seed,
shoppers) give the same bytes; each shopper draws from its own seeded generator, so the
demo users never depend on the crowd. No pandas at import: a warm start reads `fingerprint`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import core.traits as traits_module
from core.categories import CATEGORIES, category_label
from core.demo import DEMO_PERSONAS, DEMO_USER_IDS
from core.personas import (
    BARGAIN_HUNTER,
    CASUAL_BROWSER,
    FREQUENT_BUYER,
    NEW_VISITOR,
    TECH_ENTHUSIAST,
)
from core.products import Product, ProductCatalogue, load_products

GENERATOR_VERSION = 1  # bump when what is generated changes for the same seed and size
DEFAULT_SHOPPERS = 3000
DEFAULT_SEED = 2026
MIN_SHOPPERS = 50
END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # the history ends about here
EVENTS_FILE = "events.jsonl"
TRANSACTIONS_FILE = "transactions.csv"
TIMEZONES = {"DE": "Europe/Berlin", "FR": "Europe/Paris", "NL": "Europe/Amsterdam",
             "ES": "Europe/Madrid", "IT": "Europe/Rome"}  # fmt: skip
MAX_ORDER_DAYS = 700  # the catalogue's oldest products came out in early 2024


@dataclass(frozen=True)
class Habits:
    """What a persona does beyond synthetic.py's rhythm. Its hours are synthetic.py's, but
    browsers come in the morning and enthusiasts after midnight, so no two buying personas
    share a time of day (else the clustering may see only "evening" and "afternoon")."""

    taste: dict[str, float]  # the categories it buys and asks about, weighted
    span: tuple[float, float]  # days from its first order to its last, at least and at most
    hour: float  # the local hour it chats and buys around
    slack: float  # share of its sessions on Slack rather than the web chat


HABITS: dict[str, Habits] = {
    FREQUENT_BUYER: Habits({"smartphones": 4, "smartwatches": 2, "headphones": 2, "tablets": 1},
                           (400, 700), 20, 0.05),
    BARGAIN_HUNTER: Habits({"headphones": 3, "smart_home": 3, "smartwatches": 2, "smartphones": 1},
                           (150, 450), 13, 0.02),
    TECH_ENTHUSIAST: Habits({"laptops": 5, "smartphones": 3, "tablets": 1, "headphones": 1},
                            (250, 650), 0.5, 0.5),
    CASUAL_BROWSER: Habits({"smart_home": 4, "headphones": 2, "tablets": 2, "smartwatches": 1},
                           (30, 300), 9.5, 0.02),
    NEW_VISITOR: Habits(dict.fromkeys(CATEGORIES, 1.0), (0, 0), 11, 0.0),
}  # fmt: skip
WORDS = {"smartphones": "phone", "laptops": "laptop", "headphones": "headphones",
         "smart_home": "smart home", "tablets": "tablet", "smartwatches": "smartwatch"}  # fmt: skip
# intent -> (phrasings naming a category or product, phrasings without one)
PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ask_recommendation": (
        ("what {} would you suggest?", "which {} should I buy?", "i need a new {}"),
        ("what should I buy?", "what would you suggest?"),
    ),
    "ask_deals": (
        ("any deals on {}?", "cheapest {} you have?", "is there a discount on {}?"),
        ("are there any deals today?", "what's on sale?"),
    ),
    "ask_new_arrivals": (("what's the newest {}?", "any new {}?"), ("what's new?",)),
    "ask_specs": (("what are the specs of the {}?", "tell me more about the {}", "{} specs"), ()),
    "greet": ((), ("hi there", "hello", "hey, how's it going?")),
    "thank": ((), ("thanks for the help", "thanks, that helps a lot", "thank you, that helps")),
}
ANSWERS = {  # intent -> (action, reply)
    "ask_recommendation": ("action_recommend_products", "Here are a few {} I'd suggest."),
    "ask_deals": ("action_show_deals", "These {} are on offer right now."),
    "ask_new_arrivals": ("action_show_new_arrivals", "The newest {} in the shop:"),
    "ask_specs": ("action_show_specs", "Here are the specs of the {}."),
    "greet": ("action_greet", "Hi! What are you looking for today?"),
    "thank": ("utter_youre_welcome", "You're welcome!"),
}
Ask = tuple[str, str | None]  # (intent, category id; a product id for ask_specs)


@dataclass(frozen=True)
class Order:
    at: dt.datetime  # in the shopper's timezone
    product: Product

    @property
    def amount(self) -> float:
        return self.product.deal_price


@dataclass(frozen=True)
class Session:
    start: dt.datetime  # in the shopper's timezone
    device: str
    channel: str
    asks: tuple[Ask, ...]


@dataclass(frozen=True)
class Shopper:
    user_id: str  # the sender id of its conversations and the customer id of its orders
    persona: str
    region: str
    orders: tuple[Order, ...]
    sessions: tuple[Session, ...]


@dataclass(frozen=True)
class DemoScript:
    """A demo user's history, written out; its persona is core/demo.py's DEMO_PERSONAS."""

    region: str
    device: str
    hour: float  # local hour its sessions start
    sessions: tuple[tuple[int, tuple[Ask, ...]], ...]  # (days before END, what it asked)
    orders: tuple[tuple[int, str], ...]  # (days before END, product id)


def _repeat(days: tuple[int, ...], *patterns: tuple[Ask, ...]) -> tuple:
    return tuple((day, patterns[i % len(patterns)]) for i, day in enumerate(days))


# Typical of their persona in synthetic.PLANTED's terms: how often and how much they buy,
# how recently, what they ask, when and on which device.
DEMO_SCRIPTS: dict[str, DemoScript] = {
    "user_frequent": DemoScript(
        "DE", "mobile", 20.5,
        _repeat((2, 9, 16, 23, 31, 38),
                (("ask_new_arrivals", "smartphones"), ("ask_new_arrivals", "smartwatches"),
                 ("ask_recommendation", "headphones")),
                (("greet", None), ("ask_new_arrivals", None), ("ask_deals", "smartphones"))),
        ((3, "pulsebud-pro"), (24, "kestrel-s3"), (45, "stride-pro-5"), (70, "nova-lite-5"),
         (95, "simpletime"), (120, "easytalk-one"), (150, "ridge-gx"), (185, "ferro-a7"),
         (215, "lumen-glow"), (250, "nova-lite-5"), (285, "easyview-10"),
         (320, "easytalk-one")),
    ),
    "user_bargain": DemoScript(
        "FR", "mobile", 12.75,
        _repeat((5, 19, 33, 52),
                (("ask_deals", "headphones"), ("ask_deals", None), ("ask_deals", "smart_home"),
                 ("thank", None)),
                (("ask_deals", "smartwatches"), ("ask_recommendation", "headphones"),
                 ("ask_deals", None), ("ask_deals", "headphones"))),
        ((18, "pulsebud-mini"), (60, "hearth-mini"), (110, "pulsebud-mini"),
         (170, "stride-band-3"), (230, "pulsebud-mini")),
    ),
    "user_enthusiast": DemoScript(
        "NL", "desktop", 0.25,
        _repeat((12, 41, 77),
                (("ask_specs", "titanforge-x17"), ("ask_specs", "vertex-studio-16"),
                 ("ask_specs", "corvo-book-14"), ("ask_new_arrivals", "laptops"),
                 ("ask_specs", "orbix-pro-max"), ("ask_specs", "meridian-pad-pro"),
                 ("ask_recommendation", "laptops"))),
        ((40, "titanforge-x17"), (200, "vertex-studio-16"), (330, "veyra-fold")),
    ),
    "user_casual": DemoScript(
        "IT", "mobile", 9.5,
        _repeat((30, 75),
                (("ask_recommendation", "smart_home"), ("thank", None)),
                (("greet", None), ("ask_recommendation", None))),
        ((190, "homewise-starter"),),
    ),
    "user_newcomer": DemoScript(
        "ES", "desktop", 10.5,
        ((1, (("greet", None), ("ask_recommendation", None))),),
        (),
    ),
}  # fmt: skip


def fingerprint(shoppers: int = DEFAULT_SHOPPERS, seed: int = DEFAULT_SEED) -> dict:
    """What the history (and the traits the model derives) is a function of; a model
    trained on it is reused while it holds."""
    traits = hashlib.sha256(Path(traits_module.__file__).read_bytes()).hexdigest()[:12]
    return {"generator": GENERATOR_VERSION, "seed": seed, "shoppers": shoppers, "traits": traits}


def _local(days_ago: float, hour: float, region: str) -> dt.datetime:
    """Wall-clock `hour` (may pass midnight either way) of the day `days_ago` before END."""
    day = (END - dt.timedelta(days=days_ago)).date()
    midnight = dt.datetime.combine(day, dt.time(), ZoneInfo(TIMEZONES[region]))
    return midnight + dt.timedelta(hours=hour)


def demo_shopper(user_id: str, catalogue: ProductCatalogue) -> Shopper:
    """A demo user's history, exactly as its script says (core/demo.py names the users)."""
    script = DEMO_SCRIPTS[user_id]
    orders = tuple(
        Order(_local(day, script.hour + 0.5, script.region), _product(catalogue, pid))
        for day, pid in sorted(script.orders, reverse=True)
    )
    sessions = tuple(
        Session(_local(day, script.hour, script.region), script.device, "rest", asks)
        for day, asks in sorted(script.sessions, reverse=True)
    )
    return Shopper(user_id, DEMO_PERSONAS[user_id], script.region, orders, sessions)


def _product(catalogue: ProductCatalogue, product_id: str) -> Product:
    found = catalogue.find(product_id)
    if found is None:
        raise ValueError(f"demo script names product {product_id!r}, not in the catalogue")
    return found


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the means here are small."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _buy(rng, catalogue: ProductCatalogue, persona, taste, at: dt.datetime) -> Product:
    """A released product of a favoured category priced near the persona's basket size;
    bargain hunters take what is on offer when there is something."""
    target = rng.lognormvariate(math.log(persona.order_value[0]), persona.order_value[1])
    released = [p for p in catalogue.products if p.release_date <= at.date()]
    category = _pick(rng, taste)
    shelf = [p for p in released if p.category == category] or released
    if persona.name == BARGAIN_HUNTER:
        shelf = [p for p in shelf if p.on_deal] or shelf
    shelf = sorted(shelf, key=lambda p: (abs(math.log(p.deal_price / target)), p.id))
    return rng.choice(shelf[:2])


def _ask(rng: random.Random, catalogue: ProductCatalogue, intent: str, taste) -> Ask:
    if intent == "ask_specs":
        return intent, rng.choice(catalogue.in_category(_pick(rng, taste))).id
    if intent in ("greet", "thank") or rng.random() < 0.3:
        return intent, None
    return intent, _pick(rng, taste)


def crowd_shopper(user_id: str, seed: int, catalogue: ProductCatalogue) -> Shopper:
    """One shopper of a planted persona, drawn from its own generator."""
    from segmentation.synthetic import INTENTS, PLANTED  # pandas: only when generating

    rng = random.Random(f"{seed}/{user_id}")
    persona = rng.choices(PLANTED, weights=[p.share for p in PLANTED])[0]
    habits, region = HABITS[persona.name], rng.choice(sorted(TIMEZONES))
    taste = habits.taste
    orders = []
    if persona.purchases[0] > 0:
        last = rng.expovariate(1 / persona.recency_scale) + 1
        span = rng.uniform(*habits.span)
        for _ in range(max(1, _poisson(rng, persona.purchases[0]))):
            days = min(MAX_ORDER_DAYS, last + rng.random() * span)
            at = _local(days, rng.gauss(habits.hour, 2), region)
            orders.append(Order(at, _buy(rng, catalogue, persona, taste, at)))
    sessions = []
    for _ in range(max(1, _poisson(rng, persona.sessions))):
        hour = rng.gauss(habits.hour, 1.5)
        asks = tuple(
            _ask(rng, catalogue, rng.choices(INTENTS, weights=persona.intents)[0], taste)
            for _ in range(max(1, _poisson(rng, persona.messages)))
        )
        device = "mobile" if rng.random() < persona.mobile else "desktop"
        channel = "slack" if rng.random() < habits.slack else "rest"
        sessions.append(Session(_local(rng.uniform(1, 90), hour, region), device, channel, asks))
    orders.sort(key=lambda o: o.at)
    sessions.sort(key=lambda s: s.start)
    return Shopper(user_id, persona.name, region, tuple(orders), tuple(sessions))


def generate(
    shoppers: int = DEFAULT_SHOPPERS, seed: int = DEFAULT_SEED, catalogue=None
) -> list[Shopper]:
    """The demo users first, then the crowd, `shoppers` in all."""
    if shoppers < MIN_SHOPPERS:
        raise ValueError(f"a shop history needs at least {MIN_SHOPPERS} shoppers, not {shoppers}")
    catalogue = catalogue or load_products()
    demo = [demo_shopper(user_id, catalogue) for user_id in DEMO_USER_IDS]
    crowd = range(1, shoppers - len(demo) + 1)
    return demo + [crowd_shopper(f"shopper_{i:05d}", seed, catalogue) for i in crowd]


def _user_event(shopper, session, at: float, text: str, ask: Ask, word: str, rng) -> dict:
    intent, about = ask
    entities = []
    if about is not None:
        entity, value = ("product", word) if intent == "ask_specs" else ("product_category", about)
        start = text.index(word)
        entities.append({"entity": entity, "start": start, "end": start + len(word),
                         "value": value, "extractor": "DIETClassifier"})  # fmt: skip
    message_id = uuid.UUID(int=rng.getrandbits(128)).hex
    metadata = {"timezone": TIMEZONES[shopper.region], "region": shopper.region,
                "device": session.device, "channel": "web"}  # fmt: skip
    confidence = round(rng.uniform(0.8, 1.0), 4)
    return {
        "sender_id": shopper.user_id, "event": "user", "timestamp": at, "metadata": metadata,
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": confidence},
                       "entities": entities, "text": text, "message_id": message_id,
                       "metadata": metadata},
        "input_channel": session.channel, "message_id": message_id,
    }  # fmt: skip


def tracker_events(shopper: Shopper, catalogue: ProductCatalogue) -> Iterator[dict]:
    """The shopper's sessions as event-broker messages, in time order: session starts, what
    it said (with the NLU parse and the gateway's metadata) and what the bot answered."""
    rng = random.Random(f"events/{shopper.user_id}")
    sender = shopper.user_id
    for session in shopper.sessions:
        at = round(session.start.timestamp(), 3)
        yield {"sender_id": sender, "event": "session_started", "timestamp": at}
        for ask in session.asks:
            at = round(at + rng.uniform(20, 60), 3)
            intent, about = ask
            with_name, without = PHRASES[intent]
            name = catalogue.find(about).name if intent == "ask_specs" else None
            word = name or WORDS.get(about or "", "")
            text = rng.choice(with_name).format(word) if about else rng.choice(without)
            yield _user_event(shopper, session, at, text, ask, word, rng)
            action, reply = ANSWERS[intent]
            said = name or category_label(about)
            utter = {"utter_action": action} if action.startswith("utter_") else {}
            yield {"sender_id": sender, "event": "bot", "timestamp": round(at + 0.5, 3),
                   "text": reply.format(said), "data": {}, "metadata": utter}  # fmt: skip


@dataclass(frozen=True)
class HistoryFiles:
    events: Path  # event-broker JSON lines
    transactions: Path  # CRM CSV


def write_history(
    out_dir: str | Path, shoppers: int = DEFAULT_SHOPPERS, seed: int = DEFAULT_SEED
) -> HistoryFiles:
    """events.jsonl and transactions.csv of a generated history, in `out_dir`."""
    catalogue = load_products()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = HistoryFiles(out / EVENTS_FILE, out / TRANSACTIONS_FILE)
    history = generate(shoppers, seed, catalogue)
    with files.events.open("w", encoding="utf-8") as lines:
        for shopper in history:
            for event in tracker_events(shopper, catalogue):
                lines.write(json.dumps(event, ensure_ascii=False) + "\n")
    with files.transactions.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "timestamp", "amount", "category"])
        for shopper in history:
            for o in shopper.orders:
                day = o.at.isoformat(timespec="seconds")
                writer.writerow((shopper.user_id, day, f"{o.amount:.2f}", o.product.category))
    return files


def order_facts(orders: tuple[Order, ...]) -> dict[str, str]:
    """The profile facts a shopper's own orders give (personalization/profiles.py reads them):
    most-bought category (ties: the most recent), count, total, the last order's time and
    category. Without orders only the count and total (zero)."""
    facts = {"order_count": str(len(orders)), "order_total": f"{sum(o.amount for o in orders):.2f}"}
    if orders:
        counts = Counter(o.product.category for o in orders)
        latest = {o.product.category: i for i, o in enumerate(sorted(orders, key=lambda o: o.at))}
        last = max(orders, key=lambda o: o.at)
        facts |= {
            "favourite_category": max(counts, key=lambda c: (counts[c], latest[c])),
            "last_order_at": str(int(last.at.timestamp())),
            "last_order_category": last.product.category,
        }
    return facts


def demo_facts(user_id: str, catalogue: ProductCatalogue | None = None) -> dict[str, str]:
    """A demo user's profile facts, from its history (not from a hand-set segment)."""
    return order_facts(demo_shopper(user_id, catalogue or load_products()).orders)
