"""Generate large BaSyTec-format exports for the benchmarks (23 columns, 1 s sampling).

    python benchmarks/generate.py 1000000 benchmarks/data/basytec_1M.txt

Each cycle: CC charge, rest, CC discharge, rest, ~10,000 rows, with the counters a BaSyTec
export carries. The numbers are plausible, not a simulation: this file measures speed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

COLUMNS = [
    "~Time[h]",
    "DataSet",
    "DateTime",
    "t-Step[h]",
    "t-Set[h]",
    "t-Cyc[h]",
    "Line",
    "Command",
    "U[V]",
    "I[A]",
    "Ah[Ah]",
    "Ah-Cyc-Charge-0",
    "Ah-Cyc-Discharge-0",
    "Ah-Step",
    "Ah-Set",
    "Ah-Ch-Set",
    "Ah-Dis-Set",
    "Wh[Wh/kg]",
    "T1[°C]",
    "R-DC",
    "Cyc-Count",
    "Count",
    "State",
]


def generate(n_rows: int, path: Path, rows_per_cycle: int = 10_000, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    k = np.arange(n_rows)
    cycle = k // rows_per_cycle + 1
    phase_pos = (k % rows_per_cycle) / rows_per_cycle
    phase = np.select([phase_pos < 0.45, phase_pos < 0.5, phase_pos < 0.95], [1, 0, 2], 0)
    current = np.where(phase == 1, 1.0, np.where(phase == 2, -1.0, 0.0)) + rng.normal(
        0, 1e-4, n_rows
    ) * (phase > 0)
    t = k.astype(float)  # seconds
    soc = np.where(
        phase == 1,
        phase_pos / 0.45,
        np.where(
            phase == 0,
            np.where(phase_pos < 0.5, 1.0, 0.0),
            np.where(phase == 2, 1 - (phase_pos - 0.5) / 0.45, 0.0),
        ),
    )
    u = 3.0 + 1.2 * soc + 0.05 * current + rng.normal(0, 4e-4, n_rows)
    dq = current / 3600.0
    ah = np.cumsum(dq)
    cyc_start = (cycle - 1) * rows_per_cycle
    ch = np.cumsum(np.where(dq > 0, dq, 0))
    dis = np.cumsum(np.where(dq < 0, -dq, 0))
    ch_cyc = ch - ch[cyc_start]
    dis_cyc = dis - dis[cyc_start]
    line = np.select([phase == 1, phase == 2], [4, 6], 5)
    command = np.array(["Pause", "Charge", "Discharge"])[phase]
    df = pl.DataFrame(
        {
            "~Time[h]": t / 3600,
            "DataSet": k + 1,
            "DateTime": "05.05.2025 14:36:06",
            "t-Step[h]": (t % 3600) / 3600,
            "t-Set[h]": t / 3600,
            "t-Cyc[h]": (t - cyc_start) / 3600,
            "Line": line,
            "Command": command,
            "U[V]": u,
            "I[A]": current,
            "Ah[Ah]": ah,
            "Ah-Cyc-Charge-0": ch_cyc,
            "Ah-Cyc-Discharge-0": dis_cyc,
            "Ah-Step": ah,
            "Ah-Set": ah,
            "Ah-Ch-Set": ch,
            "Ah-Dis-Set": dis,
            "Wh[Wh/kg]": ah * 3.7 / 0.1,
            "T1[°C]": 25 + rng.normal(0, 0.03, n_rows),
            "R-DC": np.zeros(n_rows),
            "Cyc-Count": cycle,
            "Count": np.ones(n_rows, dtype=np.int64),
            "State": np.ones(n_rows, dtype=np.int64),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [
        "~Resultfile from Basytec Battery Test System",
        "~Name of Test: benchmark",
        "~Start of Test: 05.05.2025 14:36:06",
        "~",
    ]
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("cp1252"))
        fh.write(("\t".join(COLUMNS) + "\n").encode("cp1252"))
        df.write_csv(fh, separator="\t", include_header=False, float_precision=6)
    return path


if __name__ == "__main__":
    generate(int(sys.argv[1]), Path(sys.argv[2]))
