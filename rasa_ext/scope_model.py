"""The scope guard's model (rasa_ext/scope.py is the Rasa component around it): one
logistic regression over TF-IDF features, sentence vectors and other companies' names, a
nearest-neighbour margin in the same vector space, and the thresholds learnt for both on
the training data alone. Plain numpy and scikit-learn, stored with skops, not pickle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion

from rasa_ext.parties import OtherParties
from rasa_ext.sentence_encoder import SentenceEncoder

# The only type in the stored model that skops does not trust by default (the TF-IDF
# vocabulary's matrices); any other one means the file is not what train() wrote.
TRUSTED_TYPES = ("scipy.sparse._csr.csr_matrix",)


class UntrustedScopeModel(RuntimeError):
    """The model archive's scope guard holds types train() never writes, or was trained
    with another sentence encoder than the one installed."""


def word_features() -> FeatureUnion:
    """Words and character n-grams: typos and word forms the training data never showed
    still share most of their n-grams with the words it did."""
    return FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ]
    )


def _joined(words: Any, vectors: np.ndarray, parties: np.ndarray) -> scipy.sparse.csr_matrix:
    # Each TF-IDF block and each sentence vector has unit length, as has the 0/1 column of
    # another company's name: an equal say for the four.
    dense = scipy.sparse.csr_matrix(np.hstack([vectors, parties]))
    return scipy.sparse.hstack([words, dense]).tocsr()


@dataclass
class ScopeModel:
    """P(out of scope) from TF-IDF features, sentence vectors and other companies' names,
    one logistic regression; and the training examples' vectors, for the nearest-neighbour
    margin."""

    words: FeatureUnion
    classifier: LogisticRegression
    encoder: SentenceEncoder
    parties: OtherParties
    in_domain: np.ndarray
    out_of_scope: np.ndarray

    @classmethod
    def fit(
        cls,
        texts: list[str],
        labels: np.ndarray,
        encoder: SentenceEncoder,
        parties: OtherParties,
        c: float,
        seed: int,
        vectors: np.ndarray | None = None,
    ) -> ScopeModel:
        vectors = encoder.encode(texts) if vectors is None else vectors
        words = word_features()
        classifier = LogisticRegression(C=c, max_iter=3000, random_state=seed)
        features = _joined(words.fit_transform(texts), vectors, parties.features(texts))
        classifier.fit(features, labels)
        return cls(words, classifier, encoder, parties, vectors[~labels], vectors[labels])

    def probability(self, texts: list[str], vectors: np.ndarray | None = None) -> np.ndarray:
        vectors = self.encoder.encode(texts) if vectors is None else vectors
        features = _joined(self.words.transform(texts), vectors, self.parties.features(texts))
        return self.classifier.predict_proba(features)[:, 1]

    def margin(self, vectors: np.ndarray) -> np.ndarray:
        """How much nearer (cosine) each vector's closest in-domain example is than its
        closest out-of-scope one: below zero, the message is most like something the shop
        does not do."""
        return (vectors @ self.in_domain.T).max(1) - (vectors @ self.out_of_scope.T).max(1)

    def dump(self, path: Path) -> None:
        parts = {"words": self.words, "classifier": self.classifier}
        sio.dump({**parts, "in_domain": self.in_domain, "out_of_scope": self.out_of_scope}, path)

    @classmethod
    def load(cls, path: Path, encoder: SentenceEncoder, parties: OtherParties) -> ScopeModel:
        unexpected = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
        if unexpected:
            raise UntrustedScopeModel(
                f"{path.name} holds untrusted types {', '.join(unexpected)}: retrain the model"
            )
        p = sio.load(path, trusted=list(TRUSTED_TYPES))
        parts = (p["words"], p["classifier"], encoder, parties)
        return cls(*parts, p["in_domain"], p["out_of_scope"])


def held_out_probabilities(
    texts: list[str], labels: np.ndarray, vectors: np.ndarray, folds: StratifiedKFold, **fit: Any
) -> np.ndarray:
    """Each example's P(out of scope) from a model that did not see it (the vectors are
    computed once: the encoder is fixed, only the TF-IDF vocabulary and weights are fitted)."""
    held_out = np.zeros(len(texts))
    for train, test in folds.split(texts, labels):
        model = ScopeModel.fit(
            [texts[i] for i in train], labels[train], vectors=vectors[train], **fit
        )
        held_out[test] = model.probability([texts[i] for i in test], vectors[test])
    return held_out


def leave_one_out_margins(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each example's margin (ScopeModel.margin) against all the other examples."""
    similar = vectors @ vectors.T
    np.fill_diagonal(similar, -np.inf)
    return similar[:, ~labels].max(1) - similar[:, labels].max(1)


def threshold_for(in_domain: np.ndarray, false_reject_rate: float) -> float:
    """The lowest out-of-scope probability that turns away at most `false_reject_rate` of
    the held-out in-domain probabilities (nothing, without any)."""
    if in_domain.size == 0:
        return 1.0
    ranked = np.sort(in_domain)[::-1]
    allowed = int(np.floor(false_reject_rate * ranked.size))
    above = ranked[allowed] if allowed < ranked.size else 0.0
    return float(np.nextafter(above, 1.0))
