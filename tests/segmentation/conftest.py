"""Synthetic data shared by the segmentation tests (generated, never downloaded)."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation.features import build_features
from segmentation.synthetic import make_dataset


@pytest.fixture(scope="session")
def planted() -> tuple[pd.DataFrame, pd.Series]:
    """(features, planted persona per row) for 3,000 users with five planted personas."""
    transactions, events, truth = make_dataset(3000, random_state=1)
    features, _ = build_features(transactions, events)
    return features, truth.loc[features["user_id"]].reset_index(drop=True)
