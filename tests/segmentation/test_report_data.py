"""The report's numbers: profile columns, stratified samples, t-SNE perplexity."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.report_data import stratified_sample, tsne_perplexity, widest_features


def test_widest_features_keeps_largest_spread_in_original_order() -> None:
    means = np.zeros((3, 50))
    wide = [3, 10, 49]
    means[0, wide] = [5.0, -4.0, 3.0]
    means[1, :] = 0.01 * np.arange(50)
    kept = widest_features(means, limit=40)
    assert len(kept) == 40 and set(wide) <= set(kept.tolist())
    assert list(kept) == sorted(kept)
    assert list(widest_features(means[:, :5], limit=40)) == [0, 1, 2, 3, 4]


def test_stratified_sample_is_bounded_seeded_and_keeps_small_segments() -> None:
    labels = np.array(["big"] * 9990 + ["tiny"] * 10)
    rows = stratified_sample(labels, 100, seed=1)
    assert len(rows) <= 100 and len(set(rows.tolist())) == len(rows)
    assert "tiny" in set(labels[rows].tolist())
    assert np.array_equal(rows, stratified_sample(labels, 100, seed=1))
    assert not np.array_equal(rows, stratified_sample(labels, 100, seed=2))
    assert np.array_equal(stratified_sample(labels[:50], 100, seed=1), np.arange(50))


@pytest.mark.parametrize("n", [10, 11, 16, 50, 91, 2000])
def test_tsne_perplexity_below_sample_count(n: int) -> None:
    assert 5 <= tsne_perplexity(n) < n and tsne_perplexity(n) <= 30
