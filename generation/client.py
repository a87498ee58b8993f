"""Generated answers from any OpenAI-compatible chat-completions server, never late or wrong.

`Generator.write` asks the model for the words of a recommendation, deals or new-arrivals
answer (generation/prompt.py) within the channel's budget and puts them around the
catalogue's names and prices. When the model is late, down, still loading, answers nothing
or something unparseable, or its words fail the guard (generation/guard.py), the template
answer goes out and the reason is counted. A turn never fails because of the generator.
Accepted words are kept by prompt (which holds nothing personal), so a repeat costs no model
time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp

from generation.config import GeneratorConfig
from generation.guard import align, check_written
from generation.prompt import (
    MAX_PRODUCTS,
    WritingRequest,
    Written,
    build_messages,
    compose,
    finished,
    fit_greeting,
    parse,
)

logger = logging.getLogger(__name__)

MAX_REPLY_BYTES = 64 * 1024
# Stop where a small model would start another example or echo the prompt.
STOP = ["\nShopper:", "\nShowing:", "\n\n\n", "<|im_end|>", "<end_of_turn>"]


@dataclass(frozen=True)
class GenerationResult:
    text: str
    source: str  # "generator" or "template"
    reason: str  # "generated", "cached", or why the template was used
    elapsed_ms: float
    raw: str = ""  # what the model said (the evaluation shows it), "" when it said nothing
    reasons: tuple[str, ...] = ()  # per product, when the words were used (web chat cards)


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _delta(data: bytes) -> str:
    """The text of one server-sent event of a streamed chat completion."""
    if not data.startswith(b"data:"):
        raise _Failed("malformed")
    try:
        content = json.loads(data[5:])["choices"][0]["delta"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise _Failed("malformed") from None
    if not isinstance(content, str):
        raise _Failed("malformed")
    return content


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
        self._cache: OrderedDict[str, Written] = OrderedDict()
        self.last: GenerationResult | None = None  # the latest result (evaluation, benchmarks)

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()  # inside the running loop
        return self._session

    def body(self, request: WritingRequest) -> dict:
        return {
            "model": self.config.model,
            "messages": build_messages(request),
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "stop": STOP,
        }

    async def complete(self, body: dict, n: int) -> str:
        """The answer, streamed: a turn that gives up (its budget) closes the stream, and
        llama.cpp's server stops writing for it at the next token instead of finishing an
        answer nobody reads while the next turn waits."""
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        parts: list[str] = []
        size = 0
        try:
            async with self.session().post(
                f"{self.config.url}/chat/completions",
                json={**body, "stream": True},
                headers=headers,
            ) as resp:
                if resp.status != 200:
                    raise _Failed("http_error")
                async for line in resp.content:
                    size += len(line)
                    if size > MAX_REPLY_BYTES:
                        raise _Failed("malformed")
                    data = line.strip()
                    if not data or data.startswith(b":"):  # keep-alive comments
                        continue
                    if data == b"data: [DONE]":
                        break
                    parts.append(_delta(data))
                    if "\n" in parts[-1] and finished("".join(parts), n):
                        break  # closing the stream stops the server writing
        except aiohttp.ClientError as exc:
            raise _Failed("connection_error") from exc
        return "".join(parts).strip()

    def _cached(self, key: str) -> Written | None:
        written = self._cache.get(key)
        if written is not None:
            self._cache.move_to_end(key)
        return written

    def _keep(self, key: str, written: Written) -> None:
        if self.config.cache_size <= 0:
            return
        self._cache[key] = written
        self._cache.move_to_end(key)
        while len(self._cache) > self.config.cache_size:
            self._cache.popitem(last=False)

    async def write(self, request: WritingRequest) -> GenerationResult:
        start = time.perf_counter()
        facts = request.facts[:MAX_PRODUCTS]
        body = self.body(request)
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        raw, written = "", self._cached(key)
        reason = "cached" if written is not None else ""
        if written is None and not facts:
            reason = "no_products"
        elif written is None:
            try:
                async with asyncio.timeout(self.config.budget_s(request.channel)):
                    raw = await self.complete(body, len(facts))
                written = parse(raw, len(facts))
                if written is not None:
                    written = align(fit_greeting(written, request.time_of_day), facts)
                if not raw:
                    reason = "empty"
                elif written is None:
                    reason = "unparseable"
                else:
                    reason = (
                        check_written(written, facts, self.catalogue_names, request.time_of_day)
                        or "generated"
                    )
            except TimeoutError:
                reason = "timeout"
            except _Failed as failed:
                reason = failed.reason
            except Exception:  # a generator must never fail a turn
                logger.exception("generator failed unexpectedly; using the template answer")
                reason = "error"
            if reason == "generated" and written is not None:
                self._keep(key, written)
        elapsed = (time.perf_counter() - start) * 1000
        await self._count(reason)
        if reason not in ("generated", "cached") or written is None:
            logger.info("generated text not used (%s); template answer instead", reason)
            self.last = GenerationResult(request.template_text, "template", reason, elapsed, raw)
        else:
            text = compose(written, facts)
            self.last = GenerationResult(text, "generator", reason, elapsed, raw, written.reasons)
        return self.last

    async def warm_up(self, request: WritingRequest) -> bool:
        """One request at start-up, not counted and not shown: the server loads the model and
        keeps the prompt's shared beginning (instructions, examples), so the first shopper's
        turn costs what every later one does."""
        try:
            async with asyncio.timeout(30):
                await self.complete(self.body(request), len(request.facts[:MAX_PRODUCTS]))
        except (TimeoutError, _Failed) as exc:
            logger.warning(
                "generator warm-up failed (%s); turns use the template until it answers",
                getattr(exc, "reason", "timeout"),
            )
            return False
        return True

    async def _count(self, reason: str) -> None:
        self.outcomes[reason] += 1
        if self.on_outcome is not None:
            try:
                await self.on_outcome(reason)
            except Exception:  # counting must not fail the turn either
                logger.warning("could not count generator outcome %r", reason)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
