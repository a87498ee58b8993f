"""Test-only actions for the in-process action server (tests/security/test_action_server.py):
one too slow, one that ignores cancellation, one that fails quoting the tracker, one that
rejects itself, one that answers at once."""
