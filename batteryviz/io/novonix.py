"""Novonix UHPC/HPC CSV exports: ``[Summary]``/``[Protocol]`` sections, then ``[Data]`` and a
header.

``Run Time (h)`` is the test time in hours; the current is positive while charging.
``Capacity (Ah)`` is unsigned and resets every step, so capacities are integrated.
HPC 3.0 files have ``Step Number`` and no ``Step Type``.

Several tests in one file
    A channel restarted after a failed run appends a new ``[Summary]`` … ``[Data]`` block to the
    same file. Each block is one test. ``bv.read(path)`` reads them all into one dataset, in
    file order, with ``test_number`` (1, 2, …) on ``record``: the test time of a later test
    continues from its wall-clock start (``Date and Time``) relative to the first test (from the
    previous test's end when dates cannot be read), the cycler's cycle counter restarting in
    each test is left as written (the cycle rule renumbers a restarting counter), and a warning
    names the tests. ``bv.read(path, test=2)`` reads one test alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from .. import schema
from ..errors import BatteryvizError, MissingColumnError
from .base import apply_column_map, regex_column, require
from .finish import check_memory, finish
from .tabular import TableReader
from .text import Head, read_head, require_text

_c = regex_column


COLUMNS = [
    _c(r"Run Time \(h\)", "test_time_second", scale=3600.0),
    _c(r"Step Time \(h\)", "step_time_second", scale=3600.0),
    _c(r"Cycle Number", "cycle_count", kind="int"),
    _c(r"Step Number", "step_index", kind="int"),
    _c(r"Step Type", "novonix_step_type", kind="int"),
    _c(r"Current \(A\)", "current_ampere"),
    _c(r"Potential \(V\)", "voltage_volt"),
    _c(r"Capacity \(Ah\)", "novonix_step_capacity_ah"),
    _c(r"Energy \(Wh\)", "novonix_step_energy_wh"),
    _c(r"Temperature \(.*C\)", "ambient_temperature_celsius"),
    _c(r"Circuit Temperature \(.*C\)", "circuit_temperature_celsius"),
    _c(r"Power\s*\(W\)", "power_watt"),
]


class NovonixReader(TableReader):
    """Novonix UHPC data files."""

    name = "novonix"
    suffixes = (".csv",)
    description = "Novonix UHPC CSV export"
    priority = 75
    header_pattern = r"^Date and Time,Cycle Number,Step (Type|Number)"
    columns = COLUMNS
    vendor = "novonix"
    text_columns = ("Date and Time",)

    def sniff(self, head: Head) -> bool:
        if head.is_binary or not head.lines:
            return False
        return head.lines[0].strip().startswith("[Summary]") and any(
            ln.startswith("[Data]") for ln in head.lines[:2000]
        )

    def metadata(self, preamble):
        meta = {"cycler": "Novonix"}
        for line in preamble:
            key, sep, value = line.partition(":")
            if sep and len(value) < 200 and key.strip() and not key.startswith("{"):
                meta[key.strip().lower().replace(" ", "_")] = value.strip()
        return meta

    def postprocess(self, data, df, meta, path):
        data.pop("novonix_date_and_time", None)
        if "Date and Time" in df.columns:
            stamps = (
                df["Date and Time"]
                .str.strip_chars()
                .str.strptime(pl.Datetime("us"), "%m/%d/%Y %I:%M:%S %p", strict=False)
            )
            if stamps.null_count() < stamps.len():
                data["unix_time_second"] = (
                    (stamps.dt.epoch("us").cast(pl.Float64) / 1e6).to_numpy(),
                    {
                        "source_column": "Date and Time",
                        "note": "local time of the cycler PC, read as UTC",
                    },
                )

    def read(
        self,
        path,
        *,
        test: int | None = None,
        on_bad_lines: str = "error",
        max_memory_bytes: int | None = None,
        **_,
    ):
        """Read the file (every test in it, or test number ``test``; see the module docstring)."""
        path = Path(path)
        head = read_head(path)
        require_text(head, self.name)
        check_memory(path, head.size * 3, max_memory_bytes)
        lines = path.read_bytes().decode(head.encoding, errors="replace").splitlines()
        starts = [k for k, ln in enumerate(lines) if ln.strip() == "[Summary]"] or [0]
        blocks = []
        for j, start in enumerate(starts):
            stop = starts[j + 1] if j + 1 < len(starts) else len(lines)
            data_at = next((k for k in range(start, stop) if lines[k].strip() == "[Data]"), None)
            if data_at is None or data_at + 1 >= stop:
                raise MissingColumnError(
                    f"test {j + 1} (from line {start + 1}) has no [Data] section with a column "
                    f"line",
                    path=path,
                )
            blocks.append((start, data_at + 1, stop))
        if test is not None and not 1 <= test <= len(blocks):
            raise BatteryvizError(
                f"test={test} was asked for, but the file holds {len(blocks)} test(s)", path=path
            )
        chosen = range(len(blocks)) if test is None else [test - 1]
        parts = []
        for j in chosen:
            start, k, stop = blocks[j]
            rows = None if j == len(blocks) - 1 else stop - k - 1
            df, notes, _, _ = self.load_frame(path, head, on_bad_lines, section=(k, lines[k], rows))
            data = apply_column_map(df, self.columns, path=path, vendor=self.vendor)
            meta = self.metadata(lines[start:k])
            self.postprocess(data, df, meta, path)
            require(data, schema.REQUIRED, path=path, available=df.columns)
            parts.append((data, meta, notes, start))
        data, meta, notes, _ = parts[0]
        if len(parts) > 1:
            data, notes = _join_tests(parts)
            meta["tests"] = len(parts)
            notes.append(
                f"the file holds {len(parts)} tests (a [Summary] block at lines "
                f"{', '.join(str(p[3] + 1) for p in parts)}): read as one, test_number tells them "
                f"apart (test=N reads one)"
            )
        elif len(blocks) > 1:
            meta["test_number"] = test
            notes.append(f"test {test} of the {len(blocks)} tests in the file")
        meta.setdefault("cycler", "Novonix")
        meta["variant"] = f"{'HPC 3.0' if 'novonix_step_type' not in data else 'UHPC'} CSV" + (
            f", {len(blocks)} tests in one file" if len(blocks) > 1 else ""
        )
        return finish(data, meta, path=path, notes=notes, reader=self.name)


def _join_tests(parts: list) -> tuple[dict, list[str]]:
    """Join the tests of one file on ``record`` (module docstring): variables every test has,
    ``test_number``, and a test time that continues across tests."""
    common = [name for name in parts[0][0] if all(name in p[0] for p in parts)]
    offsets, notes = [0.0], []
    for j in range(1, len(parts)):
        prev, cur = parts[j - 1][0], parts[j][0]
        t_prev = prev["test_time_second"][0]
        end = offsets[-1] + (float(np.nanmax(t_prev)) if t_prev.size else 0.0)
        if (
            "unix_time_second" in cur
            and "unix_time_second" in parts[0][0]
            and cur["unix_time_second"][0].size
        ):
            start = float(cur["unix_time_second"][0][0] - parts[0][0]["unix_time_second"][0][0])
            offsets.append(max(start, end))
        else:
            offsets.append(end)
    data = {}
    for name in common:
        arrays = [p[0][name][0] for p in parts]
        if name == "test_time_second":
            arrays = [a + off for a, off in zip(arrays, offsets)]
        attrs = dict(parts[0][0][name][1])
        if "labels" in attrs and len({p[0][name][1].get("labels") for p in parts}) > 1:
            continue  # categorical codes of different vocabularies cannot be joined
        data[name] = (np.concatenate(arrays), attrs)
    data["test_number"] = (
        np.concatenate(
            [
                np.full(p[0]["test_time_second"][0].size, j + 1, dtype=np.int16)
                for j, p in enumerate(parts)
            ]
        ),
        {"long_name": "Test within the file (1 = first)"},
    )
    for p in parts:
        notes.extend(p[2])
    return data, notes
