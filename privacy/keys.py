"""voltmart-keys (python -m privacy.keys): where the keys come from, rotation, re-encryption.

voltmart-keys status [--dev]
voltmart-keys rotate [--keys-file F]
voltmart-keys reencrypt --redis-url URL [--namespace pz] [--dev]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from redis.exceptions import RedisError

from core.redis_clients import async_client, close_async
from core.settings import command_settings
from core.urls import redact_url
from privacy.fields import reencrypt_profiles
from privacy.keyring import (
    DEV_KEYS_FILE,
    ENCRYPTION_KEYS,
    ENCRYPTION_KEYS_FILE,
    load_encryption_keys,
    load_keyring,
    load_pseudonym_key,
    rotate_keys_file,
)


def _cmd_status(args: argparse.Namespace) -> int:
    ok = True
    try:
        keys, source = load_encryption_keys(args.key_env, args.secrets_dir, allow_dev=args.dev)
        print(f"encryption keys: {len(keys)} from {source} (the first encrypts, all decrypt)")
    except ValueError as exc:
        print(f"encryption keys: not usable: {exc}")
        ok = False
    try:
        _, source = load_pseudonym_key(args.key_env, args.secrets_dir, allow_dev=args.dev)
        print(f"pseudonym key: from {source}")
    except ValueError as exc:
        print(f"pseudonym key: not usable: {exc}")
        ok = False
    return 0 if ok else 2


def _cmd_rotate(args: argparse.Namespace) -> int:
    path = args.keys_file
    if path is None:
        if args.key_env.get(ENCRYPTION_KEYS, "").strip():
            raise ValueError(
                f"keys come from {ENCRYPTION_KEYS}; put a new key first there yourself, "
                "or pass --keys-file to rotate a file"
            )
        configured = args.key_env.get(ENCRYPTION_KEYS_FILE, "").strip()
        path = Path(configured) if configured else args.secrets_dir / DEV_KEYS_FILE
    existed = path.exists()
    count = rotate_keys_file(path)
    print(
        f"{'added a new first key to' if existed else 'created'} {path} (mode 600): {count} "
        f"key{'s' if count != 1 else ''}, the new one encrypts, all decrypt. Restart the "
        "services, then run 'voltmart-keys reencrypt --redis-url URL'."
    )
    return 0


def _cmd_reencrypt(args: argparse.Namespace) -> int:
    keyring = load_keyring(args.key_env, args.secrets_dir, allow_dev=args.dev)

    async def run() -> int:
        # A Redis Cluster with PZ_REDIS_CLUSTER=1 (SCAN walks every node).
        client = async_client(
            args.redis_url, args.cluster, socket_timeout=30, socket_connect_timeout=5
        )
        try:
            return await reencrypt_profiles(client, args.namespace, keyring)
        finally:
            await close_async(client)  # redis-py 4.6: no aclose()

    try:
        changed = asyncio.run(run())
    except (RedisError, OSError) as exc:
        raise ValueError(
            f"Redis at {redact_url(args.redis_url)} failed ({exc}); check --redis-url"
        ) from None
    print(
        f"re-encrypted {changed} profile{'s' if changed != 1 else ''} in namespace "
        f"{args.namespace!r} with the newest of {keyring.key_count} keys"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = command_settings()
    parser = argparse.ArgumentParser(prog="voltmart-keys", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        default=settings.paths.secrets_dir,
        help="where development keys live",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="how many keys there are and where they come from")
    rotate = commands.add_parser("rotate", help="put a new encryption key first in the keys file")
    rotate.add_argument(
        "--keys-file", type=Path, help=f"default: ${ENCRYPTION_KEYS_FILE} or the dev file"
    )
    reencrypt = commands.add_parser(
        "reencrypt", help="re-encrypt stored profiles with the newest key"
    )
    reencrypt.add_argument("--redis-url", required=True)
    reencrypt.add_argument("--namespace", default=settings.redis.namespace)
    for sub in (status, reencrypt):
        sub.add_argument("--dev", action="store_true", help="allow (and create) development keys")
    args = parser.parse_args(argv)
    args.key_env, args.cluster = settings.privacy.key_env, settings.redis.cluster
    handler = {"status": _cmd_status, "rotate": _cmd_rotate, "reencrypt": _cmd_reencrypt}
    try:
        return handler[args.command](args)
    except (ValueError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
