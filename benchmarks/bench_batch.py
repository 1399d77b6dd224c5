"""`batteryviz batch` throughput on a LocalCluster with 1 and 2 workers, against a plain loop.

    python benchmarks/bench_batch.py [N_FILES] [ROWS_PER_FILE]     # default 200 files x 100,000 rows

Reports files per second for a plain in-process loop (read + CycleSummary + write) and for
``run_batch`` with 1 and 2 worker processes, the scaling from 1 to 2 workers, the per-file
overhead of the Dask path against the loop (1 worker), and the peak memory of the workers.
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
    from distributed import Client, LocalCluster

    from batteryviz.batch import process_file, run_batch

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

    t0 = time.perf_counter()
    for f in files:
        process_file(str(f), str(out_root / "loop"), ["summary"], {})
    loop_s = time.perf_counter() - t0

    result = {"files": n_files, "rows_per_file": rows, "loop_s": round(loop_s, 2), "loop_files_per_s": round(n_files / loop_s, 2)}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster) as client:
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


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
