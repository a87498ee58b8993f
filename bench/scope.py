"""What the scope guard costs a message: sentence vectors + regression + neighbours (ours)
against the TF-IDF-only regression the guard used before (baseline), both trained here on
the project's training data, one message at a time as a Rasa turn asks, same process.

.venv/bin/python -m bench.scope [--rounds 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.training_data.loading import load_data
from sklearn.linear_model import LogisticRegression

from bench.common import percentile, write_result
from rasa_ext.parties import OtherParties
from rasa_ext.scope import ScopeGuard, labelled_examples
from rasa_ext.scope_model import ScopeModel, word_features
from rasa_ext.sentence_encoder import SentenceEncoder

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = ["test_nlu", "unsupported", "unsupported_fresh", "unsupported_blind2"]


def config() -> dict:
    """The guard's settings as `rasa train` sees them: its defaults under config.yml's."""
    pipeline = yaml.safe_load((ROOT / "config.yml").read_text())["pipeline"]
    ours = next(p for p in pipeline if p["name"].endswith("ScopeGuard"))
    return {**ScopeGuard.get_default_config(), **ours}


def training(cfg: dict) -> tuple[list[str], np.ndarray]:
    data = TrainingDataImporter.load_from_dict(
        training_data_paths=[str(ROOT / "data")], domain_path=str(ROOT / "domain.yml")
    ).get_nlu_data()
    examples, labels = labelled_examples(data.intent_examples, cfg)  # paths from the root
    return [m.get("text") for m in examples], labels


def messages() -> list[str]:
    texts = []
    for name in HELD_OUT:
        data = load_data(str(ROOT / "tests" / "nlu" / f"{name}.yml"))
        texts += [m.get("text") for m in data.intent_examples if m.get("text")]
    return texts


def timed(fn, texts: list[str], rounds: int) -> dict[str, float]:
    ms = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            fn(text)
            ms.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "messages": len(ms),
    }


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the held-out messages")
    args = parser.parse_args(argv)
    cfg = config()
    texts, labels = training(cfg)
    before = rss_mb()
    start = time.perf_counter()
    encoder = SentenceEncoder.from_package()
    load_s = time.perf_counter() - start
    encoder_mb = rss_mb() - before
    parties = OtherParties.from_file(cfg["other_parties"])
    start = time.perf_counter()
    ours = ScopeModel.fit(texts, labels, encoder, parties, cfg["C"], cfg["random_seed"])
    train_s = time.perf_counter() - start
    words = word_features()
    baseline = LogisticRegression(C=cfg["C"], max_iter=3000, random_state=cfg["random_seed"])
    baseline.fit(words.fit_transform(texts), labels)

    def ours_verdict(text: str) -> None:
        vectors = encoder.encode([text])
        ours.probability([text], vectors)
        ours.margin(vectors)

    sample = messages()
    for text in sample[:20]:  # warm caches and BLAS before timing
        ours_verdict(text)
    result = {
        "training_examples": len(texts),
        "encoder_load_s": round(load_s, 2),
        "encoder_rss_mb": round(encoder_mb, 1),
        "fit_s": round(train_s, 1),
        "baseline_tfidf": timed(
            lambda t: baseline.predict_proba(words.transform([t])), sample, args.rounds
        ),
        "encoder_only": timed(lambda t: encoder.encode([t]), sample, args.rounds),
        "ours": timed(ours_verdict, sample, args.rounds),
    }
    base, full = result["baseline_tfidf"], result["ours"]
    result["ratio"] = {q: round(full[q] / base[q], 1) for q in ("p50_ms", "p99_ms")}
    path = write_result("scope", {"command": "make bench", **result})
    print(
        f"scope guard per message, ours (vectors + regression + neighbours) vs TF-IDF only: "
        f"p50 {full['p50_ms']} vs {base['p50_ms']} ms ({result['ratio']['p50_ms']}x), "
        f"p99 {full['p99_ms']} vs {base['p99_ms']} ms; encoder load {load_s:.1f} s, "
        f"+{encoder_mb:.0f} MB; fit {train_s:.0f} s on {len(texts)} examples -> {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
