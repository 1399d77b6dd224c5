"""Rows per second of the binary readers, next to the library or tool each one wraps.

    python benchmarks/bench_binary.py

Files: the real binary fixtures in tests/data/real. Each figure is the best of 5 runs in this
process (after one warm-up), so imports are not counted.

* ``neware_nda``: ``bv.read`` vs ``fastnda.read`` alone (what the reader wraps);
* ``arbin_res``: ``bv.read`` vs ``mdb-export`` of the record table alone;
* ``biologic_mpr``: ``bv.read`` (our parser) vs galvani's ``MPRfile`` when galvani happens to be
  installed (it is GPL and never a dependency of batteryviz).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import batteryviz as bv

REAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "real"
FILES = {
    "neware_nda": [
        REAL / "neware" / "newarenda_TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax",
        REAL / "neware" / "newarenda_TestFile.nda",
    ],
    "arbin_res": [REAL / "arbin" / "cellpy_20160805_test001_45_cc_01.res"],
    "biologic_mpr": [
        REAL / "biologic" / "navani_jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr",
        REAL / "biologic" / "cellpy_biol.mpr",
    ],
}


def best(fn, n=5):
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    rows = []
    for reader, paths in FILES.items():
        for path in paths:
            n = bv.read(path).sizes["record"]
            ours = best(lambda: bv.read(path))
            row = {
                "reader": reader,
                "file": path.name,
                "rows": n,
                "batteryviz_s": round(ours, 4),
                "batteryviz_rows_per_s": round(n / ours),
            }
            if reader == "neware_nda":
                import fastnda

                lib = best(lambda: fastnda.read(path, cycle_mode="raw"))
                row.update(
                    wrapped="fastnda.read",
                    wrapped_s=round(lib, 4),
                    wrapped_rows_per_s=round(n / lib),
                )
            elif reader == "arbin_res" and shutil.which("mdb-export"):
                lib = best(
                    lambda: subprocess.run(
                        ["mdb-export", str(path), "Channel_Normal_Table"],
                        capture_output=True,
                        check=True,
                    )
                )
                row.update(
                    wrapped="mdb-export Channel_Normal_Table",
                    wrapped_s=round(lib, 4),
                    wrapped_rows_per_s=round(n / lib),
                )
            elif reader == "biologic_mpr":
                try:
                    from galvani import BioLogic  # optional, GPL: only for comparison
                except ImportError:
                    row.update(wrapped="(none: own parser; galvani not installed)")
                else:
                    lib = best(lambda: BioLogic.MPRfile(str(path)))
                    row.update(
                        wrapped="galvani MPRfile",
                        wrapped_s=round(lib, 4),
                        wrapped_rows_per_s=round(n / lib),
                    )
            rows.append(row)
            print(json.dumps(row))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "binary.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
