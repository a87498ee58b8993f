"""Operator tools: one-off and demo commands that are not part of a running service."""
