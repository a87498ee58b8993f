"""The user's data through the gateway: a JSON export for the signed-in user, and erasure of
a list of users for operators (a client-credentials token with the `privacy` scope)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from redis.exceptions import RedisError

from gateway.errors import ApiError
from gateway.handlers import (
    GATEWAY,
    NO_STORE,
    Gateway,
    address_of,
    authenticate,
    enforce,
    json_body,
)
from privacy.conversations import conversations_from
from privacy.erasure import MAX_IDS_PER_CALL, Eraser, ErasureError, check_ids
from privacy.export import export_user
from privacy.keyring import Keyring, load_keyring

logger = logging.getLogger(__name__)

ERASE_TIMEOUT_S = 30.0  # walks shared logs once per batch; bounded so callers get an answer


def keyring(gw: Gateway) -> Keyring:
    """The privacy keys, loaded on first use and kept on the gateway; a bad key is said in
    the log per request rather than stopping the gateway, whose chat does not need it."""
    if gw.keyring is None:
        config = gw.config
        gw.keyring = load_keyring(config.privacy_keys, config.secrets_dir, allow_dev=True)
    return gw.keyring


def _pseudonym_key(gw: Gateway) -> bytes | None:
    try:
        return keyring(gw).pseudonym_key
    except ValueError as exc:
        logger.error("erasure cannot name users' keys by pseudonym: %s", exc)
        return None


def _unavailable(what: str, exc: BaseException) -> ApiError:
    logger.warning("%s failed, a store is unavailable: %s", what, type(exc).__name__)
    return ApiError(503, f"{what} unavailable; retry shortly", {"Retry-After": "5"})


async def my_data(request: web.Request) -> web.Response:
    """GET /v1/me/data: everything stored about the token's subject, as JSON."""
    gw = request.app[GATEWAY]
    await enforce(gw, "address", address_of(request, gw), gw.config.address_rate)
    principal = authenticate(request, gw, "chat")
    await enforce(gw, "user", principal.sub, gw.config.user_rate)
    try:
        keys = keyring(gw)
    except ValueError as exc:  # misconfigured keys: an operator problem, said in the log
        logger.error("export cannot decrypt profiles: %s", exc)
        keys = None
    try:
        async with asyncio.timeout(ERASE_TIMEOUT_S):
            data = await export_user(
                gw.redis,
                gw.config.namespace,
                principal.sub,
                keys,
                shared=gw.shared,
                conversations=conversations_from(gw.config.conversations_url),
            )
    except (RedisError, OSError, TimeoutError) as exc:
        raise _unavailable("export", exc) from None
    return web.json_response(data, headers=NO_STORE)


async def erase(request: web.Request) -> web.Response:
    """POST /v1/privacy/erase {"user_ids": [...]}: erase users everywhere, with a receipt."""
    gw = request.app[GATEWAY]
    principal = authenticate(request, gw, "privacy")
    await enforce(gw, "ingest", principal.sub, gw.config.ingest_rate)
    body = await json_body(request, gw)
    unknown = set(body) - {"user_ids"}
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
    if not isinstance(body.get("user_ids"), list):
        raise ApiError(400, f"'user_ids' must be a list of 1 to {MAX_IDS_PER_CALL} user ids")
    try:
        ids = check_ids(body["user_ids"])
    except ErasureError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        async with asyncio.timeout(ERASE_TIMEOUT_S):
            eraser = Eraser(
                gw.redis,
                gw.config.namespace,
                pseudonym_key=_pseudonym_key(gw),
                shared=gw.shared,
                conversations=conversations_from(gw.config.conversations_url),
            )
            receipt = await eraser.erase(ids)
    except (RedisError, OSError, TimeoutError) as exc:
        raise _unavailable("erasure", exc) from None
    logger.info("%s erased %d user(s)", principal.sub[:64], len(ids))
    return web.json_response({"erased": receipt}, headers=NO_STORE)
