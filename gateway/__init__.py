"""The public front door: OAuth2 tokens, rate limits and context enrichment in front of Rasa.

Rasa listens on loopback only; browsers and CRM callers talk to this aiohttp app
(``python -m gateway``), which authenticates them, limits them and forwards chat
turns to Rasa's REST webhook with a deadline. ``gateway.app.create_app`` builds it.
"""
