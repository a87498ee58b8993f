"""Post-conversation survey answers in Redis, stored per decision (experiments/decisions.py).

    <ns>:surveys      stream  decision user segment persona response variant arm experiments
                              kind (score | comment) satisfaction comment ts
    <ns>:dec:<id>     hash    the decision, plus satisfaction surveyed_at segment
                              and comment commented_at

A score is stored once per decision and a comment once, after the score, and only for the
decision's own user: the script reads the decision, so a replayed or forged request cannot
add a second answer or an answer to someone else's decision. The stream is bounded like the
feedback stream (MAXLEN), the fields expire with their decision (30 days). Erasure walks
every stream and decision of the namespace (privacy/erasure.py), so both go with the user.
Comments are free text from the shopper: capped, stripped of control characters here, and
escaped wherever they are rendered.
"""

from __future__ import annotations

import time
import unicodedata

from experiments.decisions import STREAM_MAXLEN

SCORES = (1, 2, 3, 4, 5)
MAX_COMMENT_CHARS = 500
NO_COMMENT = "-"  # what the Skip button fills the comment with
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
SEGMENT_CHARS = 64

# KEYS: the decision, the stream. ARGV: user, kind, score, comment, ts, segment, maxlen, id.
SURVEY_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
local d = redis.call('HMGET', KEYS[1], 'user', 'persona', 'response', 'variant', 'arm',
                     'experiments')
if d[1] ~= ARGV[1] then return 'unknown' end
if ARGV[2] == 'score' then
  if redis.call('HSETNX', KEYS[1], 'satisfaction', ARGV[3]) == 0 then return 'duplicate' end
  redis.call('HSET', KEYS[1], 'surveyed_at', ARGV[5], 'segment', ARGV[6])
else
  if redis.call('HEXISTS', KEYS[1], 'satisfaction') == 0 then return 'unknown' end
  if redis.call('HSETNX', KEYS[1], 'comment', ARGV[4]) == 0 then return 'duplicate' end
  redis.call('HSET', KEYS[1], 'commented_at', ARGV[5])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'decision', ARGV[8], 'user', d[1],
           'segment', ARGV[6], 'persona', d[2], 'response', d[3], 'variant', d[4],
           'arm', d[5], 'experiments', d[6] or '{}', 'kind', ARGV[2],
           'satisfaction', redis.call('HGET', KEYS[1], 'satisfaction'),
           'comment', ARGV[4], 'ts', ARGV[5])
return 'stored'
"""


def parse_score(value: object) -> int | None:
    """1-5 from a button (an int) or typed text ("4", "four"); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        value = WORDS.get(text, int(text) if text.isascii() and text.isdigit() else None)
    return value if isinstance(value, int) and value in SCORES else None


def clean_comment(text: object) -> str:
    """The comment as stored: control characters out, whitespace collapsed, at most
    MAX_COMMENT_CHARS; "" when there is none (Skip, or only blanks)."""
    if not isinstance(text, str):
        return ""
    kept = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    comment = " ".join(kept.split())[:MAX_COMMENT_CHARS]
    return "" if comment == NO_COMMENT else comment


def stream_key(namespace: str) -> str:
    return f"{namespace}:surveys"


class SurveyStore:
    """Answers on the decisions' Redis (asyncio client)."""

    def __init__(self, client, namespace: str = "pz") -> None:
        self.client, self.namespace = client, namespace
        self._script = client.register_script(SURVEY_SCRIPT)

    async def _store(
        self, decision_id: str, user: str, kind: str, score: str, comment: str, segment: str
    ) -> str:
        if not decision_id or len(decision_id) > 64 or not decision_id.isalnum():
            return "unknown"
        keys = [f"{self.namespace}:dec:{decision_id}", stream_key(self.namespace)]
        args = [user, kind, score, comment, f"{time.time():.3f}", segment[:SEGMENT_CHARS]]
        status = await self._script(keys=keys, args=[*args, STREAM_MAXLEN, decision_id])
        return status.decode() if isinstance(status, bytes) else str(status)

    async def score(self, decision_id: str, user: str, score: int, segment: str) -> str:
        """Store the score once: "stored", "duplicate" (the decision has one) or "unknown"
        (no such decision of this user)."""
        if score not in SCORES:
            raise ValueError(f"satisfaction must be 1 to 5, got {score!r}")
        return await self._store(decision_id, user, "score", str(score), "", segment)

    async def comment(self, decision_id: str, user: str, comment: str, segment: str) -> str:
        """Store a cleaned comment after the score; "unknown" before one."""
        comment = clean_comment(comment)
        if not comment:
            return "empty"
        return await self._store(decision_id, user, "comment", "", comment, segment)
