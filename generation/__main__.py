"""`python -m generation start|stop`: the local model server for `make run` (scripts/llm.sh).

Starts llama-cpp-python's server on loopback in its own session (it outlives this command),
waits for it to answer, records its pid; `stop` ends it. Tests and benchmarks use
generation.server.ModelServer directly.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from generation.server import DEFAULT_MODEL, ModelServer, ModelServerError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generation", description=__doc__)
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--models", nargs="+", default=[DEFAULT_MODEL])
    parser.add_argument("--api-key-file", type=Path, help="file holding the server's API key")
    parser.add_argument("--pidfile", type=Path, default=Path("var/run/llm.pid"))
    args = parser.parse_args(argv)
    pid = int(args.pidfile.read_text()) if args.pidfile.exists() else None
    if args.command == "stop":
        if pid is not None and _alive(pid):
            os.killpg(pid, signal.SIGTERM)
            for _ in range(50):
                if not _alive(pid):
                    break
                time.sleep(0.2)
            print("model server stopped")
        args.pidfile.unlink(missing_ok=True)
        return 0
    if pid is not None and _alive(pid):
        print(f"model server already running (pid {pid})")
        return 0
    key = args.api_key_file.read_text().strip() if args.api_key_file else None
    server = ModelServer(args.port, tuple(args.models), key)
    try:
        server.start()
    except ModelServerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    args.pidfile.parent.mkdir(parents=True, exist_ok=True)
    args.pidfile.write_text(str(server.proc.pid))
    print(
        f"model server up on 127.0.0.1:{args.port} ({', '.join(args.models)}; "
        f"{server.started_s:.1f} s to start, {server.rss_mb() or 0:.0f} MB resident)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
