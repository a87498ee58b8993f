"""A second opinion on whether a message is something the shop supports at all.

DIET is often sure of a shop intent for a question the shop cannot answer ("do you carry
dishwashers" as a store policy, "what's the score in the match" as price match), and a
wrong answer is worse than an honest "I can't help with that" (issue 14). This component is
trained beside DIET on the same examples, with two other views of them: TF-IDF of words and
character n-grams (typos, word forms) and all-MiniLM-L6-v2 sentence vectors (what the
message is about, beyond the words it shares with the shop's examples), plus whether the
message names another company (rasa_ext/parties.py). One logistic regression of
out-of-scope against everything else reads them all, and the component turns a
guarded intent into out-of-scope when it finds the message out of scope. Beside it, a
nearest-neighbour check in the same vector space: a message whose closest out-of-scope
example is nearer than its closest in-domain one (by more than a margin learnt from the
data) is turned away too.

Both thresholds are chosen at training time on the training data alone (5-fold
cross-validation for the regression, leave-one-out for the neighbours), so that each turns
away at most its share (``false_reject_rate``, ``neighbour_false_reject_rate``) of the
guarded in-domain examples; a message naming something the shop sells (one of its
categories, or a product the catalogue knows, typos included) is never turned away. An
entity that names neither grounds nothing: DIET tags "Corolla" in "the warranty on a new
Toyota Corolla" or a courier's tracking number as a product and "Walmart" as a category,
and the guard must still judge those. Nor does a device the shopper already owns ("my
laptop", "her old phone"): "can i get my laptop insured" or "the best game for my tablet"
asks about the device, not about buying one. The fitted model is stored with skops.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.model_selection import StratifiedKFold

from core.categories import CATEGORIES
from core.products import ProductCatalogue, load_products
from rasa_ext.parties import OtherParties
from rasa_ext.scope_model import (
    ScopeModel,
    UntrustedScopeModel,
    held_out_probabilities,
    leave_one_out_margins,
    threshold_for,
)
from rasa_ext.sentence_encoder import SentenceEncoder

logger = logging.getLogger(__name__)

MODEL_FILE = "scope.skops"
META_FILE = "scope.json"
# What the message's scope verdict is stored under in the parse data (for tests, reports).
SCOPE_KEY = "scope"
# A possessive and at most one more word right before an entity: a device somebody owns.
# "your" is left out: "your laptops" are the shop's.
OWNED = re.compile(r"\b(my|our|his|her|their)\s+(\S+\s+)?$", re.IGNORECASE)


def owned(text: str, entity: dict[str, Any]) -> bool:
    """Whether the entity is preceded by a possessive ("my laptop", "my old phone")."""
    start = entity.get("start")
    return isinstance(start, int) and bool(OWNED.search(text[:start]))


def extra_examples(paths: list[str], out_of_scope: str) -> list[Message]:
    """The out-of-scope examples of these NLU files (anything else in them is an error)."""
    examples = []
    for path in paths:
        data = load_data(str(path))
        intents = {m.get(INTENT) for m in data.intent_examples}
        if intents - {out_of_scope}:
            raise ValueError(f"{path}: only '{out_of_scope}' examples belong here, not {intents}")
        examples += [m for m in data.intent_examples if m.get(TEXT)]
    return examples


def labelled_examples(
    intent_examples: list[Message], config: dict[str, Any]
) -> tuple[list[Message], np.ndarray]:
    """The examples the guard learns from (the training data's and its extra files') and
    which of them are out of scope."""
    oos = config["out_of_scope_intent"]
    examples = [m for m in intent_examples if m.get(TEXT)]
    examples += extra_examples(config["extra_out_of_scope"], oos)
    return examples, np.array([m.get(INTENT) == oos for m in examples])


@dataclass(frozen=True)
class Verdict:
    out_of_scope: float
    threshold: float
    margin: float
    margin_floor: float

    @property
    def turned_away(self) -> bool:
        return self.out_of_scope >= self.threshold or self.margin <= self.margin_floor

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_of_scope": round(self.out_of_scope, 4),
            "threshold": round(self.threshold, 4),
            "margin": round(self.margin, 4),
            "margin_floor": round(self.margin_floor, 4),
            "turned_away": self.turned_away,
        }


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class ScopeGuard(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        # It reads the intent of the classifiers before it, but Rasa checks this list on the
        # training graph too, where a trainable classifier sees only the featurized data.
        return []

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "out_of_scope_intent": "out_of_scope",
            # Intents whose answer claims something about the shop; small talk is not guarded.
            "guarded_intents": [],
            # Entities that tie a message to the catalogue: such a message stays in scope
            # (a product only when the catalogue knows the name, a category only when it is
            # one of core.categories.CATEGORIES after Rasa's synonym mapping).
            "grounding_entities": ["product", "product_category"],
            "product_entity": "product",
            "category_entity": "product_category",
            "false_reject_rate": 0.05,
            "neighbour_false_reject_rate": 0.03,
            # Rasa NLU files of out-of-scope messages only the guard learns from (paths from
            # the project root): examples that would teach DIET the wrong lesson.
            "extra_out_of_scope": [],
            # Other companies' names (a YAML file of groups of names; none when empty): the
            # list is stored with the model, so a changed file needs a retrain.
            "other_parties": None,
            "folds": 5,
            "C": 10.0,
            "random_seed": 42,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        encoder: SentenceEncoder,
        catalogue: ProductCatalogue,
        model: ScopeModel | None = None,
        thresholds: tuple[float, float] = (1.0, -2.0),
    ) -> None:
        self.component_config = config
        self._model_storage = model_storage
        self._resource = resource
        self._encoder = encoder
        self._catalogue = catalogue
        self._model = model
        # P(out of scope) at or above the first, or a margin at or below the second.
        self._thresholds = thresholds
        self._guarded = frozenset(config["guarded_intents"])
        self._grounding = frozenset(config["grounding_entities"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ScopeGuard:
        return cls(config, model_storage, resource, SentenceEncoder.from_package(), load_products())

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Rasa's training cache keys a component on its config and its class's source, so
        an edited guard file or a change to this module's functions would reuse a stale
        guard: their contents count too."""
        files = [*config.get("extra_out_of_scope", []), config.get("other_parties")]
        digest = hashlib.sha256(inspect.getsource(sys.modules[__name__]).encode())
        for path in filter(None, files):
            digest.update(Path(path).read_bytes() if Path(path).is_file() else path.encode())
        return digest.hexdigest()

    def _parties(self) -> OtherParties:
        path = self.component_config["other_parties"]
        return OtherParties.from_file(path) if path else OtherParties([])

    def _names_what_the_shop_sells(self, entity: dict[str, Any]) -> bool:
        kind, value = entity.get(ENTITY_ATTRIBUTE_TYPE), str(entity.get(ENTITY_ATTRIBUTE_VALUE))
        if kind not in self._grounding:
            return False
        if kind == self.component_config["product_entity"]:
            return self._catalogue.match(value) is not None
        if kind == self.component_config["category_entity"]:
            return value in CATEGORIES
        return True

    def _grounded(self, message: Message) -> bool:
        text = message.get(TEXT) or ""
        return any(
            self._names_what_the_shop_sells(e) and not owned(text, e)
            for e in message.get(ENTITIES, [])
        )

    def train(self, training_data: TrainingData) -> Resource:
        oos = self.component_config["out_of_scope_intent"]
        examples, labels = labelled_examples(training_data.intent_examples, self.component_config)
        if labels.all() or not labels.any():
            logger.warning(f"ScopeGuard: no '{oos}' examples, or only those; it turns nothing away")
            return self._resource
        texts = [m.get(TEXT) for m in examples]
        seed, c = self.component_config["random_seed"], self.component_config["C"]
        folds = StratifiedKFold(self.component_config["folds"], shuffle=True, random_state=seed)
        vectors = self._encoder.encode(texts)
        parties = self._parties()
        fit = {"encoder": self._encoder, "parties": parties, "c": c, "seed": seed}
        held_out = held_out_probabilities(texts, labels, vectors, folds, **fit)
        guarded = np.array(
            [m.get(INTENT) in self._guarded and not self._grounded(m) for m in examples]
        )
        config = self.component_config
        threshold = threshold_for(held_out[guarded], config["false_reject_rate"])
        margins = leave_one_out_margins(vectors, labels)
        floor = -threshold_for(-margins[guarded], config["neighbour_false_reject_rate"])
        model = ScopeModel.fit(texts, labels, vectors=vectors, **fit)
        caught = float(((held_out >= threshold) | (margins <= floor))[labels].mean())
        logger.info(
            f"ScopeGuard: threshold {threshold:.3f}, margin floor {floor:.3f}, "
            f"catches {caught:.0%} of out-of-scope examples held out"
        )
        with self._model_storage.write_to(self._resource) as directory:
            model.dump(Path(directory) / MODEL_FILE)
            meta = {
                "threshold": threshold,
                "margin_floor": floor,
                "cv_out_of_scope_caught": caught,
                "encoder": SentenceEncoder.version(),
                "other_parties": list(parties.names),
            }
            (Path(directory) / META_FILE).write_text(json.dumps(meta))
        self._model, self._thresholds = model, (threshold, floor)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> ScopeGuard:
        encoder, catalogue = SentenceEncoder.from_package(), load_products()
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((Path(directory) / META_FILE).read_text())
                parties = OtherParties(meta.get("other_parties") or [])
                model = ScopeModel.load(Path(directory) / MODEL_FILE, encoder, parties)
        except (ValueError, FileNotFoundError):
            logger.warning("ScopeGuard: no trained model in this model archive; retrain")
            return cls(config, model_storage, resource, encoder, catalogue)
        if meta.get("encoder") != SentenceEncoder.version():
            raise UntrustedScopeModel(
                f"the scope guard was trained with sentence vectors of "
                f"{meta.get('encoder') or 'no encoder'}, {SentenceEncoder.version()} is "
                "installed: retrain the model (make train)"
            )
        if "other_parties" not in meta:
            raise UntrustedScopeModel(
                "the scope guard was trained before it read other companies' names (its "
                "regression has one feature less): retrain the model (make train)"
            )
        thresholds = (meta["threshold"], meta["margin_floor"])
        return cls(config, model_storage, resource, encoder, catalogue, model, thresholds)

    def verdict(self, text: str) -> Verdict:
        assert self._model is not None
        vectors = self._model.encoder.encode([text])
        p = float(self._model.probability([text], vectors)[0])
        return Verdict(
            p, self._thresholds[0], float(self._model.margin(vectors)[0]), self._thresholds[1]
        )

    def process(self, messages: list[Message]) -> list[Message]:
        oos = self.component_config["out_of_scope_intent"]
        for message in messages:
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if self._model is None or intent not in self._guarded or not message.get(TEXT):
                continue
            if self._grounded(message):
                continue
            verdict = self.verdict(message.get(TEXT))
            message.set(SCOPE_KEY, verdict.as_dict(), add_to_output=True)
            if verdict.turned_away:
                turned = {INTENT_NAME_KEY: oos, PREDICTED_CONFIDENCE_KEY: verdict.out_of_scope}
                ranking = [
                    r for r in message.get(INTENT_RANKING_KEY, []) if r.get(INTENT_NAME_KEY) != oos
                ]
                message.set(INTENT, turned, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [turned, *ranking], add_to_output=True)
        return messages
