"""The active published segment assigner, as the feature worker uses it for online assignment."""

from __future__ import annotations

import json
import logging
import time

from core.redis_keys import active_key, model_key
from segmentation.assign import SegmentAssigner

logger = logging.getLogger(__name__)


class ModelCache:
    """The active published assigner, reloaded when the active version changes."""

    def __init__(self, client, namespace: str, check_every_s: float = 5.0) -> None:
        self.client, self.namespace, self.check_every_s = client, namespace, check_every_s
        self.version: str | None = None
        self.assigner: SegmentAssigner | None = None
        self.personas: dict[str, str] = {}
        self._checked = 0.0

    async def get(self) -> tuple[str | None, SegmentAssigner | None]:
        now = time.monotonic()
        if now - self._checked >= self.check_every_s:
            self._checked = now
            version = await self.client.get(active_key(self.namespace))
            version = version.decode() if version else None
            if version != self.version:
                await self._load(version)
        return self.version, self.assigner

    async def _load(self, version: str | None) -> None:
        self.version, self.assigner, self.personas = version, None, {}
        if not version:
            return
        raw = await self.client.get(model_key(self.namespace, version))
        try:
            spec = json.loads(raw)
            self.assigner = SegmentAssigner(spec)
            self.personas = dict(spec.get("personas", {}))
            logger.info("online assignment uses segment version %s", version)
        except (TypeError, ValueError, KeyError) as exc:
            logger.warning(
                "segment version %s has no usable model (%s); online assignment "
                "paused until the next publish",
                version,
                exc,
            )
