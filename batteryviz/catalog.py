"""intake 2 catalogs of cells.

A catalog lists cell files with their metadata (format, cycler, test name, start, active mass,
nominal capacity, tags); ``intake`` opens each entry with :class:`BatteryvizReader`, which calls
:func:`batteryviz.read`. The classes are registered with intake through the ``intake.imports``
entry point, and this module imports nothing heavy.

>>> cat = bv.catalog.open_catalog("catalogs/example.yaml")     # doctest: +SKIP
>>> cells = bv.catalog.open_cells(cat, chunks=1_000_000)        # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from intake.readers import datatypes, readers

from .analysis.base import combine  # noqa: F401 - part of this module's API since round one

META_KEYS = (
    "reader",
    "cycler",
    "test_name",
    "cell_name",
    "start_time",
    "channel",
    "active_mass_mg",
    "nominal_capacity_ah",
    "electrode_area_cm2",
    "test_plan",
)


class CyclerFile(datatypes.FileData):
    """A battery cycler export (any format batteryviz reads)."""

    filepattern = "(txt|csv|tsv|xlsx|mpt|mpr|res|nda|ndax|parquet|[0-9]{3})$"
    structure = {"array"}


class BatteryvizReader(readers.BaseReader):
    """Reads a :class:`CyclerFile` into a cell dataset with :func:`batteryviz.read`."""

    implements = {CyclerFile}
    imports = {"batteryviz"}
    output_instance = "xarray:Dataset"

    def _read(self, data, **kw):
        import batteryviz as bv

        url = data.url
        if isinstance(url, str) and url.startswith("file://"):
            url = url[len("file://") :]
        return bv.read(url, **kw)


def _entry_name(rel: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", rel).strip("_").lower()


def build_catalog(
    data_dir: str | os.PathLike, out: str | os.PathLike, tags: list[str] | None = None
):
    """Scan ``data_dir`` (recursively) for cell files and write an intake 2 catalog to ``out``.

    Every file batteryviz recognises becomes an entry whose URL is relative to the catalog
    (``{CATALOG_DIR}``) and whose metadata holds what the file's header says. Files that are not
    cell data are listed in the catalog's metadata under ``skipped`` with the reason.
    """
    from intake.readers.entry import Catalog

    import batteryviz as bv

    data_dir, out = Path(data_dir).resolve(), Path(out).resolve()
    cat = Catalog(metadata={"description": f"cells under {data_dir.name}", "skipped": {}})
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        rel = os.path.relpath(path, out.parent)
        try:
            ds = bv.read(path)
        except Exception as exc:
            cat.metadata["skipped"][os.path.relpath(path, data_dir)] = (
                f"{type(exc).__name__}: {str(exc)[:200]}"
            )
            continue
        meta = {
            k: (v.item() if hasattr(v, "item") else v)
            for k, v in ds.attrs.items()
            if k in META_KEYS
        }
        meta.update(
            records=int(ds.sizes.get("record", 0)),
            file=os.path.relpath(path, data_dir),
            tags=list(tags or []) + [meta.get("reader", "")],
        )
        cat[_entry_name(os.path.relpath(path, data_dir))] = BatteryvizReader(
            CyclerFile(url="{CATALOG_DIR}/" + rel.replace(os.sep, "/"), metadata=meta)
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    cat.to_yaml_file(str(out))
    return cat


def open_catalog(path: str | os.PathLike):
    """Open an intake 2 catalog (YAML) of cells."""
    import intake

    return intake.from_yaml_file(str(path))


def cell_names(cat) -> list[str]:
    """Names of the catalog's entries (intake 2 iterates over aliases, not entries)."""
    return list(cat.entries)


#: Records per chunk with ``chunks="auto"``: about 100 MB of float64 over a dozen variables.
AUTO_CHUNK_RECORDS = 1_000_000


def open_cells(cat, names: list[str] | None = None, chunks: int | str | None = None) -> dict:
    """Read the catalog's cells: ``{name: dataset}``.

    With ``chunks`` (records per chunk, or ``"auto"``: :data:`AUTO_CHUNK_RECORDS`) every dataset
    is Dask-backed and chunked on whole cycles, so the analyses stay lazy
    (:func:`batteryviz.chunking.chunk_by_cycle`). Pass the mapping to an analysis's ``compute``
    to get all cells on a ``cell`` dimension.
    """
    from .chunking import chunk_by_cycle

    if chunks == "auto":
        chunks = AUTO_CHUNK_RECORDS
    elif chunks is not None and (not isinstance(chunks, int) or chunks < 1):
        raise ValueError(f"chunks must be a positive number of records or 'auto', not {chunks!r}")
    out = {}
    for name in names or cell_names(cat):
        ds = cat[name].read()
        ds.attrs["cell"] = name
        out[name] = chunk_by_cycle(ds, records_per_chunk=chunks) if chunks else ds
    return out
