"""The scope guard (rasa_ext/scope.py) trained, stored and loaded through Rasa's own model
storage, on a small shop of examples."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import skops.io as sio
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.preprocessing import FunctionTransformer

from core.products import load_products
from rasa_ext.scope import META_FILE, MODEL_FILE, SCOPE_KEY, ScopeGuard, owned
from rasa_ext.scope_model import UntrustedScopeModel, threshold_for
from rasa_ext.sentence_encoder import SentenceEncoder

IN_DOMAIN = {
    "ask_recommendation": [
        "recommend me a phone",
        "which laptop should i buy",
        "what headphones do you suggest",
        "suggest a tablet for reading",
        "what's a good smartwatch for running",
        "recommend something for my kitchen speaker",
        "what should i buy for gaming",
        "help me pick a laptop",
    ],
    "policy": [
        "how much is delivery",
        "can i return my order",
        "how long is the warranty",
        "do you take paypal",
        "when do you deliver",
        "what is your returns policy",
        "do you match prices",
        "can i pay by card",
    ],
    "greet": ["hi", "hello", "hey there", "good morning"],
}
OUT_OF_SCOPE = [
    "what's the weather tomorrow",
    "tell me a joke",
    "who won the football match",
    "how do i cook pasta",
    "book me a flight to rome",
    "what's the capital of france",
    "recommend a good restaurant",
    "how tall is everest",
    "sing me a song",
    "what time is it in tokyo",
    "write a poem about the sea",
    "how do i bake bread",
]
CONFIG = {
    **ScopeGuard.get_default_config(),
    "guarded_intents": ["ask_recommendation", "policy"],
    "false_reject_rate": 0.2,
    "folds": 3,
}


def training_data(with_out_of_scope: bool = True, more_out_of_scope: tuple = ()) -> TrainingData:
    examples = [
        Message(data={TEXT: text, INTENT: intent})
        for intent, texts in IN_DOMAIN.items()
        for text in texts
    ]
    if with_out_of_scope:
        out_of_scope = [*OUT_OF_SCOPE, *more_out_of_scope]
        examples += [Message(data={TEXT: t, INTENT: "out_of_scope"}) for t in out_of_scope]
    return TrainingData(training_examples=examples)


def parsed(text: str, intent: str, entities: list | None = None) -> Message:
    ranking = [{"name": intent, "confidence": 0.97}, {"name": "out_of_scope", "confidence": 0.02}]
    return Message(
        data={
            TEXT: text,
            INTENT: {"name": intent, "confidence": 0.97},
            INTENT_RANKING_KEY: ranking,
            ENTITIES: entities or [],
        }
    )


@pytest.fixture()
def storage(tmp_path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.from_package()


@pytest.fixture()
def trained(storage, encoder) -> ScopeGuard:
    guard = ScopeGuard(CONFIG, storage, Resource("scope"), encoder, load_products())
    guard.train(training_data())
    return guard


def intent_of(message: Message) -> str:
    return message.get(INTENT)["name"]


def test_threshold_turns_away_at_most_the_allowed_share_of_in_domain():
    probs = np.array([0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.05])
    for rate in (0.0, 0.1, 0.3, 0.55):
        t = threshold_for(probs, rate)
        assert (probs >= t).mean() <= rate
    assert threshold_for(probs, 0.0) > 0.9
    assert 0.7 < threshold_for(probs, 0.2) <= 0.8 + 1e-9
    assert threshold_for(np.array([]), 0.1) == 1.0


def test_an_unsupported_question_sure_to_be_a_shop_intent_becomes_out_of_scope(trained):
    [message] = trained.process([parsed("what's the weather like at the football", "policy")])
    assert intent_of(message) == "out_of_scope"
    assert message.get(INTENT_RANKING_KEY)[0]["name"] == "out_of_scope"
    assert [r["name"] for r in message.get(INTENT_RANKING_KEY)].count("out_of_scope") == 1
    assert message.get(INTENT_RANKING_KEY)[1]["name"] == "policy"  # DIET's guess kept
    verdict = message.get(SCOPE_KEY)
    assert verdict["turned_away"] and verdict["out_of_scope"] >= verdict["threshold"]


def test_in_domain_questions_keep_their_intent(trained):
    kept = trained.process(
        [
            parsed("which phone should i buy", "ask_recommendation"),
            parsed("how much is delivery", "policy"),
        ]
    )
    assert [intent_of(m) for m in kept] == ["ask_recommendation", "policy"]
    assert all(not m.get(SCOPE_KEY)["turned_away"] for m in kept)


def test_a_message_naming_a_catalogue_entity_is_never_turned_away(trained):
    entity = {"entity": "product_category", "value": "laptops", "start": 0, "end": 6}
    [message] = trained.process(
        [parsed("laptop weather joke football", "ask_recommendation", [entity])]
    )
    assert intent_of(message) == "ask_recommendation" and message.get(SCOPE_KEY) is None


def test_a_product_the_catalogue_knows_grounds_the_message_typos_included(trained):
    """Nova X12 is in core/data/products.yml; "nova x21" is a typo of it (fuzzy match)."""
    for name in ["Nova X12", "nova x21"]:
        entity = {"entity": "product", "value": name, "start": 0, "end": len(name)}
        [message] = trained.process([parsed(f"{name} weather joke football", "policy", [entity])])
        assert intent_of(message) == "policy" and message.get(SCOPE_KEY) is None


@pytest.mark.parametrize(
    ("kind", "value"), [("product", "Corolla"), ("product_category", "Walmart")]
)
def test_an_entity_naming_nothing_the_shop_sells_is_still_judged(trained, kind, value):
    """DIET tags a car model or a tracking number as a product and a shop as a category;
    that grounds nothing."""
    entity = {"entity": kind, "value": value, "start": 27, "end": 27 + len(value)}
    [message] = trained.process(
        [parsed(f"who won the football match {value}", "ask_recommendation", [entity])]
    )
    assert message.get(SCOPE_KEY)["turned_away"] and intent_of(message) == "out_of_scope"


@pytest.mark.parametrize(
    ("text", "device"),
    [("weather joke football for my laptop", "laptop"), ("my old phone weather joke", "phone")],
)
def test_a_device_the_shopper_owns_grounds_nothing(trained, text, device):
    """A device the shopper owns ("my laptop") is not a thing to buy: the guard judges the
    message ("can i get my laptop insured against theft" was shown laptops)."""
    start = text.index(device)
    entity = {"entity": "product_category", "value": "laptops", "start": start, "end": start + 6}
    [message] = trained.process([parsed(text, "ask_recommendation", [entity])])
    assert message.get(SCOPE_KEY)["turned_away"] and intent_of(message) == "out_of_scope"


@pytest.mark.parametrize(
    ("text", "owned_by_shopper"),
    [
        ("can i get my laptop insured", True),
        ("my old laptop broke", True),
        ("is her laptop covered", True),
        ("a laptop for my mum", False),
        ("what do your laptops cost", False),
        ("laptop for my son", False),
    ],
)
def test_only_a_possessive_right_before_the_entity_makes_it_owned(text, owned_by_shopper):
    assert owned(text, {"start": text.index("laptop")}) is owned_by_shopper
    assert not owned(text, {"value": "laptops"})  # no offset: not owned


def test_an_edited_guard_file_changes_the_training_cache_key(tmp_path):
    """Rasa's cache keys on the config and the class source, not on files the config names:
    without the addon an edited guard file would reuse the old guard."""
    extra = tmp_path / "extra.yml"
    extra.write_text("nlu:\n- intent: out_of_scope\n  examples: |\n    - tell me a joke\n")
    config = {**CONFIG, "extra_out_of_scope": [str(extra)]}
    before = ScopeGuard.fingerprint_addon(config)
    assert ScopeGuard.fingerprint_addon(config) == before
    extra.write_text(extra.read_text() + "    - sing me a song\n")
    assert ScopeGuard.fingerprint_addon(config) != before


def test_a_question_about_another_company_is_turned_away_by_the_name_feature(
    storage, encoder, tmp_path
):
    """The same words and meaning as a policy question, about someone else's policy: the
    name feature (rasa_ext/parties.py) is what tells them apart; without it, let through."""
    about_others = (
        "what time does walmart close",
        "does argos take returns without a receipt",
        "how long is the warranty at currys",
        "can i pay with cash at tesco",
    )
    data = training_data(more_out_of_scope=about_others)
    parties = tmp_path / "parties.yml"
    parties.write_text("shops: [walmart, argos, currys, tesco, target, ikea]\n")
    questions = [
        "what is the returns policy at target",
        "when does target deliver",
        "how much is delivery from ikea",
    ]
    verdicts = {}
    for name, path in [("with", str(parties)), ("without", None)]:
        guard = ScopeGuard(
            {**CONFIG, "other_parties": path}, storage, Resource(name), encoder, load_products()
        )
        guard.train(data)
        verdicts[name] = [guard.verdict(q).turned_away for q in questions]
        assert not guard.verdict("how much is delivery").turned_away
    assert verdicts == {"with": [True] * 3, "without": [False] * 3}
    # The names are stored with the model: loading needs neither the file nor the setting.
    loaded = ScopeGuard.load({**CONFIG, "other_parties": None}, storage, Resource("with"), None)
    assert [loaded.verdict(q).turned_away for q in questions] == [True] * 3


def test_unguarded_intents_are_left_alone(trained):
    [message] = trained.process([parsed("tell me a joke about the weather", "greet")])
    assert intent_of(message) == "greet" and message.get(SCOPE_KEY) is None


def test_the_stored_model_loads_with_the_same_verdicts(trained, storage):
    loaded = ScopeGuard.load(CONFIG, storage, Resource("scope"), None)
    for text in ["how do i bake a cake", "recommend me a laptop", "do you take visa"]:
        assert loaded.verdict(text) == trained.verdict(text)


def test_without_out_of_scope_examples_it_turns_nothing_away(storage, encoder, caplog):
    guard = ScopeGuard(CONFIG, storage, Resource("empty"), encoder, load_products())
    with caplog.at_level(logging.WARNING):
        guard.train(training_data(with_out_of_scope=False))
    assert "no 'out_of_scope' examples" in caplog.text
    [message] = guard.process([parsed("tell me a joke", "policy")])
    assert intent_of(message) == "policy"
    with caplog.at_level(logging.WARNING):
        loaded = ScopeGuard.load(CONFIG, storage, Resource("empty"), None)
    assert "no trained model" in caplog.text
    assert intent_of(loaded.process([parsed("tell me a joke", "policy")])[0]) == "policy"


def test_a_stored_model_with_code_in_it_is_refused(trained, storage):
    """skops, not pickle: a file that would call os.system on load is not loaded."""
    with storage.write_to(Resource("scope")) as directory:
        sio.dump(FunctionTransformer(func=os.system), directory / MODEL_FILE)
    with pytest.raises(UntrustedScopeModel, match=r"untrusted types .*system.*: retrain"):
        ScopeGuard.load(CONFIG, storage, Resource("scope"), None)


def test_a_model_trained_with_another_encoder_is_refused(trained, storage):
    """Sentence vectors of another encoder would feed the regression meaningless columns."""
    with storage.write_to(Resource("scope")) as directory:
        meta = json.loads((directory / META_FILE).read_text())
        (directory / META_FILE).write_text(json.dumps({**meta, "encoder": "0.0.1"}))
    with pytest.raises(UntrustedScopeModel, match=r"sentence vectors of 0\.0\.1.*retrain"):
        ScopeGuard.load(CONFIG, storage, Resource("scope"), None)


def test_a_model_from_before_the_other_companies_feature_is_refused(trained, storage):
    """Its regression has one column less: it would fail on the first guarded message."""
    with storage.write_to(Resource("scope")) as directory:
        meta = json.loads((directory / META_FILE).read_text())
        del meta["other_parties"]
        (directory / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(UntrustedScopeModel, match=r"other companies' names.*make train"):
        ScopeGuard.load(CONFIG, storage, Resource("scope"), None)


def test_the_verdict_reads_meaning_not_only_shared_words(trained):
    """Both share their words with shop examples ("how long is the warranty", "do you match
    prices", "what's a good smartwatch") and nothing else; what they are about (sport, a
    night in) is out of scope. With the sentence vectors zeroed, TF-IDF alone lets both
    through (checked when this test was written)."""
    assert trained.verdict("how long is the tennis match").turned_away
    assert trained.verdict("what's a good film for tonight").turned_away
