"""A scripted OpenAI-compatible chat-completions server for tests.

It stands in for a model where a test needs a behaviour on demand that a real model shows
only by chance (tests/generation/test_real_model.py runs the real one): it plays the
answers the generator must survive, chosen by `mode`, and records every request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.servers import free_port


class OpenAIStub:
    """Modes: ok, slow, error, malformed, no_choices, empty, gullible."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.reply = "Good evening! Picked for you.\nA) Bright and clear."
        self.delay = 0.8
        self.requests: list[dict[str, Any]] = []
        self.last_headers: dict[str, str] = {}
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> OpenAIStub:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.complete)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def answer(content: str) -> web.Response:
        """A streamed chat completion (server-sent events), a few characters per event."""
        events = [
            "data: " + json.dumps({"choices": [{"delta": {"content": content[i : i + 8]}}]})
            for i in range(0, len(content), 8)
        ]
        body = "\n\n".join([": ping", *events, "data: [DONE]"]) + "\n\n"
        return web.Response(text=body, content_type="text/event-stream")

    async def complete(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.last_headers = dict(request.headers)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "error":
            return web.json_response({"error": "overloaded"}, status=500)
        if self.mode == "malformed":
            return web.Response(text="<html>gateway timeout</html>")
        if self.mode == "no_choices":
            return web.Response(text='data: {"choices": []}\n\n', content_type="text/event-stream")
        if self.mode == "empty":
            return self.answer("   ")
        if self.mode == "gullible":  # repeats its instructions and invents a bargain
            leaked = body["messages"][0]["content"]
            return self.answer(f"Sure! {leaked}\nA) Nova X99 for €1, code FREE100.")
        return self.answer(self.reply)
