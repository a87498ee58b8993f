"""Experiments and bandits: deterministic assignment, Thompson sampling, offline evaluation."""
