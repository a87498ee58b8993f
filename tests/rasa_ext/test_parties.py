"""Other companies' names (rasa_ext/parties.py), as the scope guard reads them."""

from __future__ import annotations

import re

import pytest

from rasa_ext.parties import OtherParties, OtherPartiesError

PARTIES = OtherParties(["Walmart", "uber", "uber eats", "b&q", "john lewis", "target", " "])


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("does walmart price match", "walmart"),
        ("is Walmart's return window longer", "Walmart's"),
        ("is JOHN LEWIS open on sunday", "JOHN LEWIS"),
        ("my uber eats order is late", "uber eats"),  # the longer name wins
        ("returns at b&q?", "b&q"),
        ("whats the return policy at target", "target"),
        ("currys' prices", None),  # not on this list
        ("a targeted ad for headphones", None),  # whole words only
        ("uberX", None),
        ("", None),
    ],
)
def test_names_are_found_as_whole_words_in_any_case(text, named):
    assert PARTIES.named(text) == named


def test_features_are_one_column_of_zeros_and_ones():
    features = PARTIES.features(["walmart hours", "how much is delivery"])
    assert features.shape == (2, 1) and features[:, 0].tolist() == [1.0, 0.0]


def test_no_names_finds_nothing():
    assert OtherParties([]).named("walmart") is None
    assert OtherParties([]).features(["walmart"]).tolist() == [[0.0]]


def test_the_shipped_list_loads_and_leaves_out_payment_methods_voltmart_accepts():
    parties = OtherParties.from_file("rasa_ext/data/other_parties.yml")
    assert parties.named("is currys open on sunday") == "currys"
    assert parties.named("does fedex deliver on saturdays") == "fedex"
    assert parties.named("can i pay with paypal or klarna") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- walmart\n", "expected groups of names"),
        ("shops: walmart\n", "expected groups of names"),
        ("shops: [walmart, 3]\n", "expected groups of names"),
        ("shops: [walmart\n", "cannot read the other companies"),
    ],
)
def test_a_malformed_list_is_refused_with_its_path(tmp_path, content, message):
    path = tmp_path / "parties.yml"
    path.write_text(content)
    with pytest.raises(OtherPartiesError, match=re.escape(f"{path.name}: {message}")):
        OtherParties.from_file(path)


def test_a_missing_list_is_refused_with_its_path(tmp_path):
    with pytest.raises(OtherPartiesError, match=r"nowhere\.yml: cannot read"):
        OtherParties.from_file(tmp_path / "nowhere.yml")
