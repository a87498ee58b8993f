"""Guardrail metrics per variant for the experiments report (experiments/reporting.py).

Each is read from what the action server records, in chunks (HSCAN, XRANGE):

    negative_feedback_rate  thumbs down / rated answers     <ns>:feedback stream
    feedback_rate           rated answers / exposed users   <ns>:feedback stream
    satisfaction            mean survey score (1-5) and     <ns>:surveys stream, score entries
                            satisfaction_responses (count)  (experiments/surveys.py)
    messages_per_session    messages / sessions             <ns>:exp:<key>:eng counters
    return_7d               exposed users with a session    <ns>:exp:<key>:ret index
                            start within 7 days after their (experiments/exposures.py)
                            first exposure / exposed users

Feedback and survey entries count for the variant their decision names for the experiment;
a return counts for the user's exposed variant.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping

from experiments.exposures import engagement_key, returns_key
from experiments.surveys import SCORES, stream_key

CHUNK = 1000
# Shares shown as percentages; the rest are plain numbers (a mean score, a count).
RATES = ("negative_feedback_rate", "feedback_rate", "return_7d")


def as_text(raw: object) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def hscan(client, key: str) -> Iterator[tuple[str, str]]:
    for field_, value in client.hscan_iter(key, count=CHUNK):
        yield as_text(field_), as_text(value)


def xrange_all(client, key: str) -> Iterator[dict[str, str]]:
    start = "-"
    while True:
        batch = client.xrange(key, min=start, max="+", count=CHUNK)
        for _, fields in batch:
            yield {as_text(k): as_text(v) for k, v in fields.items()}
        if len(batch) < CHUNK:
            return
        last = as_text(batch[-1][0])
        ms, seq = last.split("-")
        start = f"{ms}-{int(seq) + 1}"


def experiments_of(entry: Mapping[str, str]) -> dict[str, str]:
    try:
        value = json.loads(entry.get("experiments") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _variant_of(entry: Mapping[str, str], key: str, names: set[str]) -> str | None:
    variant = experiments_of(entry).get(key)
    return variant if isinstance(variant, str) and variant in names else None  # not a list


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def feedback_counts(client, namespace: str, key: str, names: set[str]) -> dict[str, Counter]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for entry in xrange_all(client, f"{namespace}:feedback"):
        variant = _variant_of(entry, key, names)
        if variant is not None:
            counts[variant]["all"] += 1
            counts[variant]["down"] += entry.get("rating") == "down"
    return counts


def survey_scores(client, namespace: str, key: str, names: set[str]) -> dict[str, list[int]]:
    """Scores per variant; a comment entry or a score outside 1-5 is not one."""
    scores: dict[str, list[int]] = defaultdict(list)
    for entry in xrange_all(client, stream_key(namespace)):
        variant = _variant_of(entry, key, names)
        raw = entry.get("satisfaction", "")
        if variant is None or entry.get("kind") != "score" or not raw.isdigit():
            continue
        if int(raw) in SCORES:
            scores[variant].append(int(raw))
    return scores


def engagement_counts(client, namespace: str, key: str) -> dict[str, dict[str, int]]:
    """{variant: {"sessions": n, "messages": n}} from the action server's counters."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"sessions": 0, "messages": 0})
    for field_, value in client.hgetall(engagement_key(namespace, key)).items():
        variant, _, kind = as_text(field_).rpartition(":")
        if kind in ("sessions", "messages") and as_text(value).lstrip("-").isdigit():
            counts[variant][kind] = int(as_text(value))
    return counts


def returned_users(client, namespace: str, key: str, exposed: Mapping[str, str]) -> Counter:
    """Users who came back within 7 days of their first exposure, per exposed variant."""
    returned: Counter = Counter()
    for user, _ in hscan(client, returns_key(namespace, key)):
        if user in exposed:
            returned[exposed[user]] += 1
    return returned


def guardrail_values(
    client,
    namespace: str,
    key: str,
    guardrails: tuple[str, ...],
    users: Mapping[str, int],
    exposed: Mapping[str, str],
) -> dict[str, dict[str, float]]:
    """{variant: {metric: value}} for the experiment's guardrails; `users`: exposed users
    per variant, `exposed`: user -> variant."""
    names = set(users)
    out: dict[str, dict[str, float]] = {name: {} for name in users}
    wanted = set(guardrails)
    if wanted & {"negative_feedback_rate", "feedback_rate"}:
        feedback = feedback_counts(client, namespace, key, names)
        for name, values in out.items():
            if "negative_feedback_rate" in wanted:
                down, rated = feedback[name]["down"], feedback[name]["all"]
                values["negative_feedback_rate"] = _ratio(down, rated)
            if "feedback_rate" in wanted:
                values["feedback_rate"] = _ratio(feedback[name]["all"], users[name])
    if "satisfaction" in wanted:
        scores = survey_scores(client, namespace, key, names)
        for name, values in out.items():
            values["satisfaction"] = _ratio(sum(scores[name]), len(scores[name]))
            values["satisfaction_responses"] = len(scores[name])
    if "messages_per_session" in wanted:
        engagement = engagement_counts(client, namespace, key)
        for name, values in out.items():
            counts = engagement[name]
            values["messages_per_session"] = _ratio(counts["messages"], counts["sessions"])
    if "return_7d" in wanted:
        returned = returned_users(client, namespace, key, exposed)
        for name, values in out.items():
            values["return_7d"] = _ratio(returned[name], users[name])
    return out


def format_guardrail(name: str, value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if name in RATES:
        return f"{value * 100:.1f}%"
    return str(value) if isinstance(value, int) else f"{value:.2f}"
