"""Optional generated wording from any OpenAI-compatible chat-completions server.

Off by default. When `generator.enabled` is true in endpoints.yml, a
recommendation's template answer is rewritten by the model within a hard
per-channel budget; on timeout, error, malformed or empty output, or an
answer the guard refuses (responses/guarding.py), the template answer is
used and the reason counted. A turn never fails because of the generator.

    generator:                      # endpoints.yml (Rasa ignores this key)
      enabled: false
      url: http://127.0.0.1:8081/v1   # llama.cpp, vLLM, Ollama, ... (POST {url}/chat/completions)
      model: local-model
      api_key_env: PZ_GENERATOR_API_KEY   # the NAME of the variable holding the key
      budget_ms: {web: 1500, slack: 800, default: 1000}
      max_chars: 600
      temperature: 0.3
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from responses.guarding import GenerationRequest, build_messages, check_output

logger = logging.getLogger(__name__)

DEFAULT_BUDGETS_MS = {"web": 1500, "slack": 800, "default": 1000}
MAX_REPLY_BYTES = 64 * 1024


class GeneratorConfigError(ValueError):
    """The generator section of endpoints.yml is unusable; the message says how to fix it."""


@dataclass(frozen=True)
class GeneratorConfig:
    url: str
    model: str
    enabled: bool = True
    api_key: str | None = None
    budgets_ms: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_BUDGETS_MS))
    max_chars: int = 600
    temperature: float = 0.3

    def budget_s(self, channel: str) -> float:
        ms = self.budgets_ms.get(channel, self.budgets_ms.get("default", 1000))
        return ms / 1000


def load_generator_config(
    path: str | Path = "endpoints.yml",
    enabled: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> GeneratorConfig | None:
    """None when the section is absent or disabled. `enabled` (PZ_GENERATOR_ENABLED) overrides
    the file's `enabled`; `env` holds the variable `api_key_env` names."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError) as exc:
        raise GeneratorConfigError(f"{path}: cannot read ({exc})") from None
    section = raw.get("generator") if isinstance(raw, dict) else None
    if section is None:
        return None
    if not isinstance(section, dict):
        raise GeneratorConfigError(f"{path}: 'generator' must be a mapping (see README)")
    if not (section.get("enabled", False) if enabled is None else enabled):
        return None
    url, model = section.get("url"), section.get("model")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise GeneratorConfigError(f"{path}: generator.url must be an http(s) URL ending in /v1")
    if not isinstance(model, str) or not model:
        raise GeneratorConfigError(f"{path}: generator.model must name the served model")
    budgets = section.get("budget_ms", DEFAULT_BUDGETS_MS)
    if not isinstance(budgets, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 50 <= v <= 10_000
        for v in budgets.values()
    ):
        raise GeneratorConfigError(
            f"{path}: generator.budget_ms must map channels to 50..10000 milliseconds"
        )
    try:
        max_chars = int(section.get("max_chars", 600))
        temperature = float(section.get("temperature", 0.3))
    except (TypeError, ValueError):
        raise GeneratorConfigError(
            f"{path}: generator.max_chars/temperature must be numbers"
        ) from None
    key_env = section.get("api_key_env")
    return GeneratorConfig(
        url.rstrip("/"),
        model,
        True,
        (env or {}).get(key_env) if isinstance(key_env, str) else None,
        {**DEFAULT_BUDGETS_MS, **{str(k): v for k, v in budgets.items()}},
        max_chars,
        temperature,
    )


@dataclass(frozen=True)
class GenerationResult:
    text: str
    source: str  # "generator" or "template"
    reason: str  # "generated" or why the template was used
    elapsed_ms: float


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Generator:
    def __init__(
        self,
        config: GeneratorConfig,
        catalogue_names: Sequence[str],
        on_outcome: Callable[[str], Awaitable[None]] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config, self.catalogue_names = config, tuple(catalogue_names)
        self.on_outcome, self._session = on_outcome, session
        self.outcomes: Counter[str] = Counter()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()  # inside the running loop
        return self._session

    async def _complete(self, request: GenerationRequest) -> str:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        body = {
            "model": self.config.model,
            "messages": build_messages(request),
            "temperature": self.config.temperature,
            "max_tokens": max(64, self.config.max_chars // 2),
        }
        try:
            async with self.session().post(
                f"{self.config.url}/chat/completions", json=body, headers=headers
            ) as resp:
                raw = await resp.content.read(MAX_REPLY_BYTES + 1)
                if resp.status != 200:
                    raise _Failed("http_error")
        except aiohttp.ClientError as exc:
            raise _Failed("connection_error") from exc
        if len(raw) > MAX_REPLY_BYTES:
            raise _Failed("malformed")
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Failed("malformed") from None
        if not isinstance(content, str):
            raise _Failed("malformed")
        return content.strip()

    async def rewrite(self, request: GenerationRequest) -> GenerationResult:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.config.budget_s(request.channel)):
                text = await self._complete(request)
            refused = check_output(text, request, self.catalogue_names, self.config.max_chars)
            reason = refused or "generated"
        except TimeoutError:
            reason, text = "timeout", ""
        except _Failed as failed:
            reason, text = failed.reason, ""
        except Exception:  # a generator must never fail a turn
            logger.exception("generator failed unexpectedly; using the template answer")
            reason, text = "error", ""
        elapsed = (time.perf_counter() - start) * 1000
        self.outcomes[reason] += 1
        if self.on_outcome is not None:
            try:
                await self.on_outcome(reason)
            except Exception:  # counting must not fail the turn either
                logger.warning("could not count generator outcome %r", reason)
        if reason != "generated":
            logger.info("generated text not used (%s); template answer instead", reason)
            return GenerationResult(request.template_text, "template", reason, elapsed)
        return GenerationResult(text, "generator", reason, elapsed)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
