"""Mask personal data in chat text before it leaves the tracker store.

Exported conversations feed analysis and models, which need what people asked about,
never how to reach them: e-mail addresses, phone numbers and card numbers become
placeholders. Product talk ("5000 mAh", "6.7-inch", "€899", "Nova X12") stays intact.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

# A number starts and ends at a word boundary that is not part of a decimal or a
# model name: "X12", "6.7", "1,199.20" are never the start or the end of a match.
_START = r"(?<![\w+.,])"
_END = r"(?!\w|[.,]\d)"

# 13-19 digits, optionally grouped by single spaces or dashes; masked whether or not
# the Luhn check passes (a typo in a card number is still a card number). Card numbers
# never start with 0, which leaves "0049 151 2345 6789" to the phone pattern.
CARD = re.compile(_START + r"[1-9](?:[ -]?\d){12,18}" + _END)

# A digit run with an optional leading "+", area codes in parentheses and single
# spaces or dashes between groups; only runs of MIN_PHONE_DIGITS digits or more count.
PHONE = re.compile(r"(?<![\w+.,(])(?:\+ ?)?(?:\(\d+\) ?|\d)(?:[ -]?(?:\(\d+\)|\d))*" + _END)
MIN_PHONE_DIGITS = 7
# Numbers that are only separated by spaces ("Pixel 8 Pro 2026 128 GB") need more evidence:
# a trunk prefix 0 ("030 1234 5678") or as many digits as a full number with area code.
MIN_SPACED_DIGITS = 10

# ISO dates ("2026-11-24") have 8 digits and dashes but are not phone numbers.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PHONE_MARKS = re.compile(r"[+()-]")


def _is_phone(found: str) -> bool:
    digits = sum(ch.isdigit() for ch in found)
    if digits < MIN_PHONE_DIGITS or _DATE.fullmatch(found):
        return False
    spaced_only = " " in found and not _PHONE_MARKS.search(found)
    return not spaced_only or found.startswith("0") or digits >= MIN_SPACED_DIGITS


def _mask_phone(match: re.Match[str]) -> str:
    return "<phone>" if _is_phone(match.group(0)) else match.group(0)


def redact(text: str) -> str:
    """Replace e-mails, card-like numbers and phone numbers (in that order) by placeholders.

    Cards go before phones because a grouped card number also looks like a long phone number.
    """
    text = EMAIL.sub("<email>", text)
    text = CARD.sub("<card>", text)
    return PHONE.sub(_mask_phone, text)
