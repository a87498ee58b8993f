"""Encryption of the profile fields that identify a person, so a Redis dump does not.

Only PII_FIELDS are encrypted; segment, categories and timestamps stay readable for the
actions and batch jobs. A stored value is ``enc:v1:<Fernet token>``, so ciphertext is never
mistaken for plaintext. Reads never raise on bad stored data: a value that cannot be
decrypted becomes None and is logged by field name (never by value).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cryptography.fernet import InvalidToken
from redis.exceptions import ResponseError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from privacy.keyring import Keyring

PII_FIELDS = ("name", "email", "phone", "address")
PREFIX = "enc:v1:"

log = logging.getLogger(__name__)

# Replace a field only if it still holds the token we read: a profile rewritten or erased
# while the job ran is left as it is now, never resurrected with old data.
_SWAP_SCRIPT = """
local changed = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    changed = changed + 1
  end
end
return changed
"""


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def _name(key: object) -> object:
    """A hash field name as text when it is UTF-8, else as given (it is then not PII)."""
    text = _text(key)
    return key if text is None else text


def encrypt_fields(mapping: Mapping[str, object], keyring: Keyring) -> dict:
    """A copy of ``mapping`` with PII values (str, bytes or str()-able) encrypted; None stays."""
    out = dict(mapping)
    for key, value in mapping.items():
        if _name(key) in PII_FIELDS and value is not None:
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            out[key] = PREFIX + keyring.newest.encrypt(data).decode("ascii")
    return out


def decrypt_fields(mapping: Mapping[object, object], keyring: Keyring) -> dict:
    """A copy with text keys and PII values decrypted to str; undecryptable ones become None.

    Non-PII values are returned as given (bytes stay bytes). A PII value without the prefix
    is plaintext written before encryption was switched on, and is returned as text.
    """
    out: dict = {}
    failed = []
    for key, value in mapping.items():
        name = _name(key)
        if name in PII_FIELDS and value is not None:
            value = _decrypt(value, keyring)
            if value is None:
                failed.append(name)
        out[name] = value
    if failed:
        log.warning(
            "profile fields %s could not be decrypted (unknown key or corrupted); "
            "treated as missing",
            ", ".join(failed),
        )
    return out


def _decrypt(value: object, keyring: Keyring) -> str | None:
    text = _text(value)
    if text is None or not text.startswith(PREFIX):
        return text
    try:
        return keyring.fernet.decrypt(text[len(PREFIX) :]).decode("utf-8")
    except (InvalidToken, UnicodeDecodeError):
        return None


def rotate_fields(mapping: Mapping[object, object], keyring: Keyring) -> dict | None:
    """The PII fields not yet under the newest key, re-encrypted with it; None if none.

    Plaintext and undecryptable values are left alone (the latter logged by field name).
    """
    changed = {}
    for key, value in mapping.items():
        name = _name(key)
        text = _text(value)
        if name not in PII_FIELDS or text is None or not text.startswith(PREFIX):
            continue
        token = text[len(PREFIX) :]
        try:
            keyring.newest.decrypt(token)
            continue  # already under the newest key
        except InvalidToken:
            pass
        try:
            changed[name] = PREFIX + keyring.fernet.rotate(token).decode("ascii")
        except InvalidToken:
            log.warning("profile field %s could not be decrypted with any key; left as is", name)
    return changed or None


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


async def reencrypt_profiles(client: aioredis.Redis, namespace: str, keyring: Keyring) -> int:
    """Re-encrypt PII in ``<namespace>:profile:*`` under the newest key; returns profiles changed.

    Walks the keyspace with SCAN (never KEYS) and swaps only the changed fields, each only if
    it still holds the value read. Run it after every process has the rotated keys file.
    """
    swap = client.register_script(_SWAP_SCRIPT)
    changed_profiles = 0
    async for key in client.scan_iter(match=f"{_glob_escape(namespace)}:profile:*", count=500):
        try:
            values = await client.hmget(key, PII_FIELDS)
        except ResponseError:  # not a hash: not a profile this job understands
            log.warning("skipping %r: not a hash", key)
            continue
        current = {f: v for f, v in zip(PII_FIELDS, values, strict=True) if v is not None}
        rotated = rotate_fields(current, keyring)
        if not rotated:
            continue
        args = [part for f, new in rotated.items() for part in (f, current[f], new)]
        if await swap(keys=[key], args=args):
            changed_profiles += 1
    return changed_profiles
