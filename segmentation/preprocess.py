"""The fitted preprocessing pipeline: log for skewed money and counts, scaling, one-hot.

It is a plain scikit-learn ColumnTransformer (saved with the model), and it is
also compiled into a few arrays (see `compile_preprocessor`) so the real-time
path can transform one user's features without pandas in microseconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from segmentation.features import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS

# Heavy-tailed amounts and counts: compared on a log scale.
LOG_COLUMNS = [
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "sessions",
    "messages_per_session",
    "session_duration_s",
]
LINEAR_COLUMNS = [c for c in NUMERIC_COLUMNS if c not in LOG_COLUMNS]


class MedianImputer(TransformerMixin, BaseEstimator):
    """Fill NaN with the column median (0 for an all-missing column, which sklearn 1.1 drops)."""

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": handled below
            medians = np.nanmedian(X, axis=0) if X.size else np.zeros(X.shape[1])
        self.statistics_ = np.where(np.isnan(medians), 0.0, medians)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "statistics_")
        X = np.array(X, dtype=float)
        mask = np.isnan(X)
        X[mask] = np.take(self.statistics_, np.nonzero(mask)[1])
        return X

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features, dtype=object)


def log1p_clipped(X):
    return np.log1p(np.clip(X, 0.0, None))


class Log1p(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return log1p_clipped(np.asarray(X, dtype=float))

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features, dtype=object)


def make_preprocessor() -> ColumnTransformer:
    return ColumnTransformer(
        [
            (
                "log",
                Pipeline(
                    [("impute", MedianImputer()), ("log1p", Log1p()), ("scale", StandardScaler())]
                ),
                LOG_COLUMNS,
            ),
            (
                "linear",
                Pipeline([("impute", MedianImputer()), ("scale", StandardScaler())]),
                LINEAR_COLUMNS,
            ),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse=False), CATEGORICAL_COLUMNS),
        ],
        remainder="drop",
    )


def feature_names(pre: ColumnTransformer) -> list[str]:
    names = list(LOG_COLUMNS) + list(LINEAR_COLUMNS)
    encoder = pre.named_transformers_["onehot"]
    names += [f"region={c}" for c in encoder.categories_[0]]
    return names


def compile_preprocessor(pre: ColumnTransformer) -> dict:
    """Arrays that reproduce `pre.transform` for one user: JSON-safe, no pickle."""
    log_pipe, lin_pipe = pre.named_transformers_["log"], pre.named_transformers_["linear"]
    encoder = pre.named_transformers_["onehot"]
    return {
        "numeric": LOG_COLUMNS + LINEAR_COLUMNS,
        "median": [*log_pipe["impute"].statistics_, *lin_pipe["impute"].statistics_],
        "log": [True] * len(LOG_COLUMNS) + [False] * len(LINEAR_COLUMNS),
        "mean": [*log_pipe["scale"].mean_, *lin_pipe["scale"].mean_],
        "scale": [*log_pipe["scale"].scale_, *lin_pipe["scale"].scale_],
        "categorical": CATEGORICAL_COLUMNS[0],
        "categories": [str(c) for c in encoder.categories_[0]],
    }


def as_frame(features: pd.DataFrame) -> pd.DataFrame:
    """The columns the preprocessor reads, with the dtypes it expects."""
    frame = features[NUMERIC_COLUMNS + CATEGORICAL_COLUMNS].copy()
    frame[NUMERIC_COLUMNS] = frame[NUMERIC_COLUMNS].astype(float)
    frame[CATEGORICAL_COLUMNS] = frame[CATEGORICAL_COLUMNS].fillna("unknown").astype(str)
    return frame
