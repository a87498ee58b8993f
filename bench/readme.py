"""Refresh the README's performance summary from bench/results/*.json.

`make bench` runs this last. The table sits between two markers in README.md;
each row names the figure, its value, the target, the date and machine it was
measured on, and the command that measures it. A result file that is missing
(say, the 5M-user Spark run was not made) leaves its row out, never a stale figure
without a date.

    .venv/bin/python -m bench.readme
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from bench.common import RESULTS

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- bench-summary:start (bench/readme.py rewrites this table) -->"
END = "<!-- bench-summary:end -->"
COVERAGE_START = "<!-- coverage:start (bench/answers.py writes this table) -->"
COVERAGE_END = "<!-- coverage:end -->"

Row = tuple[str, str, str]  # figure, value, target (with met / not met)


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def turns(d: dict) -> list[Row]:
    configurations = d.get("configurations") or {str(d.get("sanic_workers", "?")): d}
    rows: list[Row] = []
    for workers, c in sorted(configurations.items()):
        r, lat, tput = c["ratios"], c["latency"], c["throughput"]
        p50, p99 = r["personalized_vs_response_only_p50"], r["personalized_vs_response_only_p99"]
        thr = r["personalized_vs_stock_throughput"]
        cpu = {
            k: lat[k]["rasa_cpu_ms_per_turn"] for k in ("response_only", "personalized", "stock")
        }
        at = f"{workers} Sanic worker(s) on both servers"
        rows += [
            (
                f"personalized turn vs response-only turn, p50 / p99, {at}",
                f"{p50}x / {p99}x ({lat['personalized']['p50_ms']:.1f} / "
                f"{lat['personalized']['p99_ms']:.1f} ms)",
                f"≤ 1.3x: {_met(p50 <= 1.3 and p99 <= 1.3)}",
            ),
            (
                f"personalized throughput vs unmodified Rasa custom-action turn, {at}",
                f"{thr}x ({tput['personalized']['throughput_rps']} vs "
                f"{tput['stock']['throughput_rps']} msg/s)",
                f"≥ 4x: {_met(thr >= 4)}",
            ),
            (
                f"Rasa CPU per turn: response-only / personalized / unmodified, {at}",
                f"{cpu['response_only']} / {cpu['personalized']} / {cpu['stock']} ms",
                "",
            ),
        ]
    return rows


def action_latency(d: dict) -> list[Row]:
    ratio = d["ratio"]["p99_ms"]
    return [
        (
            "action server: recommendation vs no-op, p99",
            f"{ratio}x ({d['personalized']['p99_ms']:.2f} ms)",
            f"≤ 1.25x: {_met(ratio <= 1.25)}",
        )
    ]


def realtime(d: dict) -> list[Row]:
    t = d["throughput"]
    return [
        (
            "feature worker throughput",
            f"{t['events_per_s']:,} events/s",
            f"≥ 10,000: {_met(t['events_per_s'] >= 10_000)}",
        ),
        (
            "purchase to updated segment, p50 / p99",
            f"{d['delay']['p50_ms']} / {d['delay']['p99_ms']} ms",
            "",
        ),
    ]


def streams(d: dict) -> list[Row]:
    by = {(r["transport"], r["workers"]): r["events_per_s"] for r in d["throughput"]}
    delay = {x["transport"]: x for x in d["delay"]}
    turn = d["turn"]
    return [
        (
            f"{t} stream: events/s with 1 / 2 workers",
            f"{by[(t, 1)]:,} / {by[(t, 2)]:,} ({by[(t, 2)] / by[(t, 1)]:.2f}x)",
            "",
        )
        for t in ("redis", "kafka")
    ] + [
        (
            "event to updated segment p50 / p99, redis / kafka",
            f"{delay['redis']['p50_ms']} / {delay['redis']['p99_ms']} ms, "
            f"{delay['kafka']['p50_ms']} / {delay['kafka']['p99_ms']} ms",
            "",
        ),
        (
            "Kafka vs Redis event broker in a turn, p50",
            f"{turn['kafka_over_redis_p50']}x ({turn['kafka']['p50_us']} vs "
            f"{turn['redis']['p50_us']} µs)",
            "",
        ),
    ]


def gateway(d: dict) -> list[Row]:
    r = d["ratio"]
    worst = max(r["p50_ms"], r["p99_ms"])
    return [
        (
            "gateway vs straight to Rasa, p50 / p99",
            f"{r['p50_ms']}x / {r['p99_ms']}x ({d['gateway']['errors']} errors)",
            f"≤ 1.15x: {_met(worst <= 1.15)}",
        )
    ]


def responses(d: dict) -> list[Row]:
    added = d["added_ms"]["p99_ms"]
    return [
        (
            "response engine: added cost at p99",
            f"{added} ms",
            f"< 1 ms: {_met(added < 1)}",
        )
    ]


def scope(d: dict) -> list[Row]:
    ours, base = d["ours"], d["baseline_tfidf"]
    return [
        (
            "scope guard per message: sentence vectors vs TF-IDF only, p50 / p99",
            f"{ours['p50_ms']} / {ours['p99_ms']} ms vs {base['p50_ms']} / {base['p99_ms']} ms "
            f"({d['ratio']['p50_ms']}x); encoder +{d['encoder_rss_mb']:.0f} MB",
            "none (it buys fewer wrong answers: Quality figures)",
        )
    ]


def cluster(d: dict) -> list[Row]:
    c, one = d["cluster"], d["cluster"]["commands_per_lookup"]
    return [
        (
            "user lookup on a 3-node Redis Cluster vs one server, p50 / p99",
            f"{d['ratio_p50']}x / {d['ratio_p99']}x ({c['p50_ms']:.3f} / {c['p99_ms']:.3f} ms), "
            f"{one} commands per lookup",
            f"one round trip: {_met(one <= 1.0)}",
        )
    ]


def segmentation(d: dict) -> list[Row]:
    t = d["targets"]
    return [
        (
            f"segment retrain end to end, {d['users']:,} users",
            f"{t['retrain_end_to_end_s']['value']} s",
            f"< 180 s: {_met(t['retrain_end_to_end_s']['met'])}",
        ),
        (
            "segment publish",
            f"{t['publish_users_per_s']['value']:,} users/s",
            f"≥ 200,000: {_met(t['publish_users_per_s']['met'])}",
        ),
    ]


def spark(d: dict) -> list[Row]:
    rows = []
    for size, v in sorted(d["sizes"].items(), key=lambda kv: int(kv[0])):
        rows.append(
            (
                f"train k-means on {int(size):,} users: Spark local vs scikit-learn",
                f"{v['spark']['seconds']} s vs {v['sklearn']['seconds']} s, "
                f"{v['spark']['peak_rss_mb']:,} vs {v['sklearn']['peak_rss_mb']:,} MB; "
                f"ARI {v['ari']['spark_vs_sklearn']}",
                f"ARI ≥ 0.9: {_met(v['ari']['spark_vs_sklearn'] >= 0.9)}",
            )
        )
    return rows


def answers(d: dict) -> list[Row]:
    runs = d["distinct"].values()
    traits = [r["distinct_traits"] for r in runs]
    personas = [r["distinct_personas"] for r in runs]
    segments = [r["segments_over_1pct"] for r in runs]
    met = d["models_all_distinct"]
    return [
        (
            "distinct answers to one question, 12-segment models (segments ≥ 1% of users)",
            f"from traits {min(traits)}–{max(traits)} of {max(segments)}; five personas "
            f"{min(personas)}–{max(personas)}; all distinct in {met} of {len(traits)} models",
            f"every segment its own answer: {_met(met == len(traits))}",
        )
    ]


def relevance(d: dict) -> list[Row]:
    s, r = d["scores"], d["ratio_vs_unpersonalized"]
    return [
        (
            "recommended products matching simulated shoppers' preferences (real stack)",
            f"segments {s['segments']['hit_rate']:.0%}, five personas "
            f"{s['personas']['hit_rate']:.0%}, unpersonalized "
            f"{s['unpersonalized']['hit_rate']:.0%} ({r['segments']}x / {r['personas']}x)",
            f"≥ 2x unpersonalized: {_met(d['target']['met'])}",
        )
    ]


def generation(d: dict) -> list[Row]:
    rows: list[Row] = []
    for model, m in d["models"].items():
        first, whole = m["first_token_ms"], m["whole_answer_ms"]
        rows.append(
            (
                f"generated answer, {model}: first token / whole answer, p50 / p95 / p99",
                f"{first['p50']:.0f} / {first['p95']:.0f} / {first['p99']:.0f} ms; "
                f"{whole['p50']:.0f} / {whole['p95']:.0f} / {whole['p99']:.0f} ms; "
                f"{m['over_web_budget_share']:.0%} over the {m['web_budget_ms']} ms budget; "
                f"server {m['server_rss_mb']} MB",
                "",
            )
        )
    stack = d["real_stack"]
    for kind, what in (("generated", "answer cache on"), ("uncached", "every turn asks")):
        rows.append(
            (
                f"generated ({what}) vs template recommendation turn through Rasa, p50 / p95",
                f"{stack[f'{kind}_ratio_p50']}x / {stack[f'{kind}_ratio_p95']}x "
                f"({stack[kind]['p50']:.0f} / {stack[kind]['p95']:.0f} vs "
                f"{stack['template']['p50']:.0f} / {stack['template']['p95']:.0f} ms); "
                f"{stack[f'{kind}_share']:.0%} written by the model",
                "",
            )
        )
    return rows


def generation_eval(d: dict) -> list[Row]:
    return [
        (
            f"generated answers, {m['model']}: accepted by the guard / intro reflects the "
            "leading trait / fact errors after the guard",
            f"{m['accepted_share']:.0%} / {m['trait_reflected_share']:.0%} / "
            f"{m['fact_errors_after_guard']} of {m['cases']}",
            f"fact errors 0: {_met(m['fact_errors_after_guard'] == 0)}",
        )
        for m in d["models"]
    ]


SOURCES: list[tuple[str, Callable[[dict], list[Row]], str]] = [
    ("turns", turns, "make bench"),
    ("answers", answers, "make bench"),
    ("relevance", relevance, "make bench"),
    ("action_latency", action_latency, "make bench"),
    ("realtime", realtime, "make bench"),
    ("streams", streams, "make bench"),
    ("gateway", gateway, "make bench"),
    ("responses", responses, "make bench"),
    ("cluster", cluster, "make bench"),
    ("scope", scope, "make bench"),
    ("generation", generation, "make bench-generation"),
    ("generation_eval", generation_eval, "make eval-generation"),
    ("segmentation_1000000", segmentation, "make bench-segmentation"),
    ("segmentation_spark", spark, "make bench-spark"),
]


def table(results: Path = RESULTS) -> str:
    lines = [
        "| figure | value | target | measured | command |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, rows, command in SOURCES:
        path = results / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        machine = data.get("machine", {})
        when = f"{machine.get('date', '?')[:10]}, {machine.get('cpus', '?')} cores"
        cmd = data.get("command") or command
        try:
            made = rows(data)
        except (KeyError, TypeError, ZeroDivisionError) as exc:
            print(f"warning: {path.name} has no {exc} (older format?); row left out")
            continue
        for figure, value, target in made:
            lines.append(f"| {figure} | {value} | {target} | {when} | `{cmd}` |")
    return "\n".join(lines)


def _between(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def refresh(readme: Path = README, results: Path = RESULTS) -> bool:
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"Error: {readme} has no {START} ... {END} markers", file=sys.stderr)
        return False
    text = _between(text, START, END, table(results))
    answers = results / "answers.json"
    if COVERAGE_START in text and COVERAGE_END in text and answers.exists():
        coverage = json.loads(answers.read_text())["coverage_table"]
        text = _between(text, COVERAGE_START, COVERAGE_END, coverage)
    readme.write_text(text)
    return True


def main() -> int:
    if not refresh():
        return 1
    print(f"performance table in {README.name} refreshed from {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
