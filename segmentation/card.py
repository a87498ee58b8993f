"""The model card of a `segment train` output: one Markdown page that explains the version.

Rendered from the model directory alone (model.json, card.json, selection.json,
assigner.json, fairness.json, published.json), so `segment train` writes it, `segment
publish` renders it again with the version id (and a fairness audit run in between) and
stores it with the version and in the audit log, and `segment report` shows the same text.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from segmentation.card_data import CARD_DATA, write_card_data
from segmentation.errors import InputError, first_line
from segmentation.model_dir import (
    ASSIGNER,
    MODEL,
    PUBLISHED,
    PreviousModel,
    load_model_dir,
    published_version,
    read_selection,
)

CARD = "card.md"
FAIRNESS = "fairness.json"

INTENDED_USE = (
    "Groups Voltmart's shoppers by purchase history and chat behaviour so the assistant can "
    "adapt its tone and recommendations (through each segment's traits), and so analysts can "
    "describe the customer base. Shoppers are known by keyed pseudonyms only."
)
LIMITS = (
    "Segments describe behaviour in the data window above; shoppers change, so retrain "
    "weekly and read the changes section.",
    "Shoppers who have not bought or chatted get medians for the missing side's features "
    "and are placed by the rest; a new shopper is placed from few signals.",
    "Clusters are found, not ground truth: personas are suggested names for segment centres "
    "and individual shoppers can be far from their centre.",
    "Region is a feature (one-hot): segments can follow where shoppers live. Check the "
    "fairness audit before using segments for prices, discounts or anything consequential.",
    "Not for credit, employment, insurance or any decision with legal effect, and not to "
    "infer sensitive traits.",
)


def _table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _read(path: Path):
    """A JSON file of the model directory, None when there is none."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read it ({first_line(exc)})", str(path)) from None


def _data(card: dict, meta: dict) -> str:
    sources = card.get("sources") or {}
    features = card.get("features") or {}
    lines = ["## Data", ""]
    lines.append(f"- As of: {sources.get('as_of') or 'not recorded'}")
    for name in ("transactions", "events"):
        src = sources.get(name) if sources else None
        if src:
            window = f"{src.get('first_day') or '?'} to {src.get('last_day') or '?'}"
            lines.append(
                f"- {name.capitalize()}: `{src['path']}` (sha256 {src.get('sha256') or '–'}, "
                f"{_cell(src.get('rows'))} rows, {window})"
            )
        elif sources:
            lines.append(f"- {name.capitalize()}: none (its features are empty)")
    if not sources:
        lines.append(
            "- Sources: not recorded (the features table was not made by this version of "
            "'segment features')"
        )
    lines.append(
        f"- Features table: `{features.get('path', '?')}` (sha256 {features.get('sha256')})"
    )
    lines.append(f"- Data fingerprint: {meta.get('data_fingerprint')}")
    lines.append(f"- Users: {_cell(meta.get('n_users'))}")
    return "\n".join(lines)


def _features(spec: dict, meta: dict) -> str:
    pre = spec.get("preprocess") or {}
    rows = []
    for i, name in enumerate(pre.get("numeric", [])):
        log = pre["log"][i]
        steps = "median imputation, " + ("log1p, " if log else "") + "standardised"
        rows.append([name, steps, pre["median"][i], pre["mean"][i], pre["scale"][i]])
    categorical = pre.get("categorical")
    if categorical:
        cats = ", ".join(pre.get("categories", []))
        rows.append(
            [categorical, f"one-hot ({cats}); an unseen value is all zeros", None, None, None]
        )
    head = "feature | transformation | median (fills gaps) | mean | scale".split(" | ")
    return (
        "## Features and transformations\n\n"
        f"{len(meta.get('model_features', []))} model inputs from {len(rows)} features "
        "(mean and scale after log1p where it applies):\n\n" + _table(head, rows)
    )


def _algorithm(meta: dict) -> str:
    engine = (meta.get("engine") or {}).get("name", "sklearn")
    params = ", ".join(f"{k}={v}" for k, v in (meta.get("params") or {}).items())
    scores = ", ".join(
        f"{k}={_cell(v)}" for k, v in (meta.get("scores") or {}).items() if v is not None
    )
    lines = [
        "## Algorithm and parameters",
        "",
        f"- Algorithm: {meta.get('algorithm')} (engine {engine})",
        f"- Parameters: {params}",
        f"- Scores: {scores}",
        f"- Code version: {meta.get('code_version')}",
    ]
    if meta.get("hierarchical_note"):
        lines.append(f"- {meta['hierarchical_note']}")
    for merge in meta.get("merges") or []:
        lines.append(f"- Merged {merge['merged']} into {merge['into']} (share {merge['share']})")
    return "\n".join(lines)


def _selection(selection: dict) -> str:
    chosen = selection.get("chosen") or {}
    choice = f"{chosen.get('algorithm')} k={chosen.get('k')}" + (
        f" {chosen['covariance_type']}" if chosen.get("covariance_type") else ""
    )
    lines = ["## Selection", "", f"Chosen: {choice}.", "", "Rule:", "", "```"]
    lines += [inspect.cleandoc(str(selection.get("rule", ""))), "```"]
    cands = sorted(selection.get("candidates") or [], key=lambda c: -(c.get("silhouette") or -9))
    if cands:
        names = ["algorithm", "k", "covariance_type", "silhouette", "davies_bouldin"]
        names += ["calinski_harabasz", "min_share"]
        lines += ["", f"Best {min(10, len(cands))} of {len(cands)} candidates by silhouette:"]
        lines += ["", _table(names, [[c.get(n) for n in names] for c in cands[:10]])]
    checks = [f"elbow k={selection.get('knee_k')}"]
    if selection.get("bic_best"):
        checks.append(f"BIC-best mixture k={selection['bic_best'].get('k')}")
    lines += ["", "Cross-checks: " + ", ".join(checks) + "."]
    return "\n".join(lines)


