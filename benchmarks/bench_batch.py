"""`batteryviz batch` throughput on a LocalCluster with 1 and 2 workers, against a plain loop.

    python benchmarks/bench_batch.py [N_FILES] [ROWS_PER_FILE]     # default 200 files x 100,000 rows

Reports files per second for a plain in-process loop (read + CycleSummary + write) and for
``run_batch`` with 1 and 2 worker processes, the scaling from 1 to 2 workers, the per-file
overhead of the Dask path against the loop (1 worker), and the peak memory of the workers.

Both paths are timed warm: the loop after one file (its imports), the cluster after every
worker has imported what a task uses (``warm_worker``). The one-time start of the cluster
(processes and imports) is reported on its own (``workers_N_start_s``).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(n_files: int = 200, rows: int = 100_000) -> dict:
    sys.path.insert(0, str(HERE))
    from generate import generate
    from distributed import Client

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

    process_file(str(files[0]), str(out_root / "warm"), ["summary"], {})  # imports, as the workers get
    t0 = time.perf_counter()
    for f in files:
        process_file(str(f), str(out_root / "loop"), ["summary"], {})
    loop_s = time.perf_counter() - t0

    result = {"files": n_files, "rows_per_file": rows, "loop_s": round(loop_s, 2), "loop_files_per_s": round(n_files / loop_s, 2)}
    for workers in (1, 2):
        t_start = time.perf_counter()
        # the workers `batteryviz batch` starts (batteryviz.cluster.local_cluster)
        with local_cluster(workers) as cluster, Client(cluster) as client:
            client.run(warm_worker, str(files[0]), str(out_root / "warm"))
            result[f"workers_{workers}_start_s"] = round(time.perf_counter() - t_start, 2)
            t0 = time.perf_counter()
            report = run_batch(files, out_root / f"w{workers}", analyses=["summary"], client=client, progress=False)
            elapsed = time.perf_counter() - t0
            assert len(report.done) == n_files, report
            memory = client.run(lambda: __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss)
            result[f"workers_{workers}_s"] = round(elapsed, 2)
            result[f"workers_{workers}_files_per_s"] = round(n_files / elapsed, 2)
            result[f"workers_{workers}_peak_mib_per_worker"] = round(max(memory.values()) / 1024, 1)
    result["scaling_1_to_2"] = round(result["workers_1_s"] / result["workers_2_s"], 2)
    result["dask_overhead_per_file_vs_loop_percent"] = round(100 * (result["workers_1_s"] / loop_s - 1), 1)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "batch.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    shutil.rmtree(out_root, ignore_errors=True)
    return result


def warm_worker(path: str, out: str) -> None:
    """Import what a task uses by running one (into a scratch folder)."""
    from batteryviz.batch import process_file

    process_file(path, out, ["summary"], {})


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
