"""The last steps every reader shares: memory guard, dataset assembly, record-level checks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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
            f"reading this {size / 2**20:.0f} MiB file needs about {need / 2**20:.0f} MiB of "
            f"memory "
            f"but only {limit / 2**20:.0f} MiB are available. Convert it once in a streaming pass "
            f"(`batteryviz convert {Path(path).name} -o cell.bdf.parquet`) and read the parquet "
            "file lazily, or run on a machine with more memory",
            path=path,
        )


#: Share of a file's charge and discharge records whose current must have the opposite sign
#: to its step names before the current is taken as written the other way round.
SIGN_AGAINST_STEPS = 0.95


def reconcile_current_sign(data: dict, notes: list[str]) -> None:
    """Make the current positive on charge when the file's own step names say it is not.

    Some exports (a BDF-style CSV from a simulation tool, re-saved cycler files) write the
    current positive on discharge while naming their steps. When at least
    :data:`SIGN_AGAINST_STEPS` of the records on charge and discharge steps with a current
    carry the sign opposite to their step, the current is negated and the dataset says so;
    a mixed picture is left alone (the cycle rule trusts the step names either way)."""
    if "step_type" not in data or "current_ampere" not in data:
        return
    st = np.asarray(
        data["step_type"][0] if isinstance(data["step_type"], tuple) else data["step_type"]
    )
    i, attrs = (
        data["current_ampere"]
        if isinstance(data["current_ampere"], tuple)
        else (data["current_ampere"], {})
    )
    i = np.asarray(i, dtype=float)
    if st.shape != i.shape:
        return
    with np.errstate(invalid="ignore"):
        charge = (st == schema.STEP_TYPES["charge"]) & (np.abs(i) > 0)
        discharge = (st == schema.STEP_TYPES["discharge"]) & (np.abs(i) > 0)
        n = int(charge.sum() + discharge.sum())
        against = int((i[charge] < 0).sum() + (i[discharge] > 0).sum())
    if n >= 10 and against >= SIGN_AGAINST_STEPS * n:
        data["current_ampere"] = (
            -i,
            {
                **attrs,
                "note": "sign flipped on reading: the file's current is positive on its discharge "
                "steps",
            },
        )
        notes.append(
            f"current_ampere: negated on reading — {against} of {n} records on charge and "
            f"discharge "
            "steps had the sign opposite to their step name (the file writes discharge positive)"
        )


def finish(
    data: dict, metadata: dict, *, path, notes: list[str], reader: str, record_checks: bool = True
):
    """Build the cell dataset, record provenance and attach record-level quality warnings
    (``record_checks=False``: the metadata carries them already, from the file's first reading)."""
    notes = list(notes)
    reconcile_current_sign(data, notes)
    metadata = {k: v for k, v in metadata.items() if v not in (None, "")}
    metadata["source_file"] = os.path.basename(str(path))
    metadata["reader"] = reader
    ds = schema.build_dataset(data, metadata)
    schema.validate(ds, path=path)
    if record_checks:
        warnings = list(notes) + (
            record_quality(ds) if all(n in ds for n in schema.REQUIRED) else []
        )
    else:
        warnings = [w for w in [ds.attrs.get("quality_warnings", "")] + list(notes) if w]
    if warnings:
        ds.attrs["quality_warnings"] = "\n".join(warnings)
    return ds
