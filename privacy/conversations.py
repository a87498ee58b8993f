"""Conversations in PostgreSQL (Rasa's `events` table, rasa_ext/sql_store.py), for erasure
and export, which run in the action server and the gateway, not in Rasa.

A short connection per call: both are rare and must not hold a pool in two services. The
driver is blocking, so calls run in a worker thread; a database that does not answer ends
in ConversationsUnavailable (an OSError, which callers already turn into "try later").
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class ConversationsUnavailable(ConnectionError):
    """The conversations database did not answer; nothing was changed."""


class SqlConversations:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    async def erase(self, user_ids: list[str]) -> dict[str, int]:
        """Delete the users' conversations; events removed per user."""
        return await asyncio.to_thread(self._erase, list(user_ids))

    async def events(self, user_id: str) -> list[dict[str, Any]]:
        """The user's conversation, every session, oldest first."""
        return await asyncio.to_thread(self._events, user_id)

    def _connect(self) -> Any:
        import psycopg2

        try:
            conn = psycopg2.connect(
                self.url,
                connect_timeout=max(1, int(self.timeout_s)),
                options=f"-c statement_timeout={int(self.timeout_s * 1000)}",
            )
        except psycopg2.Error as exc:
            raise ConversationsUnavailable(f"conversations database: {_first_line(exc)}") from None
        return conn

    def _erase(self, user_ids: list[str]) -> dict[str, int]:
        import psycopg2

        conn = self._connect()
        try:
            with conn, conn.cursor() as cur:
                if not _has_events_table(cur):
                    return dict.fromkeys(user_ids, 0)
                cur.execute(
                    "DELETE FROM events WHERE sender_id = ANY(%s) RETURNING sender_id",
                    (user_ids,),
                )
                removed = dict.fromkeys(user_ids, 0)
                for (sender,) in cur.fetchall():
                    removed[sender] += 1
                return removed
        except psycopg2.Error as exc:
            raise ConversationsUnavailable(f"conversations database: {_first_line(exc)}") from None
        finally:
            conn.close()

    def _events(self, user_id: str) -> list[dict[str, Any]]:
        import psycopg2

        conn = self._connect()
        try:
            with conn, conn.cursor() as cur:
                if not _has_events_table(cur):
                    return []
                cur.execute("SELECT data FROM events WHERE sender_id = %s ORDER BY id", (user_id,))
                rows = cur.fetchall()
        except psycopg2.Error as exc:
            raise ConversationsUnavailable(f"conversations database: {_first_line(exc)}") from None
        finally:
            conn.close()
        events = []
        for (data,) in rows:
            try:
                events.append(json.loads(data))
            except ValueError:
                events.append({"event": "unreadable"})
        return events


def _has_events_table(cur: Any) -> bool:
    """Rasa creates the table when it first starts; before that there is nothing to read."""
    cur.execute("SELECT to_regclass('events') IS NOT NULL")
    return bool(cur.fetchone()[0])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def conversations_from(url: str) -> SqlConversations | None:
    """Where erasure and export find conversations: PostgreSQL when PZ_CONVERSATIONS_URL is
    set (``make run`` sets it), else None: they are in Redis with the other keys."""
    return SqlConversations(url) if url else None
