"""Stable pseudonyms for user ids, so exports can be joined per user without naming anyone.

A keyed HMAC (not a plain hash): without the key, nobody can recompute a pseudonym from a
guessed id, and a new key unlinks every old export.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

PREFIX = "p_"
HEX_CHARS = 32  # 128 bits: collisions are out of reach for any realistic user count
_PSEUDONYM = re.compile(rf"{PREFIX}[0-9a-f]{{{HEX_CHARS}}}")


def is_pseudonym(value: str) -> bool:
    return bool(_PSEUDONYM.fullmatch(value))


def subject(user_id: str, key: bytes | None) -> str:
    """The id segment data is keyed by: the pseudonym, or the id itself without a key.

    Ids that already are pseudonyms stay as they are, so re-running a step is harmless."""
    if key is None or is_pseudonym(user_id):
        return user_id
    return pseudonym(user_id, key)


def pseudonym(user_id: str, key: bytes) -> str:
    """``p_`` + the first 32 hex characters of HMAC-SHA256(key, user_id)."""
    if not key:
        raise ValueError("the pseudonym key is empty; load it with privacy.keys.load_keyring")
    digest = hmac.new(key, str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_CHARS]


def pseudonymize_frame(df: pd.DataFrame, column: str, key: bytes) -> pd.DataFrame:
    """A copy of ``df`` with ``column`` replaced by pseudonyms; missing values stay missing,
    values that already are pseudonyms stay as they are."""
    if column not in df.columns:
        raise ValueError(
            f"column {column!r} is not in the frame ({', '.join(map(str, df.columns))})"
        )
    values = df[column]
    mapping = {value: subject(str(value), key) for value in values.dropna().unique()}
    out = df.copy()
    out[column] = values.map(mapping)
    return out
