"""The secret Rasa and the action server share, so nothing else on the host can run actions.

PZ_ACTION_SECRET, else the file PZ_ACTION_SECRET_FILE names, else var/secrets/action_secret
created once (development only). Rasa sends it through endpoints.yml (unquoted, or Rasa
does not substitute it)::

    action_endpoint:
      url: "http://127.0.0.1:5055/webhook"
      headers:
        X-PZ-Action-Token: ${PZ_ACTION_SECRET}
"""

from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path

from sanic.request import Request

from core.files import write_private
from core.settings import ActionServerSettings

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-PZ-Action-Token"
SECRET_FILE_NAME = "action_secret"
MIN_SECRET_CHARS = 16


class SecretError(ValueError):
    """The shared secret is missing, unreadable or too short."""


def action_secret_path(configured: ActionServerSettings, secrets_dir: Path) -> Path | None:
    """The file holding the secret (the dev one is created once, mode 600); None if the
    secret is in PZ_ACTION_SECRET itself."""
    if configured.secret:
        return None
    if configured.secret_file:
        return Path(configured.secret_file)
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / SECRET_FILE_NAME
    if write_private(path, secrets.token_hex(32)):
        logger.info("created the action server's shared secret %s", path)
    return path


def action_secret(configured: ActionServerSettings, secrets_dir: Path) -> str:
    """The secret, checked: long enough, printable, and free of what Rasa would expand."""
    path = action_secret_path(configured, secrets_dir)
    if path is None:
        value, source = configured.secret, "PZ_ACTION_SECRET"
    else:
        source = str(path)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"cannot read the action secret from {path} ({exc})") from None
    if len(value) < MIN_SECRET_CHARS:
        raise SecretError(
            f"the action secret in {source} is shorter than {MIN_SECRET_CHARS} characters; "
            "use a long random value (e.g. `openssl rand -hex 32`)"
        )
    if "$" in value or not value.isprintable():
        raise SecretError(
            f"the action secret in {source} must be printable and contain no '$' "
            "(Rasa expands ${...} in endpoints.yml)"
        )
    return value


def authorized(request: Request, secret: bytes) -> bool:
    given = request.headers.get(TOKEN_HEADER)
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret)
