"""What the model's words may contain before they reach a shopper: pure, tested checks.

The model is told no names, prices or numbers, and the answer takes those from the
catalogue; these checks make sure of it and refuse the words (the template answer goes
out) when they name a product, a price, a discount, a code or a number the facts do not
hold, carry links, contact data or markup, echo the prompt, repeat themselves, leave
English (the language the assistant speaks), or greet for the wrong time of day.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from itertools import permutations

from generation.prompt import DAYPART_GREETING, ProductFact, Written

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_URL = re.compile(r"(https?://|www\.)\S+", re.I)
# Bare domains become links in Slack and most web chats.
_DOMAIN = re.compile(r"\b[\w-]+\.(com|net|org|io|co|de|fr|uk|eu|shop|example|info|biz)\b", re.I)
_PHONE = re.compile(r"\+?\d[\d ()./-]{6,}\d")
_PRICE = re.compile(
    r"(€|\$|£|\b(eur|usd|gbp)\b)\s?\d[\d,]*(\.\d+)?"
    r"|\d[\d,]*(\.\d+)?\s?(€|\$|£|(eur|euros?|usd|gbp|dollars?|bucks|pounds?|quid)\b)",
    re.I,
)
_PERCENT = re.compile(r"\d+([.,]\d+)?\s?(%|percent\b|per cent\b)", re.I)
_CODE = re.compile(
    r"\b(promo|discount|coupon|voucher)[- ]?codes?\b|\bcoupons?\b|\bvouchers?\b", re.I
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_MARKUP = re.compile(r"[{}<>]|\*\*|\[\[|\]\(|\b(javascript|data|vbscript):", re.I)
_ECHO = re.compile(
    r"^\s*(shopper|showing|products?|answer|facts)\s*:"
    r"|shop assistant|never write|use only the facts",
    re.I | re.M,
)
_LEAK = re.compile(r"system prompt|my instructions|these rules|ignore (all|previous)", re.I)
_HELLO = re.compile(r"\b(hello|hi there|good (morning|afternoon|evening|night)|welcome)\b", re.I)
_NEW_CLAIM = re.compile(
    r"\b(just released|brand[- ]new|new arrival|newest|latest|just out)\b", re.I
)
_DEAL_CLAIM = re.compile(r"\b(on deal|deal price|discount(ed)?|on sale|reduced)\b", re.I)
_WORD = re.compile(r"[a-z']+")
# Common English words: an introduction without any of them is not English.
_ENGLISH = frozenset(
    "a an the and or for with you your is are this these here of to in on at it its all "
    "our we that great good will can has have be from just more".split()
)
MAX_PIECE_CHARS = 200  # the introduction, or one reason
_COMMON = frozenset("with that this your have from what they will great good just".split())


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _COMMON}


def align(written: Written, facts: Sequence[ProductFact]) -> Written:
    """The reasons in the order of the products they describe. A small model often writes
    A's reason on line B and B's on line A; the order whose reasons share the most words
    with their own products' highlights wins, the model's order on a tie."""
    own = [_stems(f.highlight) for f in facts]
    words = [_stems(r) for r in written.reasons]

    def score(order: tuple[int, ...]) -> int:
        return sum(len(words[i] & own[slot]) for slot, i in enumerate(order))

    identity = tuple(range(len(written.reasons)))
    best = max(permutations(identity), key=lambda order: (score(order), order == identity))
    if score(best) <= score(identity):
        return written
    return Written(written.intro, tuple(written.reasons[i] for i in best))


def false_claim(reasons: Sequence[str], facts: Sequence[ProductFact]) -> bool:
    """A reason calling a product new or on deal when the catalogue says it is not."""
    return any(
        (_NEW_CLAIM.search(r) and not f.new) or (_DEAL_CLAIM.search(r) and not f.on_deal)
        for r, f in zip(reasons, facts, strict=False)
    )


def mixed_facts(reasons: Sequence[str], facts: Sequence[ProductFact]) -> bool:
    """A reason that borrows two or more words from another product's highlight and none
    from its own: it describes the wrong product."""
    own = [_stems(f.highlight) for f in facts]
    for i, reason in enumerate(reasons):
        words = _stems(reason)
        others = set().union(*(own[j] for j in range(len(facts)) if j != i)) - own[i]
        if len(words & others) >= 2 and not words & own[i]:
            return True
    return False


def plain(text: str) -> str:
    """What a reader sees: full-width forms folded, invisible characters dropped."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def repetitive(pieces: Sequence[str]) -> bool:
    """The same piece twice, a three-word run three times or more, or two pieces sharing a
    four-word run (one product's reason copied onto another)."""
    normal = [_norm(p) for p in pieces]
    if len(set(normal)) < len(normal):
        return True
    words = _WORD.findall(" ".join(pieces).lower())
    runs = Counter(zip(words, words[1:], words[2:], strict=False))
    if any(count >= 3 for count in runs.values()):
        return True
    seen: set[tuple[str, ...]] = set()
    for piece in pieces:
        w = _WORD.findall(piece.lower())
        mine = {tuple(w[i : i + 4]) for i in range(len(w) - 3)}
        if mine & seen:
            return True
        seen |= mine
    return False


def english(text: str) -> bool:
    """Latin letters only (a small model drifts into other scripts mid-line) and at least one
    common English word."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters or any(not unicodedata.name(ch, "").startswith("LATIN") for ch in letters):
        return False
    return any(w in _ENGLISH for w in _WORD.findall(text.lower()))


def check_written(
    written: Written,
    facts: Sequence[ProductFact],
    catalogue_names: Sequence[str],
    time_of_day: str | None = None,
) -> str | None:
    """None when the words may be shown, else the reason they may not."""
    pieces = [plain(p) for p in (written.intro, *written.reasons)]
    text = "\n".join(pieces)
    if not text.strip():
        return "empty"
    if any(len(p) > MAX_PIECE_CHARS for p in pieces):
        return "too_long"
    if _LEAK.search(text) or _ECHO.search(text):
        return "echo"
    if any(p.search(text) for p in (_URL, _DOMAIN, _EMAIL, _PHONE, _MARKUP)):
        return "unsafe"
    flat = _norm(text)
    brands = {_norm(n.split()[0]) for n in catalogue_names if n.split()}
    words = {_norm(w) for w in re.findall(r"[\w-]+", text)}
    if any(_norm(n) in flat for n in catalogue_names) or brands & words:
        return "off_policy_product"
    source = " ".join(f"{f.highlight} {f.key_spec}" for f in facts)
    stated = {m.group(0).lower() for m in _PRICE.finditer(source)}  # "under 40 euros"
    if any(m.group(0).lower() not in stated for m in _PRICE.finditer(text)):
        return "off_policy_price"
    if _PERCENT.search(text) or _CODE.search(text):
        return "off_policy_price"
    known = set(_NUMBER.findall(source))
    if any(number not in known for number in _NUMBER.findall(text)):
        return "off_policy_number"
    if repetitive(pieces):
        return "repetitive"
    if mixed_facts(pieces[1:], facts):
        return "mixed_facts"
    if false_claim(pieces[1:], facts):
        return "false_claim"
    if any(_HELLO.search(r) for r in pieces[1:]):
        return "greeting_as_reason"
    if not english(text):
        return "wrong_language"
    greeted = {m.group(1).lower() for m in DAYPART_GREETING.finditer(text)}
    if greeted and greeted != {time_of_day}:
        return "wrong_daypart"
    return None
