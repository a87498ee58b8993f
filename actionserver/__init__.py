"""The hardened action server: rasa-sdk's executor behind a shared secret, body limits,
tracker checks and per-action deadlines, with the actions' services built once at start.

    voltmart-actions [--host 127.0.0.1] [--port 5055]     (or python -m actionserver)

rasa-sdk's Sanic app (``rasa run actions``) with four changes: loopback only unless
``--allow-remote``; ``/webhook`` and ``/actions`` answer only requests carrying the shared
secret (secret.py); every error is a small JSON body that never echoes the request, and
bodies over ``PZ_ACTION_MAX_BODY_BYTES`` get a 413 (calls.py); each action has
``PZ_ACTION_DEADLINE_MS``, a slow or failing action is answered with a short apology and
counted in ``GET /health`` (running.py). Plain ``rasa run actions`` gets the same through
rasa-sdk's plugin hook (plugin.py), and refuses to listen beyond loopback.
"""
