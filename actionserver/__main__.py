"""voltmart-actions (python -m actionserver) [--host 127.0.0.1] [--port 5055]: the hardened
action server, with the actions' services built once before it listens."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from actionserver.app import create_server_app
from actionserver.secret import SecretError, action_secret, action_secret_path
from actionserver.startup import is_loopback, start_services
from core.settings import Settings

logger = logging.getLogger("actionserver")
DEFAULT_PORT = 5055


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voltmart-actions",
        description="Voltmart action server: loopback, shared secret, per-action deadline.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: 5055")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (put TLS in front of it)",
    )
    parser.add_argument("--actions", default="actions", help="action package (default: actions)")
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        help="where the development secret is created when none is configured "
        "(default: $PZ_SECRETS_DIR or var/secrets)",
    )
    parser.add_argument(
        "--print-secret-path",
        action="store_true",
        help="print the file holding the secret (creating the dev one) and exit",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="load and check the configuration (catalogues, experiments, generator, keys, "
        "secret), then exit",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
        secrets_dir = args.secrets_dir or settings.paths.secrets_dir
        if args.print_secret_path:
            path = action_secret_path(settings.action_server, secrets_dir)
            if path is None:
                raise SecretError("PZ_ACTION_SECRET is set, so no file holds the secret")
            print(path)
            return 0
        if not is_loopback(args.host) and not args.allow_remote:
            raise ValueError(
                f"refusing to listen on {args.host}: not a loopback address; "
                "pass --allow-remote to expose the action server"
            )
        secret = action_secret(settings.action_server, secrets_dir)
        services = start_services(settings)
        if args.check:
            print("action server configuration ok")
            return 0
        deadline = settings.deadlines.action_s
        max_body = settings.action_server.max_body_bytes
        app = create_server_app(args.actions, secret, deadline, max_body, services)
    except (ValueError, OSError) as exc:  # SecretError, SettingsError, CatalogueError, ...
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    logger.info(
        "action server on http://%s:%d (token required, deadline %.0f ms)",
        args.host,
        args.port,
        deadline * 1000,
    )
    app.run(args.host, args.port, workers=1, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
