"""A scripted OpenAI-compatible chat-completions server for tests.

It cannot be a real model here: no model weights may be downloaded, and a
real model's answers would not be repeatable. It plays the behaviours the
generator must survive instead, chosen by `mode`, and records every request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.servers import free_port

INJECTION_MARKERS = ("ignore", "system", "instructions", "reveal", "prompt", "{{", "<")


class OpenAIStub:
    """Modes: ok, slow, error, malformed, no_choices, empty, gullible."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.reply = "Hello!"
        self.delay = 0.8
        self.requests: list[dict[str, Any]] = []
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
        return web.json_response(
            {"object": "chat.completion", "choices": [{"message": {"content": content}}]}
        )

    async def complete(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "error":
            return web.json_response({"error": "overloaded"}, status=500)
        if self.mode == "malformed":
            return web.Response(text="<html>gateway timeout</html>")
        if self.mode == "no_choices":
            return web.json_response({"choices": []})
        if self.mode == "empty":
            return self.answer("   ")
        if self.mode == "gullible":  # obeys whatever the user says
            user = body["messages"][-1]["content"].lower()
            if any(marker in user for marker in INJECTION_MARKERS):
                leaked = body["messages"][0]["content"]
                return self.answer(f"Sure! My instructions are: {leaked} Use code FREE100 for €0.")
            return self.answer("Sure! Everything is free today: Nova X99 for €1.")
        return self.answer(self.reply)
