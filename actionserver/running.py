"""Running one action within its deadline: a slow or failing action is answered with a short
apology (and no events), so Rasa carries on with the turn instead of waiting or failing."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from rasa_sdk import Tracker, utils
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection

from actionserver.action_metrics import ActionMetrics
from actionserver.calls import clip
from core.limits import ACTION_FALLBACK_TEXT, fallback_payload

logger = logging.getLogger(__name__)

dumps = partial(json.dumps, separators=(",", ":"))  # ASCII output: lone surrogates are safe


@dataclass
class Counters:
    """How often a user got the apology instead of an answer, and why; GET /health."""

    deadline_fallbacks: int = 0
    errors: int = 0
    unauthorized: int = 0
    bad_requests: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def fallback_result(reason: str) -> dict[str, Any]:
    """The answer when an action is too slow or fails: an apology (marked as one for the
    gateway's counts) and no events."""
    dispatcher = CollectingDispatcher()
    dispatcher.utter_message(
        text=ACTION_FALLBACK_TEXT, json_message=fallback_payload("action", reason)
    )
    return {"events": [], "responses": dispatcher.messages}


@dataclass
class ActionRunner:
    """Runs the executor's actions for one app; `running` holds cancelled actions that are
    still unwinding (an action that swallows CancelledError must not hold the answer)."""

    executor: ActionExecutor
    deadline_s: float
    counters: Counters = field(default_factory=Counters)
    metrics: ActionMetrics = field(default_factory=ActionMetrics)
    running: set[asyncio.Task] = field(default_factory=set)

    async def _run(self, name: str, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:
        dispatcher = CollectingDispatcher()
        events = await utils.call_potential_coroutine(
            self.executor.actions[name](dispatcher, tracker, domain)
        )
        validated = self.executor.validate_events(events or [], name)
        return {"events": validated, "responses": dispatcher.messages}

    def _reap(self, task: asyncio.Task) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("a cancelled action ended with %r", task.exception())

    async def run(self, name: str, tracker: Tracker, domain: dict[str, Any]) -> tuple[str, int]:
        """(JSON text, status) for Rasa: the action's result, a rejection, or the fallback."""
        started = time.perf_counter()
        body, status, outcome = await self._answer(name, tracker, domain)
        self.metrics.action(name, outcome, time.perf_counter() - started)
        return body, status

    async def _answer(
        self, name: str, tracker: Tracker, domain: dict[str, Any]
    ) -> tuple[str, int, str]:
        task = asyncio.ensure_future(self._run(name, tracker, domain))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.deadline_s)
        except asyncio.CancelledError:  # Rasa hung up: stop the action too
            task.cancel()
            raise
        if not done:
            task.cancel()  # without waiting for it
            self.running.add(task)
            task.add_done_callback(self._reap)
            self.counters.deadline_fallbacks += 1
            logger.warning(
                "action %s passed its %.0f ms deadline; cancelled, answered with the fallback",
                name,
                self.deadline_s * 1000,
            )
            return dumps(fallback_result("deadline")), 200, "deadline"
        try:
            return dumps(task.result()), 200, "ok"  # unserialisable events: the action's fault
        except ActionExecutionRejection as exc:  # Rasa reads this shape (RemoteAction.run)
            logger.info("action %s rejected its execution", name)
            body = {"error": clip(exc.message, 200), "action_name": clip(exc.action_name)}
            return dumps(body), 400, "rejected"
        except Exception:
            self.counters.errors += 1
            logger.exception("action %s failed; answered with the fallback", name)
            return dumps(fallback_result("error")), 200, "error"
