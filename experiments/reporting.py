"""The experiments report: per-variant results, guardrails, SRM, and offline policy values.

Reads what the action server wrote (schema in experiments/decisions.py and
experiments/exposures.py) in chunks (HSCAN, XRANGE), so 100,000 users do not
arrive as one giant reply, and renders text, JSON and a self-contained HTML
page with inline SVG charts. Every string from Redis is escaped in the HTML.
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from experiments.config import ExperimentSpec
from experiments.exposures import conversions_key, exposed_key
from experiments.guardrails import format_guardrail, guardrail_values, hscan, xrange_all
from experiments.offline import Logged, ips, snips
from experiments.significance import (
    SRM_ALPHA,
    chance_to_beat,
    lift,
    srm_p,
    two_proportion_p,
    wilson,
)

logger = logging.getLogger(__name__)
CHUNK = 1000  # decisions looked up per pipeline


@dataclass
class VariantResult:
    name: str
    weight: float
    users: int = 0
    conversions: int = 0
    rate: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    lift: float = math.nan
    p_value: float = math.nan
    chance_to_beat_control: float = math.nan
    guardrails: dict[str, float] = field(default_factory=dict)


@dataclass
class ExperimentResult:
    key: str
    response: str | None
    conversion: dict[str, str]
    variants: list[VariantResult]
    srm_p: float = math.nan
    srm_flag: bool = False
    unknown_users: int = 0

    @property
    def users(self) -> int:
        return sum(v.users for v in self.variants)


@dataclass
class PolicyValue:
    response: str
    variant: str
    persona: str
    decisions: int
    logged: float
    estimates: dict[str, dict[str, float]]  # policy -> {"ips": .., "snips": ..}


def experiment_result(client, namespace: str, spec: ExperimentSpec) -> ExperimentResult:
    names = spec.experiment.variants
    variants = {n: VariantResult(n, w) for n, w in zip(names, spec.experiment.weights, strict=True)}
    exposed: dict[str, str] = {}
    unknown = 0
    for user, variant in hscan(client, exposed_key(namespace, spec.key)):
        if variant in variants:
            exposed[user] = variant
            variants[variant].users += 1
        else:
            unknown += 1
    if unknown:
        logger.warning("%s: %d exposures name unknown variants; counted apart", spec.key, unknown)
    for user, _ in hscan(client, conversions_key(namespace, spec.key)):
        if user in exposed:
            variants[exposed[user]].conversions += 1
    users = {name: v.users for name, v in variants.items()}
    values = guardrail_values(client, namespace, spec.key, spec.guardrails, users, exposed)
    control = variants[names[0]]
    for v in variants.values():
        v.guardrails = values[v.name]
        if v.users:
            v.rate = v.conversions / v.users
            v.ci_low, v.ci_high = wilson(v.conversions, v.users)
    for v in list(variants.values())[1:]:
        v.lift = lift(v.rate, control.rate)
        v.p_value = two_proportion_p(control.conversions, control.users, v.conversions, v.users)
        v.chance_to_beat_control = chance_to_beat(
            (control.conversions, control.users), (v.conversions, v.users)
        )
    p = srm_p([v.users for v in variants.values()], [v.weight for v in variants.values()])
    return ExperimentResult(
        spec.key,
        spec.response,
        spec.conversion,
        list(variants.values()),
        p,
        bool(p < SRM_ALPHA),
        unknown,
    )


def policy_values(client, namespace: str) -> list[PolicyValue]:
    """IPS / SNIPS of uniform choice and each fixed arm, from rated decisions with 2+ arms."""
    logs: dict[tuple[str, str, str], list[Logged]] = defaultdict(list)
    arm_sets: dict[tuple[str, str, str], tuple[str, ...]] = {}
    pending: list[dict[str, str]] = []

    def flush() -> None:
        pipe = client.pipeline(transaction=False)
        for d in pending:
            pipe.hget(f"{namespace}:dec:{d.get('id', '')}", "reward")
        for d, reward in zip(pending, pipe.execute(), strict=True):
            arms = tuple(a for a in d.get("arms", "").split(",") if a)
            try:
                propensity, value = float(d.get("propensity", "nan")), float(reward)
            except (TypeError, ValueError):
                continue  # unrated, expired or garbage
            valid = value in (0.0, 1.0) and 0 < propensity <= 1 and d.get("arm") in arms
            if len(arms) < 2 or not valid:
                continue  # rewards are 0 or 1 (thumbs); anything else is garbage
            key = (d.get("response", "?"), d.get("variant", "?"), d.get("persona", "?"))
            if arm_sets.setdefault(key, arms) != arms:
                continue  # the variant's arms changed mid-way: keep one comparable set
            logs[key].append(Logged(key[2], d["arm"], propensity, value))
        pending.clear()

    for entry in xrange_all(client, f"{namespace}:decisions"):
        pending.append(entry)
        if len(pending) >= CHUNK:
            flush()
    if pending:
        flush()
    out = []
    for (response, variant, persona), records in sorted(logs.items()):
        arms = arm_sets[(response, variant, persona)]
        share = 1 / len(arms)
        policies = {"uniform": lambda _ctx, _arm, share=share: share}
        for a in arms:
            policies[f"always {a}"] = lambda _ctx, arm, a=a: 1.0 if arm == a else 0.0
        estimates = {
            name: {"ips": ips(records, target), "snips": snips(records, target)}
            for name, target in policies.items()
        }
        logged = sum(r.reward for r in records) / len(records)
        out.append(PolicyValue(response, variant, persona, len(records), logged, estimates))
    return out


def report(client, namespace: str, specs: Mapping[str, ExperimentSpec]) -> dict:
    return {
        "namespace": namespace,
        "experiments": [experiment_result(client, namespace, s) for s in specs.values()],
        "policies": policy_values(client, namespace),
    }


def _fmt(x: float, pct: bool = False, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x * 100:.1f}%" if pct else f"{x:.{digits}f}"


def to_json(data: dict) -> str:
    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    payload = {
        "namespace": data["namespace"],
        "experiments": [clean(asdict(e)) for e in data["experiments"]],
        "policies": [clean(asdict(p)) for p in data["policies"]],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def to_text(data: dict) -> str:
    lines = []
    for e in data["experiments"]:
        conversion = ", ".join(f"{k}={v}" for k, v in e.conversion.items())
        lines.append(f"experiment {e.key} (response {e.response}, conversion {conversion})")
        if not e.users:
            lines.append("  no exposures yet")
            if e.unknown_users:  # e.g. a renamed variant: say so rather than look empty
                lines.append(f"  {e.unknown_users} exposures name unknown variants (left out)")
            continue
        lines.append(
            f"  {'variant':14}{'users':>8}{'conv':>7}{'rate':>8}{'95% interval':>18}"
            f"{'lift':>9}{'p':>8}{'P(beat)':>9}  guardrails"
        )
        for i, v in enumerate(e.variants):
            guard = ", ".join(f"{k} {format_guardrail(k, x)}" for k, x in v.guardrails.items())
            versus = (
                f"{'control':>9}{'':>8}{'':>9}"
                if i == 0
                else f"{_fmt(v.lift, True):>9}{_fmt(v.p_value):>8}"
                f"{_fmt(v.chance_to_beat_control, True):>9}"
            )
            lines.append(
                f"  {v.name[:14]:14}{v.users:8d}{v.conversions:7d}{_fmt(v.rate, True):>8}"
                f"{_fmt(v.ci_low, True) + '-' + _fmt(v.ci_high, True):>18}{versus}  {guard}"
            )
        srm = "MISMATCH: check assignment before trusting results" if e.srm_flag else "ok"
        lines.append(f"  sample ratio: p = {_fmt(e.srm_p, digits=4)} ({srm})")
        if e.unknown_users:
            lines.append(f"  {e.unknown_users} exposures name unknown variants (left out)")
    if data["policies"]:
        lines.append("offline policy values (rated decisions; reward = thumbs up)")
        for p in data["policies"]:
            est = "; ".join(
                f"{name} {_fmt(v['ips'])}/{_fmt(v['snips'])}" for name, v in p.estimates.items()
            )
            lines.append(
                f"  {p.variant}/{p.persona}: {p.decisions} decisions, logged "
                f"{_fmt(p.logged)}; IPS/SNIPS: {est}"
            )
    return "\n".join(lines)


def _bars_svg(labels: list[str], values: list[float], lows=None, highs=None, ref=None) -> str:
    """Horizontal bars (0..1) with optional interval whiskers and a reference line."""
    width, row, left = 520, 26, 120
    height = row * len(labels) + 20
    scale = max([v for v in (highs or values) if not math.isnan(v)] + [0.01]) * 1.15
    scale = min(max(scale, 0.05), 1.0) if ref is None else 1.0
    parts = [
        f'<svg width="{width}" height="{height}" role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 10 + i * row
        w = 0 if math.isnan(value) else (width - left - 20) * value / scale
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{html.escape(label[:18])}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="18" fill="#4c78a8"/>')
        parts.append(
            f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="11">{_fmt(value, True)}</text>'
        )
        if lows and highs and not math.isnan(lows[i]):
            x1 = left + (width - left - 20) * lows[i] / scale
            x2 = left + (width - left - 20) * highs[i] / scale
            parts.append(
                f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y + 9}" y2="{y + 9}" '
                'stroke="#222" stroke-width="2"/>'
            )
    if ref is not None:
        x = left + (width - left - 20) * ref / scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="#e45756"/>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(data: dict) -> str:
    esc = html.escape
    body = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Experiments report</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}th:first-child,td:first-child{text-align:left}"
        ".flag{color:#b00;font-weight:bold}.row{display:flex;gap:2em;flex-wrap:wrap}</style>",
        "</head><body><h1>Experiments report</h1>",
    ]
    for e in data["experiments"]:
        conversion = ", ".join(f"{k} = {v}" for k, v in e.conversion.items())
        body.append(
            f"<h2>{esc(e.key)}</h2><p>response {esc(str(e.response))}; "
            f"conversion: {esc(conversion)}; {e.users} users</p>"
        )
        if not e.users:
            body.append("<p>No exposures yet.</p>")
            continue
        body.append(
            "<div class='row'><div><table><tr><th>variant</th><th>weight</th><th>users</th>"
            "<th>conversions</th><th>rate</th><th>95% interval</th><th>lift</th>"
            "<th>p-value</th><th>chance to beat control</th><th>guardrails</th></tr>"
        )
        for i, v in enumerate(e.variants):
            guard = "<br>".join(
                f"{esc(k)}: {format_guardrail(k, x)}" for k, x in v.guardrails.items()
            )
            body.append(
                f"<tr><td>{esc(v.name)}</td><td>{v.weight:.2f}</td><td>{v.users}</td>"
                f"<td>{v.conversions}</td><td>{_fmt(v.rate, True)}</td>"
                f"<td>{_fmt(v.ci_low, True)} to {_fmt(v.ci_high, True)}</td>"
                + (
                    "<td colspan='3'>control</td>"
                    if i == 0
                    else f"<td>{_fmt(v.lift, True)}</td><td>{_fmt(v.p_value)}</td>"
                    f"<td>{_fmt(v.chance_to_beat_control, True)}</td>"
                )
                + f"<td>{guard}</td></tr>"
            )
        srm_class = "flag" if e.srm_flag else ""
        srm_text = (
            "sample-ratio mismatch: do not trust" if e.srm_flag else "no sample-ratio mismatch"
        )
        body.append(
            f"</table><p class='{srm_class}'>{srm_text} (chi-square p = "
            f"{_fmt(e.srm_p, digits=4)}, flagged below {SRM_ALPHA})</p></div><div>"
        )
        names = [v.name for v in e.variants]
        body.append("<h3>Conversion rate with 95% interval</h3>")
        body.append(
            _bars_svg(
                names,
                [v.rate for v in e.variants],
                [v.ci_low for v in e.variants],
                [v.ci_high for v in e.variants],
            )
        )
        body.append("<h3>Chance to beat control</h3>")
        body.append(
            _bars_svg(names[1:], [v.chance_to_beat_control for v in e.variants[1:]], ref=0.5)
        )
        total = e.users or 1
        body.append("<h3>Share of users: observed (bar) vs. configured (line)</h3>")
        for v in e.variants:
            body.append(
                _bars_svg(
                    [v.name], [v.users / total], ref=v.weight / sum(x.weight for x in e.variants)
                )
            )
        body.append("</div></div>")
    if data["policies"]:
        body.append(
            "<h2>Offline policy values</h2><p>From rated decisions (reward: thumbs up = 1); "
            "IPS / SNIPS estimates of what each policy would have earned.</p><table>"
            "<tr><th>variant / persona</th><th>decisions</th><th>logged policy</th>"
            "<th>estimates (IPS / SNIPS)</th></tr>"
        )
        for p in data["policies"]:
            est = "<br>".join(
                f"{esc(n)}: {_fmt(v['ips'])} / {_fmt(v['snips'])}" for n, v in p.estimates.items()
            )
            body.append(
                f"<tr><td>{esc(p.variant)} / {esc(p.persona)}</td><td>{p.decisions}</td>"
                f"<td>{_fmt(p.logged)}</td><td>{est}</td></tr>"
            )
        body.append("</table>")
    body.append("</body></html>")
    return "\n".join(body)
