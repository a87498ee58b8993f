"""The options of each `segment` step, as frozen dataclasses.

The CLI fills them from its flags (their defaults are the flags' defaults);
`retrain`, tests and benchmarks build them directly, so one step never calls
another through argparse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from core.settings import DEFAULT_NAMESPACE


@dataclass(frozen=True)
class TransactionColumns:
    """Column names of the CRM transactions CSV."""

    user: str = "user_id"
    time: str = "timestamp"
    amount: str = "amount"
    category: str = "category"


@dataclass(frozen=True)
class FeaturesConfig:
    transactions: str  # CRM transactions CSV
    events: str  # a `segment export` table
    output: str
    as_of: dt.date | None = None  # default: the day after the last transaction
    columns: TransactionColumns = field(default_factory=TransactionColumns)


@dataclass(frozen=True)
class SelectConfig:
    features: str
    output: str  # selection.json
    sample: int = 50_000  # users to fit candidates on
    k_min: int = 2
    k_max: int = 12
    algorithms: str | None = None  # comma-separated; default: the engine's
    covariance_types: str | None = None  # comma-separated; default: the engine's
    silhouette_sample: int = 10_000
    min_share: float = 0.02
    random_state: int = 0


@dataclass(frozen=True)
class TrainConfig:
    features: str
    output: str  # the model directory
    selection: str | None = None  # selection.json; the three options below override it
    algorithm: str | None = None
    k: int | None = None
    covariance_type: str | None = None
    min_share: float = 0.02
    labels: str | None = None  # YAML: segment id -> persona overrides
    previous: str | None = None  # previous model directory: stable ids, moved users
    random_state: int = 0


@dataclass(frozen=True)
class ModelChoice:
    """What to train: from selection.json, overridden by TrainConfig's options."""

    algorithm: str
    k: int
    covariance_type: str | None


@dataclass(frozen=True)
class RedisTarget:
    url: str
    namespace: str = DEFAULT_NAMESPACE
    cluster: bool = False  # a Redis Cluster (PZ_REDIS_CLUSTER), `url` any one node


@dataclass(frozen=True)
class PublishConfig:
    model_dir: str
    keep: int = 5  # versions to keep


@dataclass(frozen=True)
class ReportConfig:
    features: str
    model_dir: str
    output: str  # report.html
    sample_size: int = 2000  # users in the scatter plots


@dataclass(frozen=True)
class RetrainConfig:
    """The weekly job's options; select and train use SelectConfig's and TrainConfig's
    defaults for the rest."""

    events: str  # endpoints.yml, .jsonl, or a `segment export` table
    transactions: str
    redis: RedisTarget
    workdir: str = "var/segments"
    as_of: dt.date | None = None
    sample: int = 50_000
    k_max: int = 12
    algorithms: str | None = None
    min_share: float = 0.02
    labels: str | None = None
    keep: int = 5
    publish: bool = True
    report_sample: int = 2000
    columns: TransactionColumns = field(default_factory=TransactionColumns)
