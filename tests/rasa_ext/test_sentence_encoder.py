"""The numpy forward pass of all-MiniLM-L6-v2 (rasa_ext/sentence_encoder.py) against
vectors that sentence-transformers 6.3 (torch 2.13, CPU) computed from the same packaged
weights, kept in tests/data/minilm_reference.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rasa_ext.sentence_encoder import DIMENSIONS, MAX_TOKENS, SentenceEncoder

REFERENCE = Path(__file__).parents[1] / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.from_package()


def test_vectors_match_sentence_transformers(encoder):
    reference = json.loads(REFERENCE.read_text())
    ours = encoder.encode(reference["texts"])
    assert ours.shape == (len(reference["texts"]), DIMENSIONS)
    assert np.abs(ours - np.array(reference["vectors"])).max() < 1e-5


def test_batching_and_order_do_not_change_a_vector(encoder):
    texts = ["hi", "which laptop is best for video editing on a budget", "price match?", "ok"]
    together = encoder.encode(texts, batch_size=3)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert np.abs(together - alone).max() < 1e-5
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_similar_sentences_are_closer_than_unrelated_ones(encoder):
    a, b, c = encoder.encode(["do you match prices", "will you price match", "who won the match"])
    assert a @ b > a @ c + 0.2


def test_empty_long_and_odd_text_give_unit_vectors(encoder):
    vectors = encoder.encode(["", "word " * (MAX_TOKENS * 3), "çа 🙂 \x00 \u202e"])
    assert vectors.shape == (3, DIMENSIONS) and np.isfinite(vectors).all()
    assert encoder.encode([]).shape == (0, DIMENSIONS)
