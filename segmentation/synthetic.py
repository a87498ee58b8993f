"""Synthetic users with planted personas: transactions and conversation events.

The personas differ the way real ones should (purchase rhythm, basket size,
what they ask about, when and how they chat), so the pipeline can be checked
for recovering them (adjusted Rand index) and benchmarked at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.personas import (
    BARGAIN_HUNTER,
    CASUAL_BROWSER,
    FREQUENT_BUYER,
    NEW_VISITOR,
    TECH_ENTHUSIAST,
)
from segmentation.tables import write_table

SNAPSHOT = pd.Timestamp("2026-11-01", tz="UTC")
INTENTS = ("ask_recommendation", "ask_deals", "ask_new_arrivals", "ask_specs", "greet", "thank")
REGIONS = ("DE", "FR", "NL", "ES", "IT")
TIMEZONES = {
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "NL": "Europe/Amsterdam",
    "ES": "Europe/Madrid",
    "IT": "Europe/Rome",
}
TEXTS = {
    "ask_recommendation": "can you recommend a good laptop?",
    "ask_deals": "any deals on headphones today?",
    "ask_new_arrivals": "what's new in smartphones?",
    "ask_specs": "what are the specs of the nova x12?",
    "greet": "hi there",
    "thank": "thanks, that is great, love it!",
}


@dataclass(frozen=True)
class Persona:
    name: str
    share: float
    purchases: tuple[float, float]  # Poisson mean of purchase days; 0 means never bought
    order_value: tuple[float, float]  # lognormal median, sigma
    recency_scale: float  # mean days since the last purchase
    sessions: float  # Poisson mean (at least 1)
    messages: float  # Poisson mean per session (at least 1)
    intents: tuple[float, ...]  # probabilities over INTENTS
    hour: float  # typical local hour
    mobile: float  # probability of a mobile device


# The planted behaviour of each persona (core/personas.py names them).
PLANTED: tuple[Persona, ...] = (
    Persona(
        FREQUENT_BUYER,
        0.2,
        (12, 0),
        (180, 0.4),
        6,
        6,
        3,
        (0.2, 0.15, 0.45, 0.1, 0.05, 0.05),
        20,
        0.7,
    ),
    Persona(
        BARGAIN_HUNTER,
        0.25,
        (5, 0),
        (35, 0.35),
        25,
        4,
        4,
        (0.15, 0.6, 0.05, 0.1, 0.05, 0.05),
        13,
        0.8,
    ),
    Persona(
        TECH_ENTHUSIAST,
        0.15,
        (3, 0),
        (1400, 0.3),
        60,
        3,
        7,
        (0.1, 0.05, 0.15, 0.6, 0.05, 0.05),
        23,
        0.2,
    ),
    Persona(
        CASUAL_BROWSER,
        0.25,
        (1, 0),
        (90, 0.5),
        200,
        1.5,
        2,
        (0.6, 0.1, 0.1, 0.05, 0.1, 0.05),
        16,
        0.6,
    ),
    Persona(
        NEW_VISITOR, 0.15, (0, 0), (1, 0), 0, 1, 1.5, (0.4, 0.1, 0.1, 0.05, 0.3, 0.05), 11, 0.5
    ),
)


def planted_labels(n_users: int, random_state: int = 0) -> np.ndarray:
    """Persona index per user, in proportion to each persona's share."""
    rng = np.random.default_rng(random_state)
    shares = np.array([p.share for p in PLANTED])
    return rng.choice(len(PLANTED), size=n_users, p=shares / shares.sum())


