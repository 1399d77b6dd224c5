"""Read + CycleSummary against the polars floor, each measurement in a fresh process.

    python benchmarks/bench_read_summary.py            # 1M and 10M rows
    python benchmarks/bench_read_summary.py 1000000    # one size

Floor, parse, read and re-open take turns for three rounds (this machine's speed varies by tens of
per cent from minute to minute); each reports its median round, with every round's work time.

For each size it reports wall time and peak RSS of
  floor    polars.scan_csv + group_by(Cyc-Count) aggregating the capacity counters
  parse    polars.scan_csv of the columns the BaSyTec reader parses at once (what the cycle
           summary needs: taken from the reader itself, with its types), nothing else: what
           parsing alone costs, next to the floor's three columns
  read     bv.read(file) + CycleSummary().compute(ds)
  convert  batteryviz convert file -> .bdf.parquet (once)
  reopen   bv.read(parquet) + CycleSummary
and the in-memory size of the numeric columns, for the memory target (peak < 3x that): both the
whole process's peak and the peak above the process after imports (``work_peak_vs_numeric``; at
1M rows the interpreter and its libraries, ~170 MiB, are as large as the data).
``wall_s`` is the whole process (interpreter start and imports included); ``work_s`` the
measured operation alone, after imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE / "data"

FLOOR = r"""
import polars as pl, sys, time
t0 = time.perf_counter()
df = (pl.scan_csv(sys.argv[1], separator="\t", skip_rows=4, has_header=True, encoding="utf8-lossy")
        .group_by("Cyc-Count").agg(pl.col("Ah-Cyc-Charge-0").max(),
        pl.col("Ah-Cyc-Discharge-0").max()).collect())
assert df.height > 0
print("WORK_S", time.perf_counter() - t0)
"""
# imports happen before the clock starts, as for the floor (polars): the readers and the
# libraries they use are imported on first use, not by `import batteryviz`; xarray imports
# dask.array (when installed) on the first Variable it builds; format detection imports every
# registered reader on its first call
IMPORTS = (
    "import xarray, dask.array, polars, numpy, batteryviz.io.registry, batteryviz.io.basytec, "
    "batteryviz.io.bdf, "
    "batteryviz.analysis.summary\nbatteryviz.io.registry.READERS.by_priority()"
)
READ = (
    r"""
import sys, time, batteryviz as bv
bv.read, bv.CycleSummary  # imports
"""
    + IMPORTS
    + r"""
