"""First-run secrets for a development gateway, so none ever has to live in the repository.

With no key configured, ``python -m gateway`` creates (once, mode 600) a random HS256
secret and demo clients in the secrets directory (var/secrets/ unless PZ_SECRETS_DIR or
--secrets-dir says otherwise) and points the configuration at them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import MutableMapping
from pathlib import Path

from core.files import write_private
from gateway.config import hash_secret

JWT_KEY_VARIABLES = (
    "PZ_JWT_SECRET",
    "PZ_JWT_SECRET_FILE",
    "PZ_JWT_PRIVATE_KEY_FILE",
    "PZ_JWT_PUBLIC_KEY_FILES",
)
DEMO_CLIENT = "crm-demo"
# Development clients: the CRM feed and an operator who may erase users.
DEMO_CLIENTS = {DEMO_CLIENT: ["ingest"], "ops-demo": ["privacy"]}


def ensure_dev_secrets(env: MutableMapping[str, str], secrets_dir: Path) -> list[str]:
    """Fill in PZ_JWT_SECRET_FILE and PZ_GATEWAY_CLIENTS_FILE when no key is configured.

    Returns lines telling the operator what was created or reused (secrets are never printed).
    """
    if any(env.get(name, "").strip() for name in JWT_KEY_VARIABLES):
        return []
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    notes = []
    secret_file = secrets_dir / "jwt_secret"
    created = write_private(secret_file, secrets.token_urlsafe(48) + "\n")
    notes.append(f"{'created' if created else 'using'} HS256 signing secret {secret_file}")
    env["PZ_JWT_SECRET_FILE"] = str(secret_file)
    if not env.get("PZ_GATEWAY_CLIENTS_FILE", "").strip():
        clients_file = secrets_dir / "clients.json"
        clients = json.loads(clients_file.read_text()) if clients_file.exists() else {}
        for client_id, scopes in DEMO_CLIENTS.items():
            secret_file = secrets_dir / f"{client_id}.secret"
            if client_id not in clients:
                client_secret = secrets.token_urlsafe(32)
                secret_file.unlink(missing_ok=True)
                write_private(secret_file, client_secret + "\n")
                clients[client_id] = {"secret_sha256": hash_secret(client_secret), "scopes": scopes}
                notes.append(f"created demo client {client_id!r} in {clients_file}")
            notes.append(
                f"client {client_id!r} (scope {' '.join(scopes)}): its secret is in {secret_file}"
            )
        clients_file.unlink(missing_ok=True)
        write_private(clients_file, json.dumps(clients, indent=2) + "\n")
        env["PZ_GATEWAY_CLIENTS_FILE"] = str(clients_file)
    return notes
