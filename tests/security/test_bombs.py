"""Small files that describe huge content are refused before they expand, and inputs that made
a parser super-linear are read in one pass.

Each hostile file is built here (nothing of the kind is shipped). Reading it happens in a child
process whose address space is capped (:data:`CHILD_MEMORY`): a guard that failed would end that
child with a MemoryError, not take the test suite — or the machine — down with it; the child's
peak memory is reported back and checked.
"""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
import textwrap
import zipfile
from contextlib import contextmanager
from pathlib import Path

#: Address-space cap of the child that reads a hostile file (bytes).
CHILD_MEMORY = 6 * 2**30
MiB = 2**20


def _read_in_child(path: Path, *args: str) -> dict:
    """``bv.read(path)`` in a capped child: the error's type and message, and the peak RSS."""
    code = textwrap.dedent(f"""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({CHILD_MEMORY}, {CHILD_MEMORY}))
        import batteryviz as bv
        from batteryviz.errors import BatteryvizError
        out = {{}}
        try:
            bv.read(sys.argv[1]).load()
            out["error"] = None
        except BatteryvizError as exc:
            out["error"], out["message"] = type(exc).__name__, str(exc)
        except MemoryError:
            out["error"] = "MemoryError"
        out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _zip_with(path: Path, members: dict[str, bytes | tuple[bytes, int]]) -> Path:
    """A deflated zip; a member given as ``(block, n)`` is ``block`` written ``n`` times
    (streamed)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, content in members.items():
            if isinstance(content, tuple):
                block, n = content
                with zf.open(name, "w", force_zip64=True) as member:
                    for _ in range(n):
                        member.write(block)
            else:
                zf.writestr(name, content)
    return path


@contextmanager
def _hang_guard(seconds: int):
    """Fail instead of hanging when a supposedly linear parse is not (not a timing assertion)."""

    def stop(*_):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_an_ndax_that_expands_a_thousandfold_is_refused(tmp_path):
    bomb = _zip_with(
        tmp_path / "bomb.ndax",
        {"VersionInfo.xml": b"<x/>", "Step.xml": b"<x/>", "data.ndc": (b"\0" * MiB, 400)},
    )
    assert bomb.stat().st_size < 2 * MiB
    out = _read_in_child(bomb)
    assert out["error"] == "ExpansionError", out
    assert "decompression bomb" in out["message"] and "bomb.ndax" in out["message"]
    assert out["peak_mib"] < 600, out  # refused from the archive's directory, nothing inflated


def test_a_workbook_with_a_huge_shared_strings_table_is_refused(tmp_path):
    workbook = (
        '<workbook><sheets><sheet name="Global_Info" sheetId="1"/>'
        '<sheet name="Channel_1-001" sheetId="2"/></sheets></workbook>'
    ).encode()
    bomb = _zip_with(
        tmp_path / "bomb.xlsx",
        {
            "[Content_Types].xml": b"<Types/>",
            "xl/workbook.xml": workbook,
            "xl/sharedStrings.xml": (b"<si><t>a</t></si>" * 65536, 400),
        },
    )
    out = _read_in_child(bomb)
    assert out["error"] == "ExpansionError", out
    assert out["peak_mib"] < 600, out


def test_detection_reads_a_bounded_part_of_a_huge_workbook_xml(tmp_path):
    import tracemalloc

    from batteryviz.io.tabular import xlsx_sheet_names
    from batteryviz.io.text import read_head

    huge = _zip_with(
        tmp_path / "huge.xlsx",
        {"xl/workbook.xml": (b'<sheet name="S" sheetId="1"/>' + b" " * MiB, 300)},
    )
    tracemalloc.start()
    names = xlsx_sheet_names(read_head(huge))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert names == ["S"] and peak < 16 * MiB, peak  # not the 300 MiB member


def test_a_parquet_file_of_millions_of_constant_rows_is_refused(tmp_path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "bomb.parquet"
    block = pa.table(
        {
            name: np.zeros(1_000_000)
            for name in (
                "test_time_second",
                "voltage_volt",
                "current_ampere",
                "a",
                "b",
                "c",
                "d",
                "e",
            )
        }
    )
    with pq.ParquetWriter(path, block.schema, compression="zstd") as writer:
        for _ in range(
            12
        ):  # 12 M rows × 8 columns: 768 MB in memory from a file of a few hundred KB
            writer.write_table(block)
    assert path.stat().st_size < 2 * MiB
    out = _read_in_child(path)
    assert out["error"] == "ExpansionError" and "12,000,000 rows" in out["message"], out
    assert out["peak_mib"] < 600, out


def test_real_archives_and_tables_are_within_the_limits(real):
    import batteryviz as bv

    for path in [
        real / "neware" / "newarenda_TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax",
        real / "arbin" / "navani_bs542_004_gr_li_50ua_50mv_1v_191020_Channel_11.xlsx",
    ]:
        assert bv.read(path).sizes["record"] > 0


def test_sheet_names_are_found_in_one_pass_of_a_hostile_workbook_xml():
    from batteryviz.io.tabular import sheet_names_of

    hostile = (
        "<sheet " + "a" * 5 + ("<sheet " + "x=" * 3) * 200_000
    )  # no '>' and no name: the old regex backtracked
    with _hang_guard(30):
        assert sheet_names_of(hostile) == []
        assert sheet_names_of(
            '<sheets><sheet name="A&amp;B" sheetId="1"/><sheetView/></sheets>'
        ) == ["A&B"]


def test_an_mpr_with_thousands_of_repeated_column_ids_is_read_in_one_pass():
    from batteryviz.io.biologic_mpr import records

    n = 20_000
    data = struct.pack("<IH", 0, n) + struct.pack(
        f"<{n}H", *([6] * n)
    )  # "Ewe/V" 20,000 times, no records
    with _hang_guard(30):
        arr, _, _ = records(
            data, {"start": 0, "end": len(data), "new_layout": True, "version": 0}, "hostile.mpr"
        )
    assert arr.dtype.names[:3] == ("Ewe/V", "Ewe/V (2)", "Ewe/V (3)") and len(arr.dtype.names) == n


def test_a_csv_of_twenty_thousand_columns_is_stored_without_quadratic_work(tmp_path):
    from batteryviz.store import Workspace

    n = 20_000
    header = ",".join(
        ["Test Time (s)", "Voltage (V)", "Current (A)"] + [f"aux{k}" for k in range(n)]
    )
    rows = [",".join([str(r), "3.5", "0.1" if r < 10 else "-0.1"] + ["1"] * n) for r in range(20)]
    path = tmp_path / "wide.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    with _hang_guard(240):  # 342 s before; seconds now
        record = Workspace(str(tmp_path / "ws"), "alice", seed_examples=False).add(path.name, path)
    assert record.rows == 20
