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
    order: str | None = None  # order id: repeated rows of an order are dropped (transactions.py)


@dataclass(frozen=True)
class FeaturesConfig:
    transactions: str | None  # CRM transactions CSV; None: purchase features empty
    events: str | None  # a `segment export` table; None: conversation features empty
    output: str
    as_of: dt.date | None = None  # default: the day after the last transaction (or message)
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
    by: str | None = None  # who publishes, for the audit log (default: the OS user)


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

    events: str | None  # endpoints.yml, .jsonl, or a `segment export` table (or None)
    transactions: str | None  # at least one of the two
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
    by: str | None = None  # who publishes, for the audit log (default: the OS user)
    columns: TransactionColumns = field(default_factory=TransactionColumns)
    # The fairness audit before publishing (segmentation/fairness.py; AuditConfig's options).
    sensitive_cols: tuple[str, ...] = ()
    audit_threshold: float = 0.8
    audit_min_group_size: int | None = None
    strict_audit: bool = False  # flagged disparities: not published, exit code 4


@dataclass(frozen=True)
class AuditConfig:
    """`segment audit`: segments compared across groups (segmentation/fairness.py)."""

    features: str
    model_dir: str
    transactions: str | None = None  # CRM export: sensitive columns, purchases after as_of
    events: str | None = None  # a `segment export` table: device and channel
    sensitive_cols: tuple[str, ...] = ()  # columns of the CRM export, for the audit only
    as_of: dt.date | None = None  # the features' snapshot: conversions are purchases after it
    threshold: float = 0.8  # a ratio under it is flagged (the four-fifths rule)
    min_group_size: int | None = None  # None: a single-shopper group is an error
    strict: bool = False  # exit code 4 when anything is flagged
    output: str | None = None  # an .html or .json copy
    columns: TransactionColumns = field(default_factory=TransactionColumns)