def make_transactions(labels: np.ndarray, random_state: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(random_state + 1)
    frames = []
    for idx, persona in enumerate(PLANTED):
        users = np.flatnonzero(labels == idx)
        if persona.purchases[0] == 0 or users.size == 0:
            continue
        counts = np.maximum(1, rng.poisson(persona.purchases[0], users.size))
        user_rep = np.repeat(users, counts)
        last = rng.exponential(persona.recency_scale, users.size) + 1
        span = rng.uniform(30, 700, users.size)
        offsets = np.repeat(last, counts) + rng.uniform(0, 1, user_rep.size) * np.repeat(
            span, counts
        )
        amounts = rng.lognormal(
            np.log(persona.order_value[0]), persona.order_value[1], user_rep.size
        )
        frames.append(
            pd.DataFrame(
                {
                    "user_id": pd.Series(user_rep).map("u{:07d}".format),
                    "timestamp": SNAPSHOT - pd.to_timedelta(offsets, unit="D"),
                    "amount": amounts.round(2),
                    "category": rng.choice(["smartphones", "laptops", "headphones"], user_rep.size),
                }
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["user_id", "timestamp", "amount", "category"])
    )


def make_events(labels: np.ndarray, random_state: int = 0) -> pd.DataFrame:
    """User-message rows in the export format (segmentation/export.py)."""
    rng = np.random.default_rng(random_state + 2)
    frames = []
    for idx, persona in enumerate(PLANTED):
        users = np.flatnonzero(labels == idx)
        if users.size == 0:
            continue
        sessions = np.maximum(1, rng.poisson(persona.sessions, users.size))
        session_user = np.repeat(users, sessions)
        session_no = np.concatenate([np.arange(s) for s in sessions])
        messages = np.maximum(1, rng.poisson(persona.messages, session_user.size))
        row_user = np.repeat(session_user, messages)
        row_session = np.repeat(session_no, messages)
        n = row_user.size
        hour = np.repeat(np.clip(rng.normal(persona.hour, 1.5, session_user.size), 0, 23), messages)
        start = SNAPSHOT - pd.to_timedelta(
            np.repeat(rng.uniform(1, 90, session_user.size), messages), unit="D"
        )
        within = np.concatenate([np.arange(m) for m in messages]) * rng.uniform(20, 60, n)
        ts = start.normalize() + pd.to_timedelta(hour, unit="h") + pd.to_timedelta(within, unit="s")
        intents = rng.choice(len(INTENTS), size=n, p=np.array(persona.intents))
        regions = rng.choice(len(REGIONS), size=users.size)
        region_of_row = np.repeat(np.repeat(regions, sessions), messages)
        region_names = np.array(REGIONS)[region_of_row]
        tz = np.array([TIMEZONES[r] for r in REGIONS])[region_of_row]
        # Local hour was drawn; store UTC (these zones are UTC+1 in November).
        timestamps = (ts - pd.Timedelta(hours=1)).asi8 / 1e9
        intent_names = np.array(INTENTS)[intents]
        text = pd.Series(intent_names).map(TEXTS)
        frames.append(
            pd.DataFrame(
                {
                    "user_id": pd.Series(row_user).map("u{:07d}".format),
                    "timestamp": timestamps,
                    "session": row_session,
                    "intent": intent_names,
                    "entities": "[]",
                    "text_length": text.str.len(),
                    "text": text,
                    "channel": np.where(rng.random(n) < 0.8, "rest", "slack"),
                    "timezone": tz,
                    "device": np.where(rng.random(n) < persona.mobile, "mobile", "desktop"),
                    "region": region_names,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def make_dataset(
    n_users: int, random_state: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(transactions, events, planted persona per user_id)."""
    labels = planted_labels(n_users, random_state)
    truth = pd.Series(
        np.array([p.name for p in PLANTED])[labels],
        index=pd.Index([f"u{u:07d}" for u in range(n_users)], name="user_id"),
    )
    return make_transactions(labels, random_state), make_events(labels, random_state), truth


def write_dataset(n_users: int, random_state: int, out: str | Path) -> Path:
    """`segment demo-data`: transactions.csv, events.parquet and planted_personas.csv."""
    transactions, events, truth = make_dataset(n_users, random_state)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    transactions.to_csv(out / "transactions.csv", index=False)
    write_table(events, out / "events.parquet")
    truth.rename("persona").reset_index().to_csv(out / "planted_personas.csv", index=False)
    return out
