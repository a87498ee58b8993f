"""Where encryption and pseudonym keys come from: the environment or a file, never the repo.

Encryption keys: PZ_ENCRYPTION_KEYS (comma-separated Fernet keys, newest first), else the
file named by PZ_ENCRYPTION_KEYS_FILE (one key per line, newest first, ``#`` comments), else,
for development only (``allow_dev=True``), var/secrets/encryption.keys created once with mode
600. The pseudonym key follows the same order: PZ_PSEUDONYM_KEY, PZ_PSEUDONYM_KEY_FILE,
var/secrets/pseudonym.key. Bad key material is a one-line ValueError naming the variable or
file; key material itself is never printed, logged or shown in a repr.

The variables reach these functions as a mapping (core/settings.py PrivacySettings.key_env);
`voltmart-keys` (privacy/keys.py) rotates and re-encrypts.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from core.files import replace_private, write_private
from core.settings import DEFAULT_SECRETS_DIR, Settings

ENCRYPTION_KEYS = "PZ_ENCRYPTION_KEYS"
ENCRYPTION_KEYS_FILE = "PZ_ENCRYPTION_KEYS_FILE"
PSEUDONYM_KEY = "PZ_PSEUDONYM_KEY"
PSEUDONYM_KEY_FILE = "PZ_PSEUDONYM_KEY_FILE"
DEV_KEYS_FILE = "encryption.keys"
DEV_PSEUDONYM_FILE = "pseudonym.key"
MIN_PSEUDONYM_KEY_BYTES = 32
KEYS_FILE_HEADER = "# Fernet keys, newest first: the first encrypts, all decrypt.\n"
NEW_KEY_HINT = (
    "make one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)

log = logging.getLogger("privacy.keys")  # not "__main__" under python -m


@dataclass(frozen=True)
class Keyring:
    """Encryption keys (newest first) and the pseudonym key; the repr shows only where from."""

    encryption_keys: tuple[bytes, ...] = field(repr=False)
    pseudonym_key: bytes = field(repr=False)
    encryption_source: str = "given"
    pseudonym_source: str = "given"
    fernet: MultiFernet = field(init=False, repr=False, compare=False)  # all keys decrypt
    newest: Fernet = field(init=False, repr=False, compare=False)  # the one that encrypts

    def __post_init__(self) -> None:
        if not self.encryption_keys:
            raise ValueError("a keyring needs at least one encryption key")
        fernets = [Fernet(key) for key in self.encryption_keys]
        object.__setattr__(self, "fernet", MultiFernet(fernets))
        object.__setattr__(self, "newest", fernets[0])

    @property
    def key_count(self) -> int:
        return len(self.encryption_keys)


def load_keyring(
    env: Mapping[str, str],
    secrets_dir: Path = DEFAULT_SECRETS_DIR,
    *,
    allow_dev: bool = False,
) -> Keyring:
    """The configured keys; raises ValueError (one line, no key material) when they are bad."""
    keys, key_source = load_encryption_keys(env, secrets_dir, allow_dev=allow_dev)
    pseudonym_key, pseudonym_source = load_pseudonym_key(env, secrets_dir, allow_dev=allow_dev)
    return Keyring(tuple(keys), pseudonym_key, key_source, pseudonym_source)


def service_keyring(settings: Settings) -> Keyring:
    """The keys a service runs with: the configured ones, else the development files under
    the settings' secrets directory."""
    return load_keyring(settings.privacy.key_env, settings.paths.secrets_dir, allow_dev=True)


def service_pseudonym_key(settings: Settings) -> bytes:
    """The pseudonym key every process must share (it decides per-user key names), found as
    `service_keyring` finds it."""
    privacy, secrets_dir = settings.privacy, settings.paths.secrets_dir
    return load_pseudonym_key(privacy.key_env, secrets_dir, allow_dev=True)[0]


