"""The local model server: llama-cpp-python's OpenAI-compatible server in its own environment.

scripts/install_llm.sh builds that environment (var/llm/venv, pydantic 2, apart from Rasa's)
and records where the packaged model files are (var/llm/models.json). This module writes the
server's config and runs it on loopback as a child process; `make run` (scripts/llm.sh),
the tests, the evaluation and the benchmarks all start it through here, so they measure the
same server. The generator itself only speaks HTTP to whatever URL endpoints.yml names.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LLM_DIR = ROOT / "var" / "llm"
PYTHON = LLM_DIR / "venv" / "bin" / "python"
MODELS_FILE = LLM_DIR / "models.json"
DEFAULT_MODEL = "smollm2-135m"
# Per model: the chat template to use (None: the one inside the GGUF file).
CHAT_FORMATS: dict[str, str | None] = {"smollm2-135m": None, "gemma3-270m": "gemma"}


class ModelServerError(RuntimeError):
    """The model server cannot start; the message says what to run or read."""


def packaged_models(models_file: Path = MODELS_FILE) -> dict[str, str]:
    """Model alias -> GGUF path, as scripts/install_llm.sh found them in their packages."""
    try:
        found = json.loads(models_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelServerError(
            f"{models_file} is missing; run scripts/install_llm.sh (builds the model server)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelServerError(f"{models_file}: unreadable ({exc}); rerun install_llm.sh") from None
    return {str(k): str(v) for k, v in found.items()}


def server_config(
    port: int,
    models: Sequence[str],
    paths: Mapping[str, str],
    api_key: str | None = None,
    threads: int = 2,
) -> dict[str, object]:
    """llama-cpp-python's config file: loopback only; one entry per served model (the server
    keeps one loaded and swaps on request, so a second model costs time, not memory)."""
    unknown = [m for m in models if m not in paths]
    if unknown:
        raise ModelServerError(f"unknown model(s) {unknown}; packaged: {sorted(paths)}")
    entries = [
        {
            "model": paths[m],
            "model_alias": m,
            "chat_format": CHAT_FORMATS.get(m),
            "n_ctx": 1024,
            "n_threads": threads,
            "n_threads_batch": threads,
            "seed": 7,
            "verbose": False,
        }
        for m in models
    ]
    config: dict[str, object] = {"host": "127.0.0.1", "port": port, "models": entries}
    if api_key:
        config["api_key"] = api_key
    return config


@dataclass
class ModelServer:
    """One server process. `start` returns once /v1/models answers; `stop` is idempotent."""

    port: int
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    api_key: str | None = None
    threads: int = 2
    log: Path = field(default_factory=lambda: ROOT / "var" / "log" / "llm.log")
    proc: subprocess.Popen | None = None
    started_s: float | None = None  # seconds from launch to the first answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 60.0) -> ModelServer:
        if not PYTHON.exists():
            raise ModelServerError(f"{PYTHON} missing; run scripts/install_llm.sh first")
        config = server_config(
            self.port, self.models, packaged_models(), self.api_key, self.threads
        )
        path = LLM_DIR / f"server-{self.port}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the key
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(config, out)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        begin = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(PYTHON), "-m", "llama_cpp.server", "--config_file", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        while time.monotonic() - begin < timeout_s:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise ModelServerError(f"model server exited during start-up; {self.log}:\n{tail}")
            if self.ready():
                self.started_s = time.monotonic() - begin
                return self
            time.sleep(0.1)
        self.stop()
        raise ModelServerError(f"model server not ready after {timeout_s:.0f} s; see {self.log}")

    def ready(self) -> bool:
        request = urllib.request.Request(f"{self.url}/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash would: no goodbye to open connections."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def rss_mb(self) -> float | None:
        """Resident memory of the server process (Linux /proc), for the benchmarks."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        kb = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0
        )
        return kb / 1024
