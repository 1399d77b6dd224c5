"""Batch jobs: chosen analyses over many cell files on a Dask cluster.

* One task per file (read, analyse, write); tasks are retried when a worker dies.
* One bad file never stops the batch: its error is reported (``errors.csv``: file and reason).
* Results are written atomically per cell (``<cell>/<analysis>.nc``) with a ``done.json``
  written last that records the input file's SHA-256 and the analysis parameters; a re-run
  skips every cell whose ``done.json`` matches, so no work is repeated.
* A combined per-cycle summary of all cells goes to ``summary.csv`` (a ``cell`` column first).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path


def file_checksum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def cell_name(path: Path) -> str:
    return path.name.replace(".", "_")


@dataclass
class BatchReport:
    """What a batch did: cells computed, skipped (already done) and failed (with reasons)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"{len(self.done)} computed, {len(self.skipped)} already done, "
            f"{len(self.failed)} failed"
        )


def _params_key(analyses: list[str], params: dict) -> str:
    return json.dumps({"analyses": sorted(analyses), "params": params}, sort_keys=True, default=str)


def process_file(
    path: str, out_dir: str, analyses: list[str], params: dict, delay_s: float = 0.0
) -> dict:
    """Read one file, run the analyses and write the results (runs on a worker)."""
    import time

    import batteryviz as bv
    from batteryviz.analysis.registry import ANALYSES
    from batteryviz.export import atomic_path, storable

    if delay_s:
        time.sleep(delay_s)  # lets tests stop a worker while a task is running
    src = Path(path)
    cell_dir = Path(out_dir) / cell_name(src)
    cell_dir.mkdir(parents=True, exist_ok=True)
    checksum = file_checksum(src)
    ds = bv.read(src)
    written = {}
    tables = {}
    for name in analyses:
        analysis = ANALYSES[name](**params.get(name, {}))
        result = analysis.compute(ds)
        if analysis.batch_table:
            tables[name] = _main_table(analysis, result)
        target = cell_dir / f"{name}.nc"
        with atomic_path(target) as tmp:
            _write_netcdf(storable(result), tmp)
        written[name] = str(target)
    done = {
        "file": str(src),
        "sha256": checksum,
        "key": _params_key(analyses, params),
        "results": written,
        "batteryviz_version": bv.__version__,
    }
    with atomic_path(cell_dir / "done.json") as tmp:
        Path(tmp).write_text(json.dumps(done, indent=2))
    if tables:
        done["tables"] = tables  # sent back so the driver need not re-read them
    return done


def _main_table(analysis, result):
    """The analysis's main table of a result (what its CSV download holds)."""
    return next(iter(analysis.tables(result).values()))


def _write_netcdf(ds, path) -> None:
    """Per-cell results are small, so they are serialised in memory and written in one go.

    (Writing to a path from inside a Dask worker makes xarray take a *distributed* lock around
    every file access — hundreds of round trips to the scheduler per file.)
    """
    from .export import netcdf_bytes

    Path(path).write_bytes(netcdf_bytes(ds))


def is_done(path: Path, out_dir: Path, analyses: list[str], params: dict) -> bool:
    marker = out_dir / cell_name(path) / "done.json"
    if not marker.exists():
        return False
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return done.get("key") == _params_key(analyses, params) and done.get("sha256") == file_checksum(
        path
    )


def run_batch(
    files,
    out_dir,
    analyses=("summary",),
    params: dict | None = None,
    client=None,
    retries: int = 3,
    progress: bool = True,
    delay_s: float = 0.0,
) -> BatchReport:
    """Run ``analyses`` over ``files`` on a Dask cluster; see the module docstring.

    Parameters
    ----------
    files
        Paths of cell files.
    out_dir
        Results folder (created).
    analyses
        Registered analysis names (``batteryviz.analysis.registry.ANALYSES``).
    params
        Parameters per analysis: ``{"summary": {"active_mass_mg": 2.1}}``.
    client
        A :class:`distributed.Client`; default :func:`batteryviz.cluster.get_client`.
    retries
        How often a task is re-run when its worker dies.
    """
    from distributed import as_completed

    from .analysis.registry import ANALYSES
    from .cluster import get_client

    params = params or {}
    analyses = list(analyses)
    unknown = [a for a in analyses if a not in ANALYSES]
    if unknown:
        raise ValueError(
            f"unknown analysis {', '.join(unknown)}; registered: {', '.join(ANALYSES)}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [Path(f) for f in files]
    report = BatchReport()
    tables: dict = {}
    todo = []
    for f in files:
        (report.skipped if is_done(f, out, analyses, params) else todo).append(f)
    report.skipped = [str(f) for f in report.skipped]
    own_client = client is None
    client = client or get_client()
    try:
        # the task key hashes the arguments (file, folder, analyses, parameters): the same
        # work submitted twice is one task, different work never shares a key
        futures = {
            client.submit(
                process_file, str(f), str(out), analyses, params, delay_s, retries=retries
            ): f
            for f in todo
        }
        bar = None
        if progress and futures:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(futures), desc="cells", unit="cell")
        for future in as_completed(futures):
            f = futures[future]
            try:
                done = future.result()
                report.done.append(str(f))
                for name, table in done.get("tables", {}).items():
                    tables.setdefault(name, {})[str(f)] = table
            except Exception as exc:  # one bad file never stops the batch
                report.failed[str(f)] = f"{type(exc).__name__}: {exc}"
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    finally:
        if own_client:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()
    _write_reports(out, files, report, tables, analyses)
    return report


def _write_reports(
    out: Path,
    files: list[Path],
    report: BatchReport,
    tables_done: dict | None = None,
    analyses=("summary",),
) -> None:
    """``errors.csv``, and for each analysis that declares ``batch_table`` its main table of
    every cell in ``<name>.csv`` (from the tables the tasks sent back, or from the stored
    result of a cell done earlier)."""
    import pandas as pd
    import xarray as xr

    from .analysis.registry import ANALYSES
    from .export import atomic_path

    with atomic_path(out / "errors.csv") as tmp:
        pd.DataFrame(sorted(report.failed.items()), columns=["file", "reason"]).to_csv(
            tmp, index=False
        )
    tables_done = tables_done or {}
    for name in analyses:
        analysis = ANALYSES[name]()
        if not analysis.batch_table:
            continue
        tables = []
        for f in files:
            nc = out / cell_name(f) / f"{name}.nc"
            if str(f) in tables_done.get(name, {}):
                table = tables_done[name][str(f)].copy()
            elif nc.exists() and str(f) not in report.failed:
                with xr.open_dataset(nc) as stored:
                    table = _main_table(analysis, stored.load())
            else:
                continue
            table.insert(0, "cell", cell_name(f))
            tables.append(table)
        if tables:
            with atomic_path(out / f"{name}.csv") as tmp:
                pd.concat(tables, ignore_index=True).to_csv(tmp, index=False)
