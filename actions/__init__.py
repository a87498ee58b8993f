"""The shop's Rasa actions, and only actions (with the small tracker-reading functions they
use, turns.py).

rasa-sdk imports every module in this package and registers each ``Action`` subclass it
finds, so modules stay small and need no registry. The logic lives in personalization/,
responses/, experiments/ and privacy/; the server that hosts these actions is
actionserver/. Nothing imports this package.
"""