def _segments(meta: dict) -> str:
    rows = []
    for s in sorted(meta.get("segments", []), key=lambda s: s["id"]):
        top = ", ".join(f"{name} {z:+.2f}" for name, z in s.get("top_features") or [])
        traits = s.get("traits") or {}
        trait_text = ", ".join(
            f"{k} {v}" for k, v in traits.items() if v is not None and k != "preset"
        )
        rows.append([s["id"], s.get("persona"), s.get("size"), s.get("share"), trait_text, top])
    head = ["segment", "persona", "users", "share", "traits", "top features (z)"]
    return "## Segments\n\n" + _table(head, rows)


def _changes(card: dict) -> str:
    head = "## Changes since the previous version\n\n"
    previous, changes = card.get("previous"), card.get("changes")
    if not previous or not changes:
        return head + "First version: trained without --previous, nothing to compare."
    version = previous.get("version")
    if Path(previous["path"], PUBLISHED).exists():  # published after this model was trained
        version = published_version(previous["path"])
    compared, moved = changes["compared_users"], changes["moved_users"]
    share = f" ({moved / compared:.1%})" if compared else ""
    lines = [
        f"Previous: {version} (`{previous.get('path')}`).",
        "",
        f"- Users in both versions: {compared:,}; moved segment: {moved:,}{share}",
        f"- Users only in the previous version: {changes['only_previous_users']:,}; "
        f"only in this one: {changes['only_current_users']:,}",
        f"- New segments: {', '.join(changes['new_segments']) or 'none'}",
        f"- Gone segments: {', '.join(changes['gone_segments']) or 'none'}",
    ]
    for split in changes["splits"]:
        parts = ", ".join(f"{k} ({v:,})" for k, v in split["into"].items())
        lines.append(f"- Split: {split['segment']} into {parts}")
    for merge in changes["merges"]:
        parts = ", ".join(f"{k} ({v:,})" for k, v in merge["from"].items())
        lines.append(f"- Merged: {parts} into {merge['segment']}")
    if not changes["splits"] and not changes["merges"]:
        lines.append("- No segment split or merged.")
    if changes["transitions"]:
        rows = [[t["from"], t["to"], t["users"]] for t in changes["transitions"][:20]]
        lines += ["", _table(["from", "to", "users"], rows)]
    return head + "\n".join(lines)


def _fairness(model_dir: Path) -> str:
    head = "## Fairness audit\n\n"
    audit = _read(model_dir / FAIRNESS)
    if not isinstance(audit, dict):
        return head + (
            f"Not run. Run `segment audit` on this model directory ({model_dir}); it writes "
            f"{FAIRNESS}, which the card includes from then on."
        )
    from segmentation.fairness_report import markdown

    try:
        return head + markdown(audit).strip()
    except (KeyError, TypeError, ValueError, AttributeError):  # another version's layout
        pass
    rows = [
        [k, v if not isinstance(v, dict | list) else json.dumps(v)[:200]] for k, v in audit.items()
    ]
    return head + _table(["field", "value"], rows)


def render(model_dir: str | Path, version: str | None = None) -> str:
    """The card's Markdown; InputError for a directory trained before model cards."""
    model_dir = Path(model_dir)
    card = _read(model_dir / CARD_DATA)
    if card is None:
        raise InputError(
            f"no model card data ({CARD_DATA}): trained before model cards; retrain it with "
            "'segment train'",
            str(model_dir),
        )
    meta = json.loads((model_dir / MODEL).read_text())
    spec = json.loads((model_dir / ASSIGNER).read_text())
    published = _read(model_dir / PUBLISHED) or {}
    version = version or published.get("version") or "(not published)"
    sections = [
        f"# Model card: segments {version}",
        f"Trained {meta.get('created_at')}; model directory `{model_dir.resolve()}`.",
        _data(card, meta),
        _features(spec, meta),
        _algorithm(meta),
        _selection(read_selection(model_dir, meta)),
        _segments(meta),
        "## Intended use\n\n" + INTENDED_USE,
        "## Known limits\n\n" + "\n".join(f"- {text}" for text in LIMITS),
        _fairness(model_dir),
        _changes(card),
    ]
    return "\n\n".join(sections) + "\n"


def write_card(model_dir: str | Path, version: str | None = None) -> str:
    """Render card.md into the model directory; its text."""
    text = render(model_dir, version)
    (Path(model_dir) / CARD).write_text(text, encoding="utf-8")
    return text


def write_model_card(model_dir: str | Path, features: str, previous: PreviousModel | None) -> str:
    """After training: card.json (sources, changes since `previous`) and card.md."""
    current = load_model_dir(model_dir)[1]
    before = None
    if previous is not None:
        before = (str(previous.path), published_version(previous.path), previous.assignments())
    write_card_data(model_dir, features, before, current)
    return write_card(model_dir)
