"""Reading the whole 59-file public corpus (``tests/data/corpus``), and the corpus table.

    python benchmarks/bench_corpus.py [ROUNDS] [--table]     # default 3 rounds

Each round reads every file of ``expected.csv`` with ``bv.read`` (detection, parsing, the
plausibility gate), in one process after one warm-up pass (imports, first-use compilation).
Reports the median wall time of a whole pass, the slowest files, and with ``--table`` a
Markdown table of file, reader, variant, rows, cycles and warnings (refused files with the
error's class), as in the issue's closing note.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus"


def one_pass(rows: list[dict]) -> tuple[float, dict[str, float], dict[str, object]]:
    import batteryviz as bv
    from batteryviz.errors import BatteryvizError

    per_file: dict[str, float] = {}
    results: dict[str, object] = {}
    start = time.perf_counter()
    for row in rows:
        t0 = time.perf_counter()
        try:
            results[row["path"]] = bv.read(CORPUS / row["path"])
        except BatteryvizError as exc:
            results[row["path"]] = exc
        per_file[row["path"]] = time.perf_counter() - t0
    return time.perf_counter() - start, per_file, results


def table(rows: list[dict], results: dict[str, object]) -> str:
    from batteryviz.analysis.summary import CycleSummary
    from batteryviz.errors import BatteryvizError
    from batteryviz.quality import warnings_of

    lines = [
        "| file | reader | variant | rows | cycles (summary) | warnings |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        ds = results[row["path"]]
        if isinstance(ds, Exception):
            lines.append(
                f"| {row['path']} | refused: {type(ds).__name__} | "
                f"{str(ds).split(': ', 1)[-1][:80]} | | | |"
            )
            continue
        cycles = ""
        if "frequency_hertz" not in ds and ds.sizes.get("record", 0):
            try:  # the cycles the summary finds (the cycler's counter where it has one)
                cycles = str(CycleSummary().compute(ds).sizes["cycle"])
            except BatteryvizError as exc:
                cycles = f"none ({type(exc).__name__})"
        warn = "; ".join(w[:70] for w in warnings_of(ds))
        lines.append(
            f"| {row['path']} | {ds.attrs['reader']} | {ds.attrs.get('variant', '')[:60]} | "
            f"{ds.sizes.get('record', 0):,} | {cycles} | {warn} |"
        )
    return "\n".join(lines)


def main(rounds: int = 3, with_table: bool = False) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    rows = list(csv.DictReader(open(CORPUS / "expected.csv", encoding="utf-8")))
    one_pass(rows)  # warm-up
    times, slowest = [], {}
    for _ in range(rounds):
        total, per_file, results = one_pass(rows)
        times.append(total)
        for k, v in per_file.items():
            slowest[k] = min(v, slowest.get(k, v))
    out = {
        "files": len(rows),
        "bytes": sum((CORPUS / r["path"]).stat().st_size for r in rows),
        "refused": sum(isinstance(v, Exception) for v in results.values()),
        "pass_s_median": round(statistics.median(times), 3),
        "pass_s_each": [round(t, 3) for t in times],
        "slowest_files_s": {
            k: round(v, 3) for k, v in sorted(slowest.items(), key=lambda kv: -kv[1])[:5]
        },
    }
    print(json.dumps(out, indent=2))
    if with_table:
        print(table(rows, results))
    return out


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 3, "--table" in sys.argv)
