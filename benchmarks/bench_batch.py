"""`batteryviz batch` throughput on a LocalCluster with 1 and 2 workers, against a plain loop.

    python benchmarks/bench_batch.py [N_FILES] [ROWS_PER_FILE] [ROUNDS]   # default 200 files x
    100,000 rows, 3 rounds

Reports files per second for a plain in-process loop (read + CycleSummary + write) and for
``run_batch`` with 1 and 2 worker processes, the scaling from 1 to 2 workers, the per-file
overhead of the Dask path against the loop (1 worker), and the peak memory of the workers.

Two scalings are reported. ``scaling_1_to_2`` compares the defaults of ``batteryviz batch``:
a single worker on this 2-core machine gives polars both cores, so its parse already runs in
parallel and the second worker can add only what the single-threaded part leaves.
``scaling_per_core_1_to_2`` holds each worker to one core in both runs (the "1c" run: one
worker, one polars thread; each of the two workers has one anyway): how the Dask path scales
with workers when a worker is one core, as on a cluster node shared among workers.
``machine_scaling_1_to_2`` is the reference: what a second process adds on this machine to
fixed pure-Python arithmetic and to filling fresh memory.

All clusters are started first; then each round runs the loop and every cluster in turn, so a
slow spell of the (shared) machine hits all of them; the medians over the rounds are reported,
with each round's time. Both paths are timed warm: the loop after one file (its imports), the
cluster after every
worker has imported what a task uses (``warm_worker``). The one-time start of the cluster
(processes and imports) is reported on its own (``workers_N_start_s``).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).parent


def main(n_files: int = 200, rows: int = 100_000, rounds: int = 3) -> dict:
    sys.path.insert(0, str(HERE))
    from distributed import Client
    from generate import generate

    from batteryviz.batch import process_file, run_batch
    from batteryviz.cluster import local_cluster

    folder = HERE / "data" / f"batch_{n_files}x{rows}"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(n_files):
        path = folder / f"cell_{k:04d}.txt"
        if not path.exists():
            generate(rows, path, rows_per_cycle=10_000, seed=k)
        files.append(path)
    out_root = HERE / "data" / "batch_out"
    shutil.rmtree(out_root, ignore_errors=True)

    process_file(
        str(files[0]), str(out_root / "warm"), ["summary"], {}
    )  # imports, as the workers get
    result: dict = {"files": n_files, "rows_per_file": rows, "rounds": rounds}
    result["machine_scaling_1_to_2"] = machine_scaling()
    # "1c": one worker held to one core (one polars thread), as each of the two workers is
    configs = (("1", 1, None), ("1c", 1, 1), ("2", 2, None))
    times: dict[str, list[float]] = {"loop": []}
    with ExitStack() as stack:
        clients = {}
        for label, workers, polars_threads in configs:
            t_start = time.perf_counter()
            # the workers `batteryviz batch` starts (batteryviz.cluster.local_cluster)
            cluster = stack.enter_context(local_cluster(workers, polars_threads=polars_threads))
            client = clients[label] = stack.enter_context(Client(cluster))
            client.run(warm_worker, str(files[0]), str(out_root / "warm"))
            result[f"workers_{label}_start_s"] = round(time.perf_counter() - t_start, 2)
            times[label] = []
        # the configurations take turns, so a slow spell of this shared machine hits all of them
        for r in range(rounds):
            t0 = time.perf_counter()
            for f in files:
                process_file(str(f), str(out_root / f"loop{r}"), ["summary"], {})
            times["loop"].append(time.perf_counter() - t0)
            for label, _, _ in configs:
                t0 = time.perf_counter()
                report = run_batch(
                    files,
                    out_root / f"w{label}_{r}",
                    analyses=["summary"],
                    client=clients[label],
                    progress=False,
                )
                times[label].append(time.perf_counter() - t0)
                assert len(report.done) == n_files, report
        for label, client in clients.items():
            memory = client.run(
                lambda: (
                    __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss
                )
            )
            result[f"workers_{label}_peak_mib_per_worker"] = round(max(memory.values()) / 1024, 1)
    median = {label: statistics.median(ts) for label, ts in times.items()}
    for label, ts in times.items():
        key = "loop" if label == "loop" else f"workers_{label}"
        result[f"{key}_s"] = round(median[label], 2)
        result[f"{key}_s_each_round"] = [round(t, 2) for t in ts]
        result[f"{key}_files_per_s"] = round(n_files / median[label], 2)
    result["scaling_1_to_2"] = round(median["1"] / median["2"], 2)
    # per core: each worker one core in both runs (the default single worker parses with both)
    result["scaling_per_core_1_to_2"] = round(median["1c"] / median["2"], 2)
    result["dask_overhead_per_file_vs_loop_percent"] = round(
        100 * (median["1"] / median["loop"] - 1), 1
    )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "batch.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    shutil.rmtree(out_root, ignore_errors=True)
    return result


def _arithmetic(_=None) -> float:
    t0 = time.perf_counter()
    s = 0
    for i in range(5_000_000):
        s += i * i
    return time.perf_counter() - t0


def _memory(_=None) -> float:
    import numpy as np

    t0 = time.perf_counter()
    for _ in range(20):
        a = np.ones(4_000_000)  # fresh pages each time, as a parse's output
        a *= 1.0001
    return time.perf_counter() - t0


def machine_scaling() -> dict:
    """What this machine gives a second process: the same fixed work alone and as two processes
    at once, for pure-Python arithmetic and for filling fresh memory (the reference for the
    batch scaling: reading a cycler file is mostly the latter)."""
    from concurrent.futures import ProcessPoolExecutor

    out = {}
    with ProcessPoolExecutor(2) as pool:
        for name, fn in (("arithmetic", _arithmetic), ("fresh_memory", _memory)):
            list(pool.map(fn, [0, 1]))  # warm
            alone = min(pool.submit(fn).result() for _ in range(3))
            both = min(max(pool.map(fn, [0, 1])) for _ in range(3))
            out[name] = round(2 * alone / both, 2)
    return out


def warm_worker(path: str, out: str) -> None:
    """Import what a task uses by running one (into a scratch folder)."""
    from batteryviz.batch import process_file

    process_file(path, out, ["summary"], {})


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
