"""Pseudonyms for exports (core/pseudonyms.py)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from core.pseudonyms import pseudonym, pseudonymize_frame

KEY = b"a" * 32
OTHER_KEY = b"b" * 32
IDS = ["user_bargain", "user_enthusiast", "alice@example.com", "+49 170 1234567", "98765432"]


def test_pseudonyms_are_stable_across_releases():
    # Exports from different days are joined on these values: a change here breaks the joins.
    assert pseudonym("user_bargain", KEY) == "p_491328b12a0d65eb1794d24baaf4e193"


@pytest.mark.parametrize("user_id", IDS)
def test_pseudonyms_are_keyed_and_do_not_reveal_the_id(user_id):
    value = pseudonym(user_id, KEY)
    assert re.fullmatch(r"p_[0-9a-f]{32}", value)
    assert value == pseudonym(user_id, KEY)
    assert value != pseudonym(user_id, OTHER_KEY)
    assert user_id.lower() not in value and user_id.lower() not in value.lower()


def test_different_ids_get_different_pseudonyms():
    assert len({pseudonym(user_id, KEY) for user_id in IDS}) == len(IDS)


def test_an_empty_key_is_refused():
    with pytest.raises(ValueError, match="pseudonym key is empty"):
        pseudonym("user_bargain", b"")


def test_pseudonymize_frame_replaces_only_that_column_in_a_copy():
    frame = pd.DataFrame({"user_id": ["u1", "u2", "u1", None], "spend": [10.0, 20.0, 30.0, 40.0]})
    original = frame.copy()
    out = pseudonymize_frame(frame, "user_id", KEY)
    assert out is not frame
    pd.testing.assert_frame_equal(frame, original)  # the input is untouched
    assert list(out["user_id"][:3]) == [pseudonym(u, KEY) for u in ("u1", "u2", "u1")]
    assert pd.isna(out["user_id"][3])
    pd.testing.assert_series_equal(out["spend"], frame["spend"])

    numeric = pseudonymize_frame(pd.DataFrame({"id": [7, 8]}), "id", KEY)
    assert list(numeric["id"]) == [pseudonym("7", KEY), pseudonym("8", KEY)]
    with pytest.raises(ValueError, match="column 'uid' is not in the frame"):
        pseudonymize_frame(frame, "uid", KEY)
