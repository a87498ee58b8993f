"""The fairness audit of a model directory: how segment membership, what each segment is
shown and how it converts compare across groups of shoppers, and how much region steers
the clustering.

What a segment is shown is computed from the code that composes its answers: for each
segment's traits (core/traits.py `listed_traits`, as the action server reads them from the
version's metadata) the `recommend` answer in every category lists `ranked(...)[:length]`
of core/ranking.py over the product catalogue (core/products.py), the functions the
response engine calls. A group's figure is the mean over its users of their segment's
figure (weighted by the group's membership). Disparity ratios are min / max over the groups
of a dimension, per metric (and per segment for membership); a ratio under the threshold
(default 0.8, the four-fifths rule) is flagged. README "Fairness audit" has the details.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from statistics import fmean

import numpy as np
import pandas as pd

from core.categories import CATEGORIES
from core.products import ProductCatalogue, load_products
from core.ranking import Fit, ranked
from core.traits import listed_traits
from segmentation.audit_groups import UNKNOWN, AuditTable, Dimension
from segmentation.config import AuditConfig, RetrainConfig
from segmentation.disparity_stats import SIGNIFICANT, bonferroni, proportion_p, shown_p
from segmentation.errors import InputError, SegmentationError
from segmentation.fairness_report import significant
from segmentation.region_influence import region_influence

DEFAULT_THRESHOLD = AuditConfig.threshold  # 0.8, the four-fifths rule
FLAGGED_EXIT = 4  # `segment audit --strict` and `segment retrain --strict-audit`
FAIRNESS = "fairness.json"
RESPONSE = "recommend"
EXPOSURE_METRICS = ("price_level", "discount_pct", "deal_share")
DEFINITIONS = {
    "membership": "share of the group's users in the segment",
    "price_level": "mean price (after discount, EUR) of the products a recommendation shows",
    "discount_pct": "mean discount (%) of the products a recommendation shows",
    "deal_share": "share of recommendations (one per category) that show a discounted "
    "product, which the answer quotes as 'N% off'",
}


class AuditFlagged(SegmentationError):
    """A strict audit found disparities: the exit code is FLAGGED_EXIT, not an input error."""


def check_options(threshold: float, min_group_size: int | None) -> None:
    if not (isinstance(threshold, int | float) and 0 < threshold <= 1):
        raise InputError(
            f"the audit threshold {threshold} is outside (0, 1]; the four-fifths rule is 0.8"
        )
    if min_group_size is not None and min_group_size < 2:
        raise InputError(f"--min-group-size {min_group_size} must be 2 or more (or left out)")


# ---------- what each segment is shown ----------


def segment_exposure(segments: list[dict], catalogue: ProductCatalogue) -> dict[str, dict]:
    """Per segment id: the recommend answers of its traits in every category, summarised.

    The device is unknown, as for a shopper whose device the action server does not know:
    a shorter list when the segment mostly writes from a phone (responses/composition.py
    `fit_of`); no price band (the shopper's own, not the segment's)."""
    out = {}
    for listed in segments:
        persona, traits, stand_in = listed_traits(listed)
        fit = Fit(traits, None, traits.device == "mobile")
        answers = [ranked(catalogue, c, fit)[: fit.length] for c in CATEGORIES]
        answers = [answer for answer in answers if answer]
        shown = [p for answer in answers for p in answer]
        out[str(listed["id"])] = {
            "persona": persona,
            "price_level": round(fmean(p.deal_price for p in shown), 2) if shown else 0.0,
            "discount_pct": round(fmean(p.discount_pct for p in shown), 2) if shown else 0.0,
            "deal_share": fmean(any(p.on_deal for p in a) for a in answers) if answers else 0.0,
            "products_per_answer": len(shown) / len(answers) if answers else 0.0,
            "traits_note": stand_in,  # why the persona's preset stood in, if it did
        }
    return out


# ---------- disparities ----------


def disparity(values: dict[str, float]) -> tuple[float, str, str]:
    """(min / max, the group with the minimum, the group with the maximum); 1.0 when every
    group has 0."""
    low = min(values, key=lambda g: (values[g], g))
    high = max(values, key=lambda g: (values[g], g))
    ratio = 1.0 if values[high] <= 0 else values[low] / values[high]
    return ratio, low, high


def _ratio(metric: str, values: dict, threshold: float, p_of, segment: str | None = None) -> dict:
    """`p_of(low, high)`: the p-value between the two groups (segmentation/disparity_stats.py)."""
    ratio, low, high = disparity(values)
    entry = {"metric": metric, "segment": segment} if segment else {"metric": metric}
    return entry | {
        "ratio": round(ratio, 4),
        "min_group": low,
        "min": values[low],
        "max_group": high,
        "max": values[high],
        "flagged": ratio < threshold,
        "p_value": bonferroni(p_of(low, high), len(values)),
    }


def _check_sizes(dimension: Dimension, sizes: pd.Series, min_group_size: int | None) -> None:
    if min_group_size is None and (sizes == 1).any():
        group = sorted(sizes.index[sizes == 1])[0]
        raise InputError(
            f"group '{group}' of {dimension.name} has a single shopper: a rate of one shopper "
            "is 0 or 1 and says nothing; pass --min-group-size N to leave out groups of fewer "
            "than N shoppers"
        )


def dimension_audit(
    dimension: Dimension,
    users: pd.DataFrame,
    exposure: dict[str, dict],
    threshold: float,
    min_group_size: int | None,
) -> dict:
    """One dimension's groups (size, membership, exposure, conversion) and their ratios;
    users without a value (`unknown`) are counted, not compared."""
    unknown = users[dimension.name] == UNKNOWN
    users = users.loc[~unknown]
    column = users[dimension.name]
    sizes = column.value_counts()
    _check_sizes(dimension, sizes, min_group_size)
    small = sizes.loc[sizes < (min_group_size or 1)]
    kept = users.loc[~column.isin(small.index)]
    ids = list(exposure)
    counts = pd.crosstab(kept[dimension.name], kept["segment"]).reindex(columns=ids, fill_value=0)
    membership = counts.div(counts.sum(axis=1), axis=0)
    figures = {
        m: membership.to_numpy() @ np.array([exposure[s][m] for s in ids], float)
        for m in EXPOSURE_METRICS
    }
    converted = kept.groupby(dimension.name)["converted"].mean()
    bought = kept.groupby(dimension.name)["converted"].sum()
    order = sorted(membership.index, key=lambda g: (-int(counts.loc[g].sum()), str(g)))
    groups = []
    for g in order:
        i = membership.index.get_loc(g)
        groups.append(
            {
                "name": str(g),
                "users": int(counts.loc[g].sum()),
                "membership": {s: round(float(membership.loc[g, s]), 4) for s in ids},
                **{m: round(float(figures[m][i]), 4) for m in EXPOSURE_METRICS},
                "conversion": round(float(converted.loc[g]), 4),
            }
        )
    out = {
        "name": dimension.name,
        "source": dimension.source,
        "sensitive": dimension.sensitive,
        "groups": groups,
        "skipped": [{"name": str(g), "users": int(n)} for g, n in sorted(small.items(), key=str)],
        "unknown_users": int(unknown.sum()),
        "ratios": [],
        "note": None,
    }
    if len(groups) < 2:
        out["note"] = (
            "fewer than two groups"
            + (f" of at least {min_group_size} shoppers" if min_group_size else "")
            + ": nothing to compare"
        )
        return out
    n = counts.sum(axis=1)
    for s in ids:
        values = {g["name"]: g["membership"][s] for g in groups}

        def member_p(lo, hi, s=s):
            return proportion_p((counts.loc[lo, s], n[lo]), (counts.loc[hi, s], n[hi]))

        out["ratios"].append(_ratio("membership", values, threshold, member_p, s))
    for m in EXPOSURE_METRICS:
        shown = np.array([exposure[s][m] for s in ids], float)

        def shown_of(lo, hi, shown=shown):
            rows = membership.to_numpy()
            at = membership.index.get_loc
            return shown_p((rows[at(lo)], n[lo]), (rows[at(hi)], n[hi]), shown)

        out["ratios"].append(_ratio(m, {g["name"]: g[m] for g in groups}, threshold, shown_of))

    def bought_p(lo, hi):
        return proportion_p((bought[lo], n[lo]), (bought[hi], n[hi]))

    values = {g["name"]: g["conversion"] for g in groups}
    out["ratios"].append(_ratio("conversion", values, threshold, bought_p))
    return out


# ---------- the whole audit ----------


def audit(
    table: AuditTable,
    joined: pd.DataFrame,
    meta: dict,
    spec: dict,
    catalogue: ProductCatalogue,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_group_size: int | None = None,
) -> dict:
    """The audit as a JSON-safe dict (what fairness.json holds)."""
    check_options(threshold, min_group_size)
    exposure = segment_exposure(list(meta.get("segments") or []), catalogue)
    users = table.users
    unknown = sorted(set(users["segment"]) - set(exposure))
    if unknown:
        raise InputError(f"assignments name segment '{unknown[0]}', which model.json lacks")
    dimensions = [
        dimension_audit(d, users, exposure, threshold, min_group_size) for d in table.dimensions
    ]
    sizes = users["segment"].value_counts()
    converted = users.groupby("segment")["converted"].mean()
    segments = [
        {
            "id": s,
            "users": int(sizes.get(s, 0)),
            "share": round(float(sizes.get(s, 0) / len(users)), 4),
            **e,
            "products_per_answer": round(e["products_per_answer"], 2),
            "conversion": round(float(converted[s]), 4) if s in converted.index else None,
        }
        for s, e in exposure.items()
    ]
    flags = [{"dimension": d["name"], **r} for d in dimensions for r in d["ratios"] if r["flagged"]]
    return {
        "schema": 1,
        "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "algorithm": meta.get("algorithm"),
        "data_fingerprint": meta.get("data_fingerprint"),
        "users": len(users),
        "threshold": threshold,
        "min_group_size": min_group_size,
        "exposure": {
            "response": RESPONSE,
            "categories": list(CATEGORIES),
            "computed": "core/ranking.py ranked()[:Fit.length] on each segment's traits over "
            "the product catalogue, as the response engine lists them (base wording; "
            "experiment and bandit arms change words, not the products shown)",
            "definitions": DEFINITIONS,
        },
        "conversion": table.conversion,
        "segments": segments,
        "dimensions": dimensions,
        "region_influence": region_influence(joined, spec),
        "flags": flags,
        "flagged": bool(flags),
    }


def read_audit(model_dir: str | Path) -> dict | None:
    """The model directory's fairness.json, or None when it was never audited."""
    path = Path(model_dir) / FAIRNESS
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"not a 'segment audit' output ({exc})", str(path)) from None


