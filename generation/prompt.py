"""What the model is asked to write, and how its words become an answer: pure functions.

The model writes only words: a one-sentence introduction for this shopper and one reason per
product. It sees the segment's leading traits, the shopper's coarse, non-identifying facts
(daypart, device, price band, favourite and recent categories) and the catalogue facts of
the products the engine picked, as letters, never names or prices. The shopper's message is
not in the prompt at all: what they asked for reached the engine through NLU (intent,
category, budget), so a message can change neither the instructions nor the facts, and
equal prompts (the cache key) carry nothing personal. Names, prices and discounts in the
answer come from the catalogue (`compose`).

Small models follow examples better than rules, hence two worked examples as chat turns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.dayparts import GREETINGS
from core.traits import EXPERIENCE, INTERESTS, LOYALTY, NOVELTY, PRICE, SIMPLICITY, TECH, Traits

LETTERS = "ABC"  # at most three products get written words; more cost time a turn lacks
MAX_PRODUCTS = len(LETTERS)
# How a leading trait is put to the model, and words an introduction that reflects it uses
# (the evaluation's scripted check, bench/eval_generation.py).
TRAIT_PHRASES: dict[str, str] = {
    PRICE: "watches prices and loves a deal",
    NOVELTY: "loves the newest tech",
    TECH: "cares about specs and performance",
    SIMPLICITY: "wants things simple and easy",
    LOYALTY: "is a loyal regular customer",
}
TRAIT_WORDS: dict[str, tuple[str, ...]] = {
    PRICE: ("deal", "value", "price", "save", "saving", "budget", "money", "afford", "bargain"),
    NOVELTY: ("new", "newest", "latest", "just", "fresh", "arriv", "released"),
    TECH: ("spec", "perform", "power", "fast", "speed", "screen", "display", "tech"),
    SIMPLICITY: ("simple", "easy", "easi", "effortless", "straightforward", "hassle"),
    LOYALTY: ("welcome back", "again", "regular", "loyal", "thank", "favourite"),
}
KINDS = {"recommend": "picks", "deals": "deals", "new_arrivals": "new arrivals"}
DEVICES = {"mobile": "on a phone", "desktop": "on a computer"}
BANDS = {"low": "usually spends little", "mid": "spends a moderate amount", "high": "spends a lot"}

SYSTEM = (
    "You are Voltmart's shop assistant. Write one friendly sentence that introduces the "
    "products for this shopper, then one short reason per product, lettered like the "
    "products. Use only the facts given. Never write prices, numbers, codes or product names."
)
EXAMPLES = (
    (
        "Shopper: watches prices and loves a deal; wants things simple and easy. Evening, "
        "on a phone.\nShowing: deals\nProducts:\nA) speaker; big sound for little money; on "
        "deal\nB) speaker; easy to set up\nC) speaker; waterproof; on deal",
        "Good evening! These speakers give you a lot for your money.\n"
        "A) Big sound at a deal price: great value.\n"
        "B) Set up in a minute, nothing to learn.\n"
        "C) Goes anywhere, and it is on deal too.",
    ),
    (
        "Shopper: loves the newest tech; is a loyal regular customer. Morning, on a "
        "computer.\nShowing: new arrivals\nProducts:\nA) camera; sharpest photos in our range;"
        " just released\nB) camera; tiny and light; just released\nC) camera; films in the dark",
        "Good morning, and welcome back! Here are our newest cameras for you.\n"
        "A) Just released, with the sharpest photos we sell.\n"
        "B) Brand new, and small enough for any pocket.\n"
        "C) Films where others give up: in the dark.",
    ),
)


@dataclass(frozen=True)
class ProductFact:
    """A product as the catalogue states it: `price_text` is what the answer shows."""

    name: str
    category: str
    price_text: str  # "€169.15 (15% off €199)"
    highlight: str
    key_spec: str = ""
    on_deal: bool = False
    new: bool = False


@dataclass(frozen=True)
class WritingRequest:
    kind: str  # recommend, deals, new_arrivals
    traits: Traits
    facts: tuple[ProductFact, ...]
    template_text: str  # the safe answer, and the fallback
    channel: str = "rest"
    time_of_day: str | None = None
    device: str | None = None
    price_band: str | None = None
    favourite: str | None = None
    last_order: str | None = None


def leading_traits(traits: Traits, n: int = 2) -> tuple[str, ...]:
    """The strongest interests above average, at most `n` (none for an average shopper)."""
    return tuple(t for t in traits.ranked(INTERESTS) if traits.score(t) > 0.55)[:n]


def shopper_line(request: WritingRequest) -> str:
    traits = request.traits
    said = [TRAIT_PHRASES[t] for t in leading_traits(traits)]
    if traits.placed and traits.score(EXPERIENCE) < 0.4:
        said.append("is new to the shop")
    if request.price_band in BANDS:
        said.append(BANDS[request.price_band])
    if request.favourite:
        said.append(f"likes {request.favourite.replace('_', ' ')}")
    if request.last_order:
        said.append(f"recently bought {request.last_order.replace('_', ' ')}")
    when = [(request.time_of_day or "").capitalize(), DEVICES.get(request.device or "", "")]
    when_text = ", ".join(w for w in when if w)
    who = "; ".join(said) or "an average shopper we know little about"
    return f"Shopper: {who}." + (f" {when_text}." if when_text else "")


def product_line(letter: str, fact: ProductFact) -> str:
    parts = [fact.category.replace("_", " "), fact.highlight.rstrip(".").lower()]
    if fact.new:
        parts.append("just released")
    if fact.on_deal:
        parts.append("on deal")
    return f"{letter}) " + "; ".join(p for p in parts if p)


def build_messages(request: WritingRequest) -> list[dict[str, str]]:
    facts = request.facts[:MAX_PRODUCTS]
    products = "\n".join(product_line(LETTERS[i], f) for i, f in enumerate(facts))
    showing = KINDS.get(request.kind, "picks")
    messages = [{"role": "system", "content": SYSTEM}]
    for user, assistant in EXAMPLES:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages.append(
        {
            "role": "user",
            "content": f"{shopper_line(request)}\nShowing: {showing}\nProducts:\n{products}",
        }
    )
    return messages


@dataclass(frozen=True)
class Written:
    intro: str
    reasons: tuple[str, ...]


_LETTERED = re.compile(r"^\s*(?:[-*•]\s*)?([A-E])[).:]\s*(.*)$")


def parse(text: str, n: int) -> Written | None:
    """The introduction and the reasons for products A.. in order; None when one is missing.
    Lines after the last reason (a small model sometimes goes on) are dropped unread."""
    intro, reasons = "", {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        match = _LETTERED.match(line)
        if match:
            letter = match.group(1)
            if letter in LETTERS[:n] and letter not in reasons:
                reasons[letter] = match.group(2).strip()
            if len(reasons) == n:
                break
        elif not intro and not reasons:
            intro = line
    if not intro or any(not reasons.get(letter) for letter in LETTERS[:n]):
        return None
    return Written(intro, tuple(reasons[letter] for letter in LETTERS[:n]))


DAYPART_GREETING = re.compile(r"\bgood (morning|afternoon|evening|night)\b", re.I)


def fit_greeting(written: Written, time_of_day: str | None) -> Written:
    """The greeting for the shopper's own time of day: a small model copies "Good morning"
    from an example whatever the hour. Without a known time, or at night, "Hello"."""
    greeting = GREETINGS.get(time_of_day or "", "Hello")
    return Written(
        DAYPART_GREETING.sub(greeting, written.intro),
        tuple(DAYPART_GREETING.sub(greeting, r) for r in written.reasons),
    )


def finished(text: str, n: int) -> bool:
    """The words for `n` products are all there (the line after the last one has begun): the
    rest of what a small model would go on writing is not read, so it need not be waited for."""
    done = text.split("\n")[:-1]  # the last line may still be growing
    return sum(bool(_LETTERED.match(line)) for line in done) >= n


def compose(written: Written, facts: tuple[ProductFact, ...]) -> str:
    """The answer: the model's words around the catalogue's names and prices."""
    lines = [written.intro]
    for fact, reason in zip(facts, written.reasons, strict=True):
        lines.append(f"• {fact.name}, {fact.price_text}: {reason}")
    return "\n".join(lines)
