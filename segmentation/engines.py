"""`--engine`: the one place where scikit-learn and Spark part ways.

Both engines read the same features table, sweep the same candidates for
`selection.choose`, and write the same model directory; each class holds only
what really differs (where rows live, which algorithms exist, the session).
Heavy libraries are imported when a step runs, so `segment --help` stays quick.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from segmentation.config import ModelChoice, SelectConfig, TrainConfig
from segmentation.errors import SegmentationError
from segmentation.spark_session import SparkOptions, spark_session

if TYPE_CHECKING:  # pandas and skops load when a step runs
    from segmentation.model_dir import PreviousModel

SPARK_HIERARCHICAL = "(bisecting_kmeans is Spark's hierarchical clustering)"


@dataclass
class Sweep:
    """Scored candidates, and what selection.json says about how they were scored."""

    candidates: list  # selection.Candidate
    rows: int  # users the candidates were fitted on
    silhouette_sample: int
    notes: dict = field(default_factory=dict)


class SklearnEngine:
    default_algorithms = "kmeans,gmm,ward"
    default_covariance_types = ("full", "diag")
    train_phases = 3  # the `phase(name)` calls of train (segmentation/progress.py steps)

    def session(self):
        return contextlib.nullcontext()

    def check_select(self, algorithms: tuple[str, ...], covariance_types) -> None:
        """A name the sweep does not know would be skipped silently: refuse it instead."""
        from segmentation.selection import ALGORITHMS

        unknown = [a for a in algorithms if a not in ALGORITHMS]
        if unknown:
            spark_only = (
                " (bisecting_kmeans runs on --engine spark)"
                if "bisecting_kmeans" in unknown
                else ""
            )
            raise SegmentationError(
                f"unknown algorithm {', '.join(unknown)}; use --algorithms from "
                f"{', '.join(ALGORITHMS)}{spark_only}"
            )

    def check_train(self, choice: ModelChoice, say: Callable[[str], None]) -> None:
        from segmentation.models import ALGORITHMS

        if choice.algorithm not in ALGORITHMS:
            raise SegmentationError(f"{choice.algorithm} runs on --engine spark only")

    def sweep(self, config: SelectConfig, algorithms, covariance_types, on_candidate=None) -> Sweep:
        import numpy as np

        from segmentation.features import read_feature_table
        from segmentation.preprocess import as_frame, make_preprocessor
        from segmentation.selection import check_selectable, sweep

        features = read_feature_table(config.features)
        rng = np.random.default_rng(config.random_state)
        if len(features) > config.sample:
            rows = np.sort(rng.choice(len(features), config.sample, replace=False))
            features = features.iloc[rows]
        X = make_preprocessor().fit_transform(as_frame(features))
        check_selectable(len(features), config.features)
        candidates = sweep(
            X,
            range(config.k_min, config.k_max + 1),
            covariance_types or self.default_covariance_types,
            algorithms,
            silhouette_sample=config.silhouette_sample,
            random_state=config.random_state,
            on_candidate=on_candidate,
        )
        return Sweep(candidates, len(features), config.silhouette_sample)

    def train(
        self,
        config: TrainConfig,
        choice: ModelChoice,
        previous: PreviousModel | None,
        labels: dict[str, str] | None,
        phase: Callable[[str], None] = lambda name: None,
    ) -> dict:
        from segmentation.features import read_feature_table
        from segmentation.train import save, train

        phase("reading features")
        features = read_feature_table(config.features)
        phase(f"fitting {choice.algorithm} k={choice.k}")
        result = train(
            features,
            choice.algorithm,
            choice.k,
            choice.covariance_type or "full",
            config.min_share,
            previous.meta if previous else None,
            labels,
            config.random_state,
            source=config.features,
        )
        phase("writing the model")
        save(result, Path(config.output), previous.assignments() if previous else None)
        return result.meta


class SparkEngine:
    default_algorithms = "kmeans,gmm,bisecting_kmeans"
    default_covariance_types = ("full",)
    train_phases = 1

    def __init__(self, options: SparkOptions) -> None:
        self.options = options

    def session(self):
        """Started here, or the active one (`segment retrain` opens one for all steps)."""
        return spark_session(self.options)

    def check_select(self, algorithms: tuple[str, ...], covariance_types) -> None:
        from segmentation.spark_models import ALGORITHMS

        unknown = [a for a in algorithms if a not in ALGORITHMS]
        if unknown:
            raise SegmentationError(
                f"--engine spark has no {', '.join(unknown)}; use --algorithms from "
                f"{', '.join(ALGORITHMS)} {SPARK_HIERARCHICAL}"
            )
        if covariance_types and set(covariance_types) != {"full"}:
            raise SegmentationError(
                "Spark's GaussianMixture fits full covariances only; drop --covariance-types"
            )

    def check_train(self, choice: ModelChoice, say: Callable[[str], None]) -> None:
        from segmentation.spark_models import ALGORITHMS

        if choice.algorithm not in ALGORITHMS:
            raise SegmentationError(
                f"algorithm {choice.algorithm!r} has no Spark implementation; use --algorithm "
                f"{', '.join(ALGORITHMS)} {SPARK_HIERARCHICAL}"
            )
        if choice.algorithm == "gmm" and choice.covariance_type not in (None, "full"):
            say(
                "warning: Spark's GaussianMixture fits full covariances only, "
                f"not {choice.covariance_type}"
            )

    def sweep(self, config: SelectConfig, algorithms, covariance_types, on_candidate=None) -> Sweep:
        from segmentation.spark_select import sweep_spark

        with self.session() as spark:
            candidates, rows = sweep_spark(
                spark,
                config.features,
                range(config.k_min, config.k_max + 1),
                algorithms,
                sample=config.sample,
                silhouette_sample=config.silhouette_sample,
                random_state=config.random_state,
                on_candidate=on_candidate,
            )
        notes = {"engine": "spark", "silhouette_distance": "squared_euclidean"}
        return Sweep(candidates, rows, min(rows, config.silhouette_sample), notes)

    def train(
        self,
        config: TrainConfig,
        choice: ModelChoice,
        previous: PreviousModel | None,
        labels: dict[str, str] | None,
        phase: Callable[[str], None] = lambda name: None,
    ) -> dict:
        from segmentation.spark_train import train_spark

        phase(f"fitting {choice.algorithm} k={choice.k} on Spark")
        with self.session() as spark:
            return train_spark(
                spark,
                config.features,
                config.output,
                choice.algorithm,
                choice.k,
                config.min_share,
                previous,
                labels,
                config.random_state,
            )


Engine = SklearnEngine | SparkEngine


def make_engine(name: str | None, spark: SparkOptions) -> Engine:
    """The engine named by --engine (default sklearn); `spark` applies to the Spark one."""
    name = name or "sklearn"
    if name == "spark":
        return SparkEngine(spark)
    if name == "sklearn":
        return SklearnEngine()
    raise SegmentationError(f"unknown engine {name!r}; use --engine sklearn or spark")