def precheck(config: RetrainConfig, key: bytes) -> None:
    """`segment retrain`'s audit options, checked before anything is trained."""
    from segmentation.audit_groups import sensitive_groups

    check_options(config.audit_threshold, config.audit_min_group_size)
    if config.sensitive_cols and not config.transactions:
        raise InputError("--sensitive-col needs --transactions (the CRM export holding it)")
    if config.sensitive_cols:
        sensitive_groups(config.transactions, config.columns.user, config.sensitive_cols, key)


def flagged_message(audit: dict, model_dir: str | Path) -> str:
    flags = audit["flags"]
    first = flags[0]
    what = " ".join(
        str(w) for w in (first["dimension"], first["metric"], first.get("segment")) if w
    )
    return (
        f"fairness audit flagged {len(flags)} disparity ratio(s) below {audit['threshold']}, "
        f"{significant(flags)} with p under {SIGNIFICANT} (first: {what} {first['ratio']:.3f}); "
        f"see {Path(model_dir) / FAIRNESS}"
    )


def run_audit(
    config: AuditConfig, pseudonym_key: bytes, console, catalogue: ProductCatalogue | None = None
) -> dict:
    """`segment audit`: read, check everything, then write fairness.json (and -o's copy).

    Nothing is written when the input is bad. `console.say` gets the summary line."""
    from segmentation.audit_groups import audit_table, population
    from segmentation.fairness_report import write_copy
    from segmentation.features import read_feature_table
    from segmentation.model_dir import load_model_dir
    from segmentation.progress import steps

    check_options(config.threshold, config.min_group_size)
    if config.output and Path(config.output).suffix not in (".html", ".json"):
        raise InputError("use a .html or .json file for -o", config.output)
    with steps(console.progress, "audit", 3) as phase:
        phase("reading")
        meta, assignments, spec = load_model_dir(config.model_dir)
        joined = population(read_feature_table(config.features), assignments, config.features)
        phase("grouping")
        table = audit_table(
            joined,
            events=config.events,
            transactions=config.transactions,
            sensitive=tuple(config.sensitive_cols),
            columns=config.columns,
            as_of=config.as_of,
            pseudonym_key=pseudonym_key,
        )
        phase("comparing")
        result = audit(
            table,
            joined,
            meta,
            spec,
            catalogue or load_products(),
            threshold=config.threshold,
            min_group_size=config.min_group_size,
        )
    path = Path(config.model_dir) / FAIRNESS
    path.write_text(json.dumps(result, indent=2))
    refresh_card(config.model_dir)
    if config.output:
        write_copy(result, config.output)
    flagged = len(result["flags"])
    console.say(
        f"fairness audit of {result['users']} users written to {path}: "
        + (f"{flagged} ratio(s) below {config.threshold} flagged" if flagged else "nothing flagged")
    )
    return result


def refresh_card(model_dir: str | Path) -> None:
    """card.md carries the audit at once, not only from the next publish on."""
    from segmentation.card import write_card
    from segmentation.card_data import CARD_DATA

    if (Path(model_dir) / CARD_DATA).exists():
        write_card(model_dir)


def audit_before_publish(
    config: RetrainConfig, features: str, model_dir: str, events: str | None, key: bytes, console
) -> AuditFlagged | None:
    """`segment retrain`'s audit of the model it trained, before publishing: the refusal
    to raise once the run is reported when --strict-audit and something is flagged."""
    result = run_audit(
        AuditConfig(
            features,
            model_dir,
            transactions=config.transactions,
            events=events,
            sensitive_cols=tuple(config.sensitive_cols),
            threshold=config.audit_threshold,
            min_group_size=config.audit_min_group_size,
            columns=config.columns,
        ),
        key,
        console,
    )
    if not result["flagged"]:
        return None
    message = flagged_message(result, model_dir)
    if not config.strict_audit:
        outcome = "published all the same" if config.publish else "not published: --no-publish"
        console.warn(f"warning: {message} ({outcome}; --strict-audit refuses)")
        return None
    return AuditFlagged(f"{message}; not published (--strict-audit)")
