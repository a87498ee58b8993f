"""Real servers for tests: Redis, the action server and the Rasa server, on free loopback ports."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
VAR = ROOT / "var" / "pytest"
# Shared by the action servers and Rasa servers a test run starts (endpoints.yml headers).
ACTION_SECRET = secrets.token_hex(16)
GATEWAY_SECRET = secrets.token_hex(16)  # vouches for the gateway's `account` metadata
# Encryption and pseudonym keys of the processes a test run starts (never the dev files).
ENCRYPTION_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
PSEUDONYM_KEY = secrets.token_hex(32)


_ISSUED: set[int] = set()  # ports handed out in this run


def free_port() -> int:
    """A free loopback port not handed out before in this run: a port given to a server that
    has not bound it yet is still free to the kernel, which may offer it again (a gateway and
    an action server once got the same port, and the gateway's readiness check was answered
    by the action server)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _ISSUED:
            _ISSUED.add(port)
            return port


def restartable_port() -> int:
    """A free loopback port below the kernel's ephemeral range, for a server a test stops and
    starts again on the same port: a port from that range (free_port) can be taken as the
    source port of an outgoing connection while the server is down, and the restart then
    fails with "address already in use"."""
    while True:
        port = secrets.randbelow(12_000) + 20_000  # 20000-31999; ephemeral starts at 32768
        if port in _ISSUED:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ISSUED.add(port)
        return port


def _wait(
    check, what: str, seconds: float, proc: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} during start-up:\n{tail}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {seconds:.0f} s")


# As scripts/redis.sh: the default user holds every permission (Redis replays the append-only
# file's MULTI/EXEC as that user and silently drops them if it may not: redis/redis#14541)
# behind a random password nobody is given.
LOCKED_DEFAULT_USER = f"user default on #{secrets.token_hex(32)} ~* &* +@all"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


