"""A second opinion on whether a message is something the shop supports at all.

DIET is often sure of a shop intent for a question the shop cannot answer ("do you carry
dishwashers" as a store policy, "recommend a good book" as a recommendation), and a wrong
answer is worse than an honest "I can't help with that" (issue 14). This component is
trained beside DIET on the same examples, with a different view of them (TF-IDF of words
and character n-grams, a logistic regression of out-of-scope against everything else),
and turns a guarded intent into out-of-scope when it finds the message out of scope.

Its threshold is chosen at training time by cross-validation on the training data alone,
so that at most ``false_reject_rate`` of the guarded in-domain examples would be turned
away; a message naming something the shop sells (a product or category entity) is never
turned away. The fitted model is stored with skops, not pickle.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_TYPE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, Pipeline

logger = logging.getLogger(__name__)

MODEL_FILE = "scope.skops"
META_FILE = "scope.json"
# What the message's scope verdict is stored under in the parse data (for tests, reports).
SCOPE_KEY = "scope"
# The only type in the stored model that skops does not trust by default (the TF-IDF
# vocabulary's matrices); any other one means the file is not what train() wrote.
TRUSTED_TYPES = ("scipy.sparse._csr.csr_matrix",)


class UntrustedScopeModel(RuntimeError):
    """The model archive's scope guard holds types train() never writes."""


def load_model(path: Path) -> Pipeline:
    unexpected = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    if unexpected:
        raise UntrustedScopeModel(
            f"{path.name} holds untrusted types {', '.join(unexpected)}: retrain the model"
        )
    return sio.load(path, trusted=list(TRUSTED_TYPES))


def scope_model(c: float, seed: int) -> Pipeline:
    """Words and character n-grams: typos and word forms the training data never showed
    still share most of their n-grams with the words it did."""
    features = FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ]
    )
    classifier = LogisticRegression(C=c, max_iter=3000, random_state=seed)
    return Pipeline([("features", features), ("classifier", classifier)])


def threshold_for(in_domain: np.ndarray, false_reject_rate: float) -> float:
    """The lowest out-of-scope probability that turns away at most `false_reject_rate` of
    the held-out in-domain probabilities (nothing, without any)."""
    if in_domain.size == 0:
        return 1.0
    ranked = np.sort(in_domain)[::-1]
    allowed = int(np.floor(false_reject_rate * ranked.size))
    above = ranked[allowed] if allowed < ranked.size else 0.0
    return float(np.nextafter(above, 1.0))


@dataclass(frozen=True)
class Verdict:
    out_of_scope: float
    threshold: float
    turned_away: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_of_scope": round(self.out_of_scope, 4),
            "threshold": round(self.threshold, 4),
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
            # Entities that tie a message to the catalogue: such a message stays in scope.
            "grounding_entities": ["product", "product_category"],
            "false_reject_rate": 0.05,
            "folds": 5,
            "C": 10.0,
            "random_seed": 42,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Pipeline | None = None,
        threshold: float = 1.0,
    ) -> None:
        self.component_config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._threshold = threshold
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
        return cls(config, model_storage, resource)

    def _grounded(self, message: Message) -> bool:
        return any(
            e.get(ENTITY_ATTRIBUTE_TYPE) in self._grounding for e in message.get(ENTITIES, [])
        )

    def train(self, training_data: TrainingData) -> Resource:
        oos = self.component_config["out_of_scope_intent"]
        examples = [m for m in training_data.intent_examples if m.get(TEXT)]
        labels = np.array([m.get(INTENT) == oos for m in examples])
        if labels.all() or not labels.any():
            logger.warning(f"ScopeGuard: no '{oos}' examples, or only those; it turns nothing away")
            return self._resource
        texts = [m.get(TEXT) for m in examples]
        seed, c = self.component_config["random_seed"], self.component_config["C"]
        folds = StratifiedKFold(self.component_config["folds"], shuffle=True, random_state=seed)
        held_out = cross_val_predict(
            scope_model(c, seed), texts, labels, cv=folds, method="predict_proba"
        )[:, 1]
        guarded = np.array(
            [m.get(INTENT) in self._guarded and not self._grounded(m) for m in examples]
        )
        threshold = threshold_for(held_out[guarded], self.component_config["false_reject_rate"])
        model = scope_model(c, seed).fit(texts, labels)
        caught = float((held_out[labels] >= threshold).mean())
        logger.info(f"ScopeGuard: threshold {threshold:.3f}, catches {caught:.0%} held out")
        with self._model_storage.write_to(self._resource) as directory:
            sio.dump(model, Path(directory) / MODEL_FILE)
            meta = {"threshold": threshold, "cv_out_of_scope_caught": caught}
            (Path(directory) / META_FILE).write_text(json.dumps(meta))
        self._model, self._threshold = model, threshold
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
        try:
            with model_storage.read_from(resource) as directory:
                model = load_model(Path(directory) / MODEL_FILE)
                threshold = json.loads((Path(directory) / META_FILE).read_text())["threshold"]
        except (ValueError, FileNotFoundError):
            logger.warning("ScopeGuard: no trained model in this model archive; retrain")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model, threshold)

    def verdict(self, text: str) -> Verdict:
        assert self._model is not None
        p = float(self._model.predict_proba([text])[0, 1])
        return Verdict(p, self._threshold, p >= self._threshold)

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