def load_encryption_keys(
    env: Mapping[str, str], secrets_dir: Path, *, allow_dev: bool = False
) -> tuple[list[bytes], str]:
    """(Fernet keys newest first, where they came from)."""
    if env.get(ENCRYPTION_KEYS, "").strip():
        entries = [
            (f"entry {i}", k.strip()) for i, k in enumerate(env[ENCRYPTION_KEYS].split(","), 1)
        ]
        return _fernet_keys(ENCRYPTION_KEYS, entries), ENCRYPTION_KEYS
    if env.get(ENCRYPTION_KEYS_FILE, "").strip():
        path = Path(env[ENCRYPTION_KEYS_FILE].strip())
        where = f"{ENCRYPTION_KEYS_FILE}={path}"
        keys = _fernet_keys(where, _key_lines(_read(path, where)))
        return keys, f"{ENCRYPTION_KEYS_FILE} ({path})"
    if not allow_dev:
        raise ValueError(
            f"no encryption keys: set {ENCRYPTION_KEYS} or {ENCRYPTION_KEYS_FILE} "
            "(create a keys file with 'voltmart-keys rotate --keys-file FILE')"
        )
    path = secrets_dir / DEV_KEYS_FILE
    _create_dev_file(path, KEYS_FILE_HEADER + Fernet.generate_key().decode() + "\n")
    where = f"development keys file {path}"
    return _fernet_keys(where, _key_lines(_read(path, where))), where


def load_pseudonym_key(
    env: Mapping[str, str], secrets_dir: Path, *, allow_dev: bool = False
) -> tuple[bytes, str]:
    """(HMAC key for pseudonyms, where it came from)."""
    if env.get(PSEUDONYM_KEY, "").strip():
        return _pseudonym_key(PSEUDONYM_KEY, [("value", env[PSEUDONYM_KEY].strip())]), PSEUDONYM_KEY
    if env.get(PSEUDONYM_KEY_FILE, "").strip():
        path = Path(env[PSEUDONYM_KEY_FILE].strip())
        where = f"{PSEUDONYM_KEY_FILE}={path}"
        key = _pseudonym_key(where, _key_lines(_read(path, where)))
        return key, f"{PSEUDONYM_KEY_FILE} ({path})"
    if not allow_dev:
        raise ValueError(
            f"no pseudonym key: set {PSEUDONYM_KEY} or {PSEUDONYM_KEY_FILE} to at least "
            f"{MIN_PSEUDONYM_KEY_BYTES} random characters"
        )
    path = secrets_dir / DEV_PSEUDONYM_FILE
    _create_dev_file(path, secrets.token_urlsafe(MIN_PSEUDONYM_KEY_BYTES) + "\n")
    where = f"development pseudonym key file {path}"
    return _pseudonym_key(where, _key_lines(_read(path, where))), where


def _create_dev_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if write_private(path, text):
        log.warning("created %s for development; configure real keys in production", path)


def _read(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else "not UTF-8 text"
        raise ValueError(f"{where}: cannot read it ({reason}); fix the path or the file") from None


def _key_lines(text: str) -> list[tuple[str, str]]:
    """(``line N``, key) for each line that is not blank or a comment."""
    lines = ((n, line.split("#", 1)[0].strip()) for n, line in enumerate(text.splitlines(), 1))
    return [(f"line {n}", key) for n, key in lines if key]


def _fernet_keys(where: str, entries: Sequence[tuple[str, str]]) -> list[bytes]:
    if not any(key for _, key in entries):
        raise ValueError(f"{where}: no keys found; {NEW_KEY_HINT}")
    keys = []
    for label, key in entries:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(
                f"{where}: {label} is not a Fernet key (44 url-safe base64 characters); "
                + NEW_KEY_HINT
            ) from None
        keys.append(key.encode("ascii"))
    return keys


def _pseudonym_key(where: str, entries: Sequence[tuple[str, str]]) -> bytes:
    if len(entries) != 1:
        raise ValueError(f"{where}: expected exactly one key, found {len(entries)}")
    key = entries[0][1].encode("utf-8")
    if len(key) < MIN_PSEUDONYM_KEY_BYTES:
        raise ValueError(
            f"{where}: the key is too short ({len(key)} bytes, needs {MIN_PSEUDONYM_KEY_BYTES}); "
            "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return key


def rotate_keys_file(path: Path) -> int:
    """Put a new key first in ``path`` (created if missing), mode 600; returns the key count.

    Old keys stay, so data they encrypted stays readable; re-encrypting it is
    ``privacy.fields.reencrypt_profiles`` once every process has the new file.
    """
    text = _read(path, str(path)) if path.exists() else KEYS_FILE_HEADER
    entries = _key_lines(text)
    if entries:
        _fernet_keys(str(path), entries)  # never rewrite a file we cannot read back
    lines = text.splitlines(keepends=True)
    first_key = next(
        (i for i, line in enumerate(lines) if line.split("#", 1)[0].strip()), len(lines)
    )
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.insert(first_key, Fernet.generate_key().decode() + "\n")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    replace_private(path, "".join(lines))
    return len(entries) + 1
