"""A stand-in for the gateway, only for developing the web chat page (gateway/static).

    .venv/bin/python tests/browser/stub_gateway.py --port 8089

It serves gateway/static at / and implements the two endpoints the page calls,
with canned persona-dependent answers and no Rasa, Redis or action server:

- POST /demo/login {"persona"} -> {"access_token", "sender", "persona", "expires_in"}
- POST /v1/chat {"message"} with "Authorization: Bearer <token>" (a token this
  stub issued) -> {"sender", "messages": [{"text"}], "fallback"}; 401 for a
  missing or unknown token, 400 for a bad body, and 429 with Retry-After: 3
  when the message is "flood".

It is not a test of the assistant: the project's real end-to-end test drives
the page through the real gateway, Rasa server and action server.
"""

from __future__ import annotations

import argparse
import json
import secrets
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parents[2] / "gateway" / "static"
TOKEN_TTL_S = 3600
TOKENS = web.AppKey("tokens", dict)

DEMO_SENDERS = {
    "frequent_buyer": "user_frequent",
    "bargain_hunter": "user_bargain",
    "tech_enthusiast": "user_enthusiast",
    "casual_browser": "user_casual",
    "new_visitor": "user_newcomer",
    "default": "user_guest",
}

PHONES = {
    "bargain_hunter": (
        "Best value smartphones, deals first:\n"
        "• Nova Lite 5: €169.15, save €29.85 (15% off); Two-day battery at a pocket-money price\n"
        "• Kestrel S3: €404.10, save €44.90 (10% off); Flagship-style camera for half the price\n"
        "Prices already include today's discounts."
    ),
    "tech_enthusiast": (
        "The most capable smartphones, specs first:\n"
        "• Veyra Fold: display: 7.8-inch foldable OLED, chip: Octa-core 3.3 GHz; €1,199.20\n"
        "• Orbix Pro Max: display: 6.9-inch LTPO OLED, 144 Hz; €1,199\n"
        "Ask for the full specs of any model."
    ),
}
POPULAR_PHONES = (
    "Popular smartphones:\n"
    "• Nova X12: 4.7 stars; great all-rounder; €899\n"
    "• Nova Lite 5: 4.5 stars; two-day battery; €199"
)
FOLLOW_UP = {
    "bargain_hunter": "Want the full list of discounts in this category?",
    "tech_enthusiast": "Would you like to see the current deals as well?",
}


def reply_for(persona: str, message: str) -> tuple[list[str], bool]:
    text = message.lower()
    if "<" in text:  # echo markup back so the page can be checked to show it literally
        return [f"You said: {message}"], True
    if any(word in text for word in ("phone", "recommend", "deal", "new")):
        follow_up = FOLLOW_UP.get(persona, "Anything else?")
        return [PHONES.get(persona, POPULAR_PHONES), follow_up], False
    return ["Sorry, I didn't get that. Try asking for a phone recommendation."], True


def error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


async def read_object(request: web.Request) -> dict | None:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def login(request: web.Request) -> web.Response:
    body = await read_object(request)
    persona = body.get("persona") if body else None
    if persona not in DEMO_SENDERS:
        return error(400, "persona must be one of " + ", ".join(DEMO_SENDERS))
    token = secrets.token_urlsafe(24)
    sender = DEMO_SENDERS[persona]
    request.app[TOKENS][token] = (sender, persona)
    return web.json_response(
        {"access_token": token, "sender": sender, "persona": persona, "expires_in": TOKEN_TTL_S}
    )


async def chat(request: web.Request) -> web.Response:
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    user = request.app[TOKENS].get(token)
    if user is None:
        return error(401, "missing or invalid token", **{"WWW-Authenticate": "Bearer"})
    sender, persona = user
    body = await read_object(request)
    message = body.get("message") if body else None
    if not isinstance(message, str) or not message.strip():
        return error(400, "message must be a non-empty string")
    if len(message) > 2000:
        return error(413, "message too long")
    if message.strip() == "flood":
        return error(429, "too many requests", **{"Retry-After": "3"})
    texts, fallback = reply_for(persona, message)
    return web.json_response(
        {"sender": sender, "messages": [{"text": t} for t in texts], "fallback": fallback}
    )


def make_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[TOKENS] = {}
    app.router.add_get("/", index)
    app.router.add_post("/demo/login", login)
    app.router.add_post("/v1/chat", chat)
    app.router.add_static("/", STATIC)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
