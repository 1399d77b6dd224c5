"""dQ/dU with peaks for every cycle of the large BaSyTec benchmark file.

    python benchmarks/bench_dqdu.py [N_ROWS]      # default 10,000,000 rows (~1,000 cycles)

Reports the time of ``DifferentialCapacity().compute(ds)`` (cycle rule included, reading
excluded) for both directions of every cycle, after reading the file once.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(n_rows: int = 10_000_000) -> dict:
    sys.path.insert(0, str(HERE))
    from generate import generate

    import batteryviz as bv
    from batteryviz.analysis.dqdu import DifferentialCapacity

    label = f"{n_rows // 1_000_000}M"
    path = HERE / "data" / f"basytec_{label}.txt"
    if not path.exists():
        generate(n_rows, path)
    ds = bv.read(path)
    t0 = time.perf_counter()
    result = DifferentialCapacity().compute(ds)
    elapsed = time.perf_counter() - t0
    n_peaks = int(sum(result[f"{d}_peak_voltage"].notnull().sum() for d in ("charge", "discharge")))
    out = {
        "rows": n_rows,
        "cycles": int(result.sizes["cycle"]),
        "half_cycles": 2 * int(result.sizes["cycle"]),
        "peaks": n_peaks,
        "seconds": round(elapsed, 3),
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "dqdu.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