import resource; print("BASE_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
t0 = time.perf_counter()
ds = bv.read(sys.argv[1]); s = bv.CycleSummary().compute(ds); assert s.sizes["cycle"] > 0
print("WORK_S", time.perf_counter() - t0)
import numpy as np
print("NUMERIC_BYTES", sum(v.nbytes for v in ds.data_vars.values()))
"""
)
PARSE = r"""
import itertools, sys, tempfile, time
import numpy as np, polars as pl
import batteryviz as bv
from batteryviz.io.basytec import COMMANDS, layout
from batteryviz.io.text import read_head
head = read_head(sys.argv[1])
n_header, names, meta, separator, data_lines = layout(head, sys.argv[1])
# the columns the reader parses at once, with their types, as it chooses them on the file's head
with open(sys.argv[1], "rb") as fh, tempfile.NamedTemporaryFile(suffix=".txt") as sample:
    sample.write(b"".join(itertools.islice(fh, n_header + 2000)))
    sample.flush()
    ds = bv.read(sample.name)
needed = {}
for var in ds.data_vars.values():
    column = var.attrs.get("source_column")
    if column and not var.attrs.get("deferred"):
        needed[column] = (pl.Enum(COMMANDS) if column == "Command" else pl.Int64 if
        np.issubdtype(var.dtype, np.integer)
                          else pl.Float64)
t0 = time.perf_counter()
df = pl.scan_csv(sys.argv[1], separator=separator, has_header=False, skip_lines=n_header,
quote_char=None,
                 schema={n: needed.get(n, pl.String) for n in names},
                 encoding="utf8-lossy").select(list(needed)).collect()
assert df.height > 0
print("WORK_S", time.perf_counter() - t0)
"""
CONVERT = r"""
import sys, batteryviz as bv
from batteryviz.export import write_dataset
write_dataset(bv.read(sys.argv[1]), sys.argv[2])
"""
REOPEN = (
    r"""
import sys, time, batteryviz as bv
bv.read, bv.CycleSummary  # imports
"""
    + IMPORTS
    + r"""
t0 = time.perf_counter()
ds = bv.read(sys.argv[1]); s = bv.CycleSummary().compute(ds); assert s.sizes["cycle"] > 0
print("WORK_S", time.perf_counter() - t0)
"""
)


def run(code: str, *args) -> dict:
    wrapper = (
        code + "\nimport resource; print('PEAK_KB', "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *map(str, args)], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - t0
    res = {"wall_s": round(wall, 3)}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "PEAK_KB":
            res["peak_mib"] = round(int(value) / 1024, 1)
        elif key == "BASE_KB":
            res["after_imports_mib"] = round(int(value) / 1024, 1)
        elif key == "WORK_S":
            res["work_s"] = round(float(value), 3)
        elif key == "NUMERIC_BYTES":
            res["numeric_mib"] = round(int(value) / 2**20, 1)
    return res


def bench(n_rows: int) -> dict:
    sys.path.insert(0, str(HERE))
    from generate import generate

    label = f"{n_rows // 1_000_000}M" if n_rows >= 1_000_000 else str(n_rows)
    path = DATA / f"basytec_{label}.txt"
    if not path.exists():
        generate(n_rows, path)
    parquet = DATA / f"basytec_{label}.bdf.parquet"
    result = {"rows": n_rows, "file_mib": round(path.stat().st_size / 2**20, 1), "rounds": ROUNDS}
    result["convert"] = run(CONVERT, path, parquet)
    # floor, read and re-open take turns, so a slow spell of this shared machine hits all
    # three; each is reported by its round of median work time, with every round's work time
    runs = {"floor": [], "parse": [], "read": [], "reopen": []}
    for _ in range(ROUNDS):
        runs["floor"].append(run(FLOOR, path))
        runs["parse"].append(run(PARSE, path))
        runs["read"].append(run(READ, path))
        runs["reopen"].append(run(REOPEN, parquet))
    for key, rounds in runs.items():
        ordered = sorted(rounds, key=lambda r: r["work_s"])
        result[key] = {
            **ordered[len(ordered) // 2],
            "work_s_each_round": [r["work_s"] for r in rounds],
        }
    result["read_vs_floor"] = round(result["read"]["wall_s"] / result["floor"]["wall_s"], 2)
    result["read_vs_floor_work"] = round(result["read"]["work_s"] / result["floor"]["work_s"], 2)
    result["parse_vs_floor_work"] = round(result["parse"]["work_s"] / result["floor"]["work_s"], 2)
    result["reopen_speedup"] = round(result["read"]["wall_s"] / result["reopen"]["wall_s"], 2)
    result["reopen_speedup_work"] = round(result["read"]["work_s"] / result["reopen"]["work_s"], 2)
    result["peak_vs_numeric"] = round(result["read"]["peak_mib"] / result["read"]["numeric_mib"], 2)
    # the memory the work itself takes (the interpreter and the imported libraries excluded)
    result["work_peak_vs_numeric"] = round(
        (result["read"]["peak_mib"] - result["read"]["after_imports_mib"])
        / result["read"]["numeric_mib"],
        2,
    )
    return result


#: Rounds of floor, parse, read and re-open (medians reported).
ROUNDS = 3

if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 10_000_000]
    results = [bench(n) for n in sizes]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "read_summary.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
