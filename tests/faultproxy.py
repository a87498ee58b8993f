"""A small fault-injecting TCP proxy for tests: put it between a client and a real server,
then make the link slow, hung or broken (Toxiproxy's core idea, no extra server needed)."""

from __future__ import annotations

import asyncio
import threading

from tests.servers import free_port


class FaultProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target>; `mode` may change at any time.

    pass   forward as is
    delay  hold every chunk `delay_s` before forwarding it (a slow dependency)
    hang   accept and read, forward nothing (a hung dependency)
    reset  close new and existing connections at once (a dead dependency)
    """

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.mode = "pass"
        self.delay_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def set(self, mode: str, delay_s: float = 0.0) -> None:
        assert mode in ("pass", "delay", "hang", "reset"), mode
        self.mode, self.delay_s = mode, delay_s
        if mode == "reset":
            self._loop.call_soon_threadsafe(self._close_all)

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            while self.mode == "hang":  # noqa: ASYNC110 (mode is set from another thread)
                await asyncio.sleep(0.05)
            if self.mode == "delay":
                await asyncio.sleep(self.delay_s)
            if self.mode == "reset":
                break
            writer.write(data)
            await writer.drain()
        writer.close()
