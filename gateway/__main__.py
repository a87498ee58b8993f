"""python -m gateway [--host 127.0.0.1] [--port 8080]: run the public gateway."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from gateway.app import create_app
from gateway.bootstrap import ensure_dev_secrets
from gateway.config import ConfigError, GatewayConfig
from privacy.urls import redact_url

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Voltmart gateway: tokens, chat, ingest.")
    parser.add_argument("--host", default=os.environ.get("PZ_GATEWAY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=os.environ.get("PZ_GATEWAY_PORT", "8080"))
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        default=ROOT / "var" / "secrets",
        help="where first-run secrets go when no key is configured",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    env = dict(os.environ)
    try:
        for note in ensure_dev_secrets(env, args.secrets_dir):
            print(f"gateway: {note}", flush=True)
        config = GatewayConfig.from_env(env)
        app = create_app(config)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(
        f"gateway: http://{args.host}:{args.port}/ -> Rasa {config.rasa_url}, "
        f"Redis {redact_url(config.redis_url)}, JWT {config.jwt_algorithm}, "
        f"demo login {'on' if config.demo_login else 'off'}",
        flush=True,
    )
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
