"""The last steps every reader shares: memory guard, dataset assembly, record-level checks."""

from __future__ import annotations

import os
from pathlib import Path

from .. import schema
from ..errors import FileTooLargeError
from ..quality import record_checks as record_quality

#: Parsed size relative to the text size, measured on BaSyTec exports (about 9 bytes of text
#: per float64 value, 8 bytes in memory, plus polars' parse buffers).
PARSED_SIZE_FACTOR = 2.0


def available_memory() -> int:
    """Bytes of memory available to this process now."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # pragma: no cover
        return 1 << 62


def check_memory(path, size: int, max_memory_bytes: int | None) -> None:
    """Refuse to parse a file whose in-memory form would not fit, before trying.

    The error says how to proceed: convert the file in a streaming pass, which never holds it
    in memory whole.
    """
    limit = available_memory() if max_memory_bytes is None else int(max_memory_bytes)
    need = int(size * PARSED_SIZE_FACTOR)
    if need > limit:
        raise FileTooLargeError(
            f"reading this {size / 2**20:.0f} MiB file needs about {need / 2**20:.0f} MiB of memory "
            f"but only {limit / 2**20:.0f} MiB are available. Convert it once in a streaming pass "
            f"(`batteryviz convert {Path(path).name} -o cell.bdf.parquet`) and read the parquet "
            "file lazily, or run on a machine with more memory",
            path=path,
        )


def finish(data: dict, metadata: dict, *, path, notes: list[str], reader: str, record_checks: bool = True):
    """Build the cell dataset, record provenance and attach record-level quality warnings
    (``record_checks=False``: the metadata carries them already, from the file's first reading)."""
    metadata = {k: v for k, v in metadata.items() if v not in (None, "")}
    metadata["source_file"] = os.path.basename(str(path))
    metadata["reader"] = reader
    ds = schema.build_dataset(data, metadata)
    schema.validate(ds, path=path)
    if record_checks:
        warnings = list(notes) + (record_quality(ds) if all(n in ds for n in schema.REQUIRED) else [])
    else:
        warnings = [w for w in [ds.attrs.get("quality_warnings", "")] + list(notes) if w]
    if warnings:
        ds.attrs["quality_warnings"] = "\n".join(warnings)
    return ds
