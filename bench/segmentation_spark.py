"""Segmentation on Spark vs scikit-learn: train from the features table, same k, time and memory.

Synthetic users with planted personas are generated in chunks of 250,000
(segmentation/synthetic.py, then segmentation/features.py per chunk, so 5M
users fit in memory) into one features table per size. Then `segment train
--algorithm kmeans --k 5` runs once per engine, each in its own process; a
sampler adds up the resident memory of that process and all its descendants
(Spark's JVM too) every 0.1 s. Wall time is the whole command: start-up, read,
preprocess, fit, score, write the model directory.

    make bench-spark                                     # 1,000,000 and 5,000,000 users
    .venv/bin/python -m bench.segmentation_spark --users 100000 1000000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import write_result
from tests.servers import ROOT, VENV_BIN

WORK = ROOT / "var" / "bench-segmentation-spark"
CHUNK = 250_000
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- data -------------------------------------------------------------------------------------


def _chunk(index: int):
    """Features and planted personas of users chunk*CHUNK .. (chunk+1)*CHUNK-1."""
    import numpy as np
    import pandas as pd

    from segmentation.features import build_features
    from segmentation.synthetic import (
        PLANTED,
        SNAPSHOT,
        make_events,
        make_transactions,
        planted_labels,
    )

    labels = planted_labels(CHUNK, random_state=index)
    features, _ = build_features(
        make_transactions(labels, index), make_events(labels, index), SNAPSHOT.date()
    )
    features["user_id"] = f"c{index:03d}" + features["user_id"]
    truth = pd.DataFrame(
        {
            "user_id": [f"c{index:03d}u{u:07d}" for u in range(CHUNK)],
            "persona": np.array([p.name for p in PLANTED])[labels],
        }
    )
    return features, truth


def generate(sizes: list[int]) -> dict[int, Path]:
    """One features table per size; the smaller ones are prefixes of the largest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    chunks = -(-max(sizes) // CHUNK)
    paths = {n: WORK / f"features_{n}.parquet" for n in sizes}
    writers: dict[int, pq.ParquetWriter] = {}
    truth_writer = None
    started = time.perf_counter()
    # spawn, not fork: a fork of this process (pyarrow's threads) can deadlock in the child
    with mp.get_context("spawn").Pool(2, maxtasksperchild=1) as pool:
        for index, (features, truth) in enumerate(pool.imap(_chunk, range(chunks))):
            table = pa.Table.from_pandas(features, preserve_index=False)
            for n in sizes:
                if index * CHUNK < n:
                    rows = min(CHUNK, n - index * CHUNK)
                    if n not in writers:
                        writers[n] = pq.ParquetWriter(paths[n], table.schema)
                    writers[n].write_table(table.slice(0, rows))
            truth_table = pa.Table.from_pandas(truth, preserve_index=False)
            if truth_writer is None:
                truth_writer = pq.ParquetWriter(WORK / "truth.parquet", truth_table.schema)
            truth_writer.write_table(truth_table)
            print(
                f"  generated {(index + 1) * CHUNK:>10,} users "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    for writer in [*writers.values(), truth_writer]:
        writer.close()
    return paths


# --- measuring ----------------------------------------------------------------------------------


def _tree(root: int) -> list[int]:
    """`root` and every descendant, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass  # exited meanwhile
    return total


def measure(argv: list[str], log: Path) -> dict:
    """Run a command; wall seconds and the peak RSS of its process tree."""
    peak = 0
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            tick = 0
            while not done.is_set():
                if tick % 10 == 0:  # the process tree changes rarely; /proc scans cost CPU
                    pids = _tree(proc.pid)
                peak = max(peak, _rss(pids))
                tick += 1
                time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({code}):\n{log.read_text()[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak / 2**20)}


def ari(model_dirs: dict[str, Path]) -> dict[str, float]:
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    truth = pd.read_parquet(WORK / "truth.parquet").set_index("user_id")["persona"]
    seg = {
        name: pd.read_csv(d / "assignments.csv", dtype=str).set_index("user_id")["segment"]
        for name, d in model_dirs.items()
    }
    users = seg["sklearn"].index
    return {
        "sklearn_vs_truth": round(adjusted_rand_score(truth.loc[users], seg["sklearn"]), 3),
        "spark_vs_truth": round(adjusted_rand_score(truth.loc[users], seg["spark"].loc[users]), 3),
        "spark_vs_sklearn": round(adjusted_rand_score(seg["sklearn"], seg["spark"].loc[users]), 3),
    }


def crossover(rows: dict[int, dict]) -> dict | None:
    """Where the straight lines through the two largest sizes cross (time = a + b * users)."""
    if len(rows) < 2:
        return None
    small, large = sorted(rows)[-2:]
    lines = {}
    for engine in ("sklearn", "spark"):
        t1, t2 = rows[small][engine]["seconds"], rows[large][engine]["seconds"]
        slope = (t2 - t1) / (large - small)
        lines[engine] = {
            "s_per_million": round(slope * 1e6, 2),
            "fixed_s": round(t1 - slope * small, 1),
        }
    d_slope = lines["sklearn"]["s_per_million"] - lines["spark"]["s_per_million"]
    d_fixed = lines["spark"]["fixed_s"] - lines["sklearn"]["fixed_s"]
    users = d_fixed / d_slope * 1e6 if d_slope > 0 else None
    return {
        "lines": lines,
        "spark_faster_above_users": round(users) if users and users > 0 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--algorithm", default="kmeans", choices=["kmeans", "gmm"])
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--spark-driver-memory", default="4g")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.users))
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    print(
        f"Spark vs scikit-learn: {', '.join(f'{n:,}' for n in sizes)} synthetic users", flush=True
    )
    paths = generate(sizes)
    segment = str(VENV_BIN / "segment")
    results: dict[int, dict] = {}
    for n in sizes:
        results[n] = {}
        dirs = {}
        for engine in ("sklearn", "spark"):
            dirs[engine] = WORK / f"model_{engine}_{n}"
            cmd = [segment, "train", str(paths[n]), "-o", str(dirs[engine])]
            cmd += ["--algorithm", args.algorithm, "--k", str(args.k), "--engine", engine]
            if engine == "spark":
                cmd += ["--spark-master", args.spark_master]
                cmd += ["--spark-driver-memory", args.spark_driver_memory]
            results[n][engine] = measure(cmd, WORK / f"train_{engine}_{n}.log")
            r = results[n][engine]
            print(
                f"  {n:>10,} users  {engine:8} {r['seconds']:8.1f} s {r['peak_rss_mb']:7,} MB peak"
            )
        results[n]["ari"] = ari(dirs)
        s, k = results[n]["spark"], results[n]["sklearn"]
        results[n]["spark_over_sklearn"] = {
            "time": round(s["seconds"] / k["seconds"], 2),
            "memory": round(s["peak_rss_mb"] / k["peak_rss_mb"], 2),
        }
    print()
    print(
        f"{'users':>10}  {'sklearn s':>9}  {'spark s':>8}  {'time x':>6}  "
        f"{'sklearn MB':>10}  {'spark MB':>8}  {'mem x':>5}  ARI spark/sklearn"
    )
    for n in sizes:
        r = results[n]
        print(
            f"{n:>10,}  {r['sklearn']['seconds']:>9.1f}  {r['spark']['seconds']:>8.1f}  "
            f"{r['spark_over_sklearn']['time']:>6.2f}  {r['sklearn']['peak_rss_mb']:>10,}  "
            f"{r['spark']['peak_rss_mb']:>8,}  {r['spark_over_sklearn']['memory']:>5.2f}  "
            f"{r['ari']['spark_vs_sklearn']}"
        )
    cross = crossover(results)
    if cross:
        lines = cross["lines"]
        print(
            f"per million users: sklearn {lines['sklearn']['s_per_million']} s, spark "
            f"{lines['spark']['s_per_million']} s; fixed: sklearn {lines['sklearn']['fixed_s']} s, "
            f"spark {lines['spark']['fixed_s']} s; spark faster above: "
            f"{cross['spark_faster_above_users'] or 'never on this machine'}"
        )
    path = write_result(
        "segmentation_spark",
        {
            "command": "python -m bench.segmentation_spark --users "
            + " ".join(str(n) for n in sizes),
            "train": f"segment train --algorithm {args.algorithm} --k {args.k}",
            "spark": {"master": args.spark_master, "driver_memory": args.spark_driver_memory},
            "sizes": {str(n): results[n] for n in sizes},
            "crossover": cross,
        },
    )
    print(f"written to {path.relative_to(ROOT)}")
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
