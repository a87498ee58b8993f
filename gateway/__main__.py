"""python -m gateway [--host 127.0.0.1] [--port 8080]: run the public gateway."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aiohttp import web

from core.settings import EnvReader, Paths, Settings, environment
from core.urls import redact_url
from gateway.app import create_app
from gateway.bootstrap import ensure_dev_secrets
from gateway.config import GatewayConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Voltmart gateway: tokens, chat, ingest.")
    parser.add_argument("--host", help=f"default: $PZ_GATEWAY_HOST or {DEFAULT_HOST}")
    parser.add_argument("--port", type=int, help=f"default: $PZ_GATEWAY_PORT or {DEFAULT_PORT}")
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        help="where first-run secrets go when no key is configured "
        "(default: $PZ_SECRETS_DIR or var/secrets)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # A mutable copy: first-run secrets are added to it before the settings are read from it.
    env = environment()
    try:
        secrets_dir = args.secrets_dir or Paths.read(EnvReader(env)).secrets_dir
        for note in ensure_dev_secrets(env, secrets_dir):
            print(f"gateway: {note}", flush=True)
        settings = Settings.from_env(env)
        get = settings.reader()
        host = args.host or get.text("PZ_GATEWAY_HOST", DEFAULT_HOST)
        port = args.port if args.port is not None else get.integer("PZ_GATEWAY_PORT", DEFAULT_PORT)
        config = GatewayConfig.from_settings(settings)
        app = create_app(config)
    except (ValueError, OSError) as exc:  # ConfigError (SettingsError) is a ValueError
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(
        f"gateway: http://{host}:{port}/ -> Rasa {config.rasa_url}, "
        f"Redis {redact_url(config.redis_url)}, JWT {config.jwt_algorithm}, "
        f"demo login {'on' if config.demo_login else 'off'}",
        flush=True,
    )
    web.run_app(app, host=host, port=port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
