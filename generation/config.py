"""The generator section of endpoints.yml (Rasa ignores the key), checked at start-up.

generator:
  enabled: false                  # PZ_GENERATOR_ENABLED=1 overrides; `make run` then
                                  # starts the local model server (scripts/llm.sh)
  url: http://127.0.0.1:8081/v1   # any OpenAI-compatible server: llama.cpp, vLLM, Ollama
  model: smollm2-135m
  api_key_env: PZ_GENERATOR_API_KEY   # the NAME of the variable holding the key
  budget_ms: {web: 1600, slack: 1600, default: 1600}
  max_tokens: 120
  temperature: 0.3
  cache_size: 512                 # answers kept per action server, by prompt
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_BUDGETS_MS = {"web": 1600, "slack": 1600, "default": 1600}


class GeneratorConfigError(ValueError):
    """The generator section of endpoints.yml is unusable; the message says how to fix it."""


@dataclass(frozen=True)
class GeneratorConfig:
    url: str
    model: str
    api_key: str | None = None
    budgets_ms: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_BUDGETS_MS))
    max_tokens: int = 100
    temperature: float = 0.3
    cache_size: int = 512

    def budget_s(self, channel: str) -> float:
        ms = self.budgets_ms.get(channel, self.budgets_ms.get("default", 1600))
        return ms / 1000


def _number(section: Mapping, key: str, default, kind, low, high, path) -> int | float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise GeneratorConfigError(f"{path}: generator.{key} must be a number in {low}..{high}")
    return kind(value)


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
    key_env = section.get("api_key_env")
    return GeneratorConfig(
        url.rstrip("/"),
        model,
        (env or {}).get(key_env) if isinstance(key_env, str) else None,
        {**DEFAULT_BUDGETS_MS, **{str(k): v for k, v in budgets.items()}},
        _number(section, "max_tokens", 100, int, 16, 1024, path),
        _number(section, "temperature", 0.3, float, 0.0, 2.0, path),
        _number(section, "cache_size", 512, int, 0, 100_000, path),
    )