class RedisServer:
    """A private redis-server configured like scripts/redis.sh: loopback only, append-only,
    default user off, application user ``pz`` without @dangerous commands, ``pz-admin``."""

    def __init__(self, name: str, port: int | None = None) -> None:
        self.port = port or restartable_port()
        self.dir = VAR / f"redis-{name}-{self.port}"
        self.proc: subprocess.Popen | None = None
        self.password = secrets.token_hex(16)
        self.admin_password = secrets.token_hex(16)

    @property
    def url(self) -> str:
        """The application user's URL."""
        return f"redis://pz:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def admin_url(self) -> str:
        return f"redis://pz-admin:{self.admin_password}@127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        auth = f"AUTH pz {self.password}\r\nPING\r\n".encode()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(auth)
                return b"+PONG" in sock.recv(64)
        except OSError:
            return False

    def start(self) -> RedisServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        acl = self.dir / "users.acl"
        acl.write_text(
            f"{LOCKED_DEFAULT_USER}\n"
            f"user pz on #{_sha256(self.password)} ~* &* +@all -@dangerous\n"
            f"user pz-admin on #{_sha256(self.admin_password)} ~* &* +@all\n"
        )
        acl.chmod(0o600)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--aclfile",
                str(acl),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=(self.dir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        _wait(self._ping, f"redis-server on port {self.port}", 10, self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.resume()
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        """Freeze the process: connections stay open but nothing answers (a hung server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisClusterServers:
    """A local Redis Cluster: `nodes` redis-server processes (cluster-enabled, loopback, no
    replicas) joined with ``redis-cli --cluster create``, with the ACL users of RedisServer
    (the application user ``pz`` without @dangerous commands but INFO, ``pz-admin``)."""

    def __init__(self, name: str, nodes: int = 3) -> None:
        # Cluster bus ports are set explicitly: the default (port + 10000) may not exist.
        self.ports = [free_port() for _ in range(nodes)]
        self.bus_ports = [free_port() for _ in range(nodes)]
        self.dir = VAR / f"redis-cluster-{name}-{self.ports[0]}"
        self.procs: list[subprocess.Popen] = []
        self.password = secrets.token_hex(16)
        self.admin_password = secrets.token_hex(16)

    @property
    def url(self) -> str:
        """The application user's URL of the first node (the client discovers the others)."""
        return f"redis://pz:{self.password}@127.0.0.1:{self.ports[0]}/0"

    def node_url(self, port: int, admin: bool = True) -> str:
        user, password = ("pz-admin", self.admin_password) if admin else ("pz", self.password)
        return f"redis://{user}:{password}@127.0.0.1:{port}/0"

    def _admin(self, port: int):
        import redis

        return redis.Redis.from_url(self.node_url(port), socket_timeout=2)

    def _state_ok(self) -> bool:
        try:
            for port in self.ports:
                with self._admin(port) as node:
                    if node.cluster("INFO").get("cluster_state") != "ok":
                        return False
            return True
        except Exception:  # not up yet, whatever the reason
            return False

    def start(self) -> RedisClusterServers:
        self.dir.mkdir(parents=True, exist_ok=True)
        acl = self.dir / "users.acl"
        acl.write_text(
            f"{LOCKED_DEFAULT_USER}\n"
            # INFO is @dangerous, but redis-py's cluster client needs it to connect.
            f"user pz on #{_sha256(self.password)} ~* &* +@all -@dangerous +info\n"
            f"user pz-admin on #{_sha256(self.admin_password)} ~* &* +@all\n"
        )
        acl.chmod(0o600)
        for port, bus in zip(self.ports, self.bus_ports, strict=True):
            data = self.dir / str(port)
            data.mkdir(exist_ok=True)
            proc = subprocess.Popen(
                [
                    "redis-server",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    str(bus),
                    "--cluster-config-file",
                    str(data / "nodes.conf"),
                    "--cluster-node-timeout",
                    "5000",
                    "--dir",
                    str(data),
                    "--aclfile",
                    str(acl),
                    "--appendonly",
                    "no",
                    "--save",
                    "",
                ],
                stdout=(data / "redis.log").open("ab"),
                stderr=subprocess.STDOUT,
            )
            self.procs.append(proc)
        for port, proc in zip(self.ports, self.procs, strict=True):
            _wait(lambda port=port: self._ping(port), f"cluster node {port}", 10, proc)
        created = subprocess.run(
            [
                "redis-cli",
                "--user",
                "pz-admin",
                "--no-auth-warning",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            env=os.environ | {"REDISCLI_AUTH": self.admin_password},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if created.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout[-3000:]}")
        _wait(self._state_ok, "cluster_state:ok on every node", 30)
        return self

    def _ping(self, port: int) -> bool:
        try:
            with self._admin(port) as node:
                return bool(node.ping())
        except Exception:  # not up yet
            return False

    def node_of(self, key: str) -> int:
        """The port of the node that serves `key`'s slot."""
        with self._admin(self.ports[0]) as node:
            slot = node.cluster("KEYSLOT", key)
            for start, end, master, *_ in node.cluster("SLOTS"):
                if start <= slot <= end:
                    return int(master[1])
        raise LookupError(slot)

    def command_counts(self) -> dict[int, dict[str, int]]:
        """Commands each node has run, by name (INFO commandstats; INFO itself excluded)."""
        out = {}
        for port in self.ports:
            with self._admin(port) as node:
                stats = node.info("commandstats")
            out[port] = {
                name.removeprefix("cmdstat_"): int(value["calls"])
                for name, value in stats.items()
                if name != "cmdstat_info"
            }
        return out

    def reset_stats(self) -> None:
        for port in self.ports:
            with self._admin(port) as node:
                node.config_resetstat()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs = []

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONWARNINGS="ignore",
        SANIC_HOST="127.0.0.1",
        PZ_ACTION_SECRET=ACTION_SECRET,
        PZ_GATEWAY_SECRET=GATEWAY_SECRET,
        PZ_ENCRYPTION_KEYS=ENCRYPTION_KEY,
        PZ_PSEUDONYM_KEY=PSEUDONYM_KEY,
    )
    return env


class Service:
    """A long-running process with a log file and an HTTP readiness URL."""

    def __init__(self, name: str, args: list[str], ready_url: str, env: dict[str, str]) -> None:
        self.name, self.args, self.ready_url, self.env = name, args, ready_url, env
        self.log = VAR / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float) -> Service:
        VAR.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait(lambda: http_ok(self.ready_url), self.name, timeout, self.proc, self.log)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


def action_server(
    port: int,
    redis_url: str,
    experiments: Path | None = None,
    responses: Path | None = None,
    name: str = "actions",
    **extra: str,
) -> Service:
    env = rasa_env() | {"PZ_REDIS_URL": redis_url} | extra
    if experiments is not None:
        env["PZ_EXPERIMENTS_FILE"] = str(experiments)
    if responses is not None:
        env["PZ_RESPONSES_FILE"] = str(responses)
    return Service(
        name,
        [str(VENV_BIN / "python"), "-m", "actionserver", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        env,
    )


class PostgresServer:
    """A private PostgreSQL started by scripts/postgres.sh (loopback, data under var/), with a
    throwaway password; each stack gets a database of its own (`database`)."""

    def __init__(self, name: str, port: int | None = None) -> None:
        self.name = f"pytest-{name}"
        self.port = port or restartable_port()
        self.password = secrets.token_hex(16)
        self.dir = ROOT / "var" / f"postgres-{self.name}"

    def _script(self, command: str) -> None:
        env = dict(os.environ, PZ_POSTGRES_PASSWORD=self.password)
        done = subprocess.run(
            [str(ROOT / "scripts" / "postgres.sh"), command, self.name, str(self.port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"postgres.sh {command} failed: {done.stderr.strip()}")

    def start(self) -> PostgresServer:
        shutil.rmtree(self.dir, ignore_errors=True)  # a fresh cluster: the password is new
        self._script("start")
        return self

    def url(self, db: str = "voltmart") -> str:
        return f"postgresql://pz:{self.password}@127.0.0.1:{self.port}/{db}"

    def connect(self, db: str = "voltmart"):
        import psycopg2

        conn = psycopg2.connect(self.url(db), connect_timeout=5)
        conn.set_session(autocommit=True)
        return conn

    def database(self, db: str) -> str:
        """A new, empty database `db` (dropped first if a test run left it)."""
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{db}"')
        finally:
            conn.close()
        return db

    def events(self, db: str, sender: str) -> list[dict]:
        """A conversation as Rasa's SQL tracker store holds it, oldest first."""
        import json

        conn = self.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT data FROM events WHERE sender_id = %s ORDER BY id", (sender,))
                return [json.loads(data) for (data,) in cur.fetchall()]
        finally:
            conn.close()

    def stop(self) -> None:
        self._script("stop")

    def restart(self) -> None:
        """Start again on the same data (after `kill` or `stop`)."""
        self._script("start")

    def kill(self) -> None:
        """SIGKILL the server and its backends, as a crash of the machine's database would."""
        pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        subprocess.run(["pkill", "-KILL", "-P", str(pid)], check=False)
        os.kill(pid, signal.SIGKILL)

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


REDIS_TRACKER_STORE = """tracker_store:
  type: rasa_ext.stores.RedisTrackerStore
  url: 127.0.0.1
  port: 6390
  db: 0
  key_prefix: pz
  username: pz
  password: ${PZ_REDIS_PASSWORD}
  record_exp: 2592000

"""


def write_endpoints(
    path: Path,
    actions_port: int,
    redis: RedisServer,
    redis_port: int | None = None,
    postgres: PostgresServer | None = None,
    db: str = "voltmart",
) -> Path:
    """endpoints.yml pointing at test ports, with the test servers' (throwaway) passwords.
    `redis_port` points Rasa at something in front of Redis (a fault proxy). Without
    `postgres`, conversations go to the Redis tracker store (endpoints.yml's alternative)."""
    text = (ROOT / "endpoints.yml").read_text()
    if postgres is None:
        start = text.index("tracker_store:\n")
        text = text[:start] + REDIS_TRACKER_STORE + text[text.index("\n\n", start) + 2 :]
    else:
        text = text.replace("port: 5490", f"port: {postgres.port}")
        text = text.replace("db: voltmart", f"db: {db}")
        text = text.replace("${PZ_POSTGRES_PASSWORD}", postgres.password)
    text = text.replace("127.0.0.1:5055", f"127.0.0.1:{actions_port}")
    text = text.replace("port: 6390", f"port: {redis_port or redis.port}")
    text = text.replace("${PZ_REDIS_PASSWORD}", redis.password)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rasa_server(
    port: int,
    endpoints: Path,
    credentials: Path | None = None,
    name: str = "rasa",
    extra_args: tuple[str, ...] = (),
    **env: str,
) -> Service:
    return Service(
        name,
        [
            str(VENV_BIN / "rasa"),
            "run",
            "--interface",
            "127.0.0.1",
            "--port",
            str(port),
            "--model",
            str(ROOT / "models"),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(credentials or ROOT / "credentials.yml"),
            *extra_args,
        ],
        f"http://127.0.0.1:{port}/webhooks/rest/",
        rasa_env() | env,
    )


def gateway_python() -> Path:
    """The gateway's own interpreter (var/gateway-venv from requirements/gateway.txt), as
    `make run` starts it; installed first when missing or stale (instant otherwise)."""
    subprocess.run([str(ROOT / "scripts" / "install_gateway.sh")], check=True)
    return ROOT / "var" / "gateway-venv" / "bin" / "python"


def gateway_server(
    port: int, rasa_port: int, redis_url: str, secrets_dir: Path, name: str = "gateway", **env: str
) -> Service:
    """The real gateway in front of a real Rasa server, with demo login on, in its own
    environment."""
    environment = rasa_env() | {
        "PZ_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "PZ_REDIS_URL": redis_url,
        "PZ_GATEWAY_DEMO_LOGIN": "1",
        **env,
    }
    return Service(
        name,
        [
            str(gateway_python()),
            "-m",
            "gateway",
            "--port",
            str(port),
            "--secrets-dir",
            str(secrets_dir),
        ],
        f"http://127.0.0.1:{port}/health",
        environment,
    )


def kafka_broker(name: str):
    """The project's Kafka-compatible broker (realtime/kafka_server.py) on a free port."""
    from realtime.kafka_server import KafkaServer

    return KafkaServer(free_port(), VAR / f"kafka-{name}.log")


def feature_worker(
    name: str, redis_url: str, *args: str, metrics_port: int | None = None, **env: str
) -> subprocess.Popen:
    """voltmart-worker as `make run` starts it, with the test run's keys; `args` choose the
    transport. Its log: var/pytest/<name>.log."""
    log = (VAR / f"{name}.log").open("ab")
    command = [str(VENV_BIN / "python"), "-m", "realtime.worker", "--consumer", name]
    if metrics_port:
        command += ["--metrics-port", str(metrics_port)]
    return subprocess.Popen(
        [*command, *args],
        cwd=ROOT,
        env=rasa_env() | {"PZ_REDIS_URL": redis_url} | env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
