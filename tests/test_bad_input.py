"""Bad input: each case is a BatteryvizError naming the file, line or column."""

from __future__ import annotations

import numpy as np
import pytest

import batteryviz as bv
from batteryviz import schema
from batteryviz.errors import (
    BatteryvizError,
    BinaryFileError,
    EmptyFileError,
    FileTooLargeError,
    MissingColumnError,
    ParseError,
    TruncatedFileError,
    UnknownFormatError,
)
from batteryviz.quality import warnings_of


@pytest.fixture(scope="module")
def example_lines(example_path):
    return example_path.read_bytes().split(b"\n")


def write(tmp_path, lines, name="cell.txt"):
    p = tmp_path / name
    p.write_bytes(b"\n".join(lines))
    return p


def test_empty_file(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.txt.*0 bytes"):
        bv.read(p)


def test_a_header_only_file_reads_without_records_and_is_not_stored(tmp_path, example_lines):
    from batteryviz.store import Workspace

    p = write(tmp_path, example_lines[:13] + [b""])
    ds = bv.read(p)
    assert ds.sizes["record"] == 0 and "no data rows" in ds.attrs["quality_warnings"]
    assert ds.attrs["reader"] == "basytec" and set(schema.REQUIRED) <= set(ds.data_vars)
    ws = Workspace(str(tmp_path / "ws"), "alice", seed_examples=False)
    with pytest.raises(EmptyFileError, match="no records"):
        ws.add(p.name, p.read_bytes())
    assert ws.cells() == []


def test_truncated_last_line_errors_then_skips_on_request(tmp_path, example_lines):
    lines = example_lines[:200]
    lines[-1] = lines[-1][:30]  # cut in the middle of a row, no final newline
    p = write(tmp_path, lines)
    with pytest.raises(TruncatedFileError) as err:
        bv.read(p)
    assert err.value.line == 200 and "on_bad_lines='skip'" in str(err.value)
    ds = bv.read(p, on_bad_lines="skip")
    assert ds.sizes["record"] == 200 - 13 - 1
    assert any("truncated" in w for w in warnings_of(ds))


def test_binary_file_to_a_text_reader(tmp_path):
    p = tmp_path / "cell.txt"
    p.write_bytes(b"~Resultfile from Basytec\x00\x01\x02" * 50)
    with pytest.raises(BinaryFileError, match="binary"):
        bv.read(p, format="basytec")
    with pytest.raises(UnknownFormatError, match="binary file"):
        bv.read(p)


def test_unknown_format_lists_what_was_tried(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("shopping list\nmilk\neggs\n")
    with pytest.raises(UnknownFormatError) as err:
        bv.read(p)
    for name in ("basytec", "arbin", "biologic", "maccor", "neware", "novonix", "bdf", "generic"):
        assert name in str(err.value)
    assert "notes.txt" in str(err.value)


def test_missing_required_column(tmp_path, example_lines):
    header = example_lines[12].replace(b"\tI[A]", b"\tX[A]")
    p = write(tmp_path, example_lines[:12] + [header] + example_lines[13:100])
    with pytest.raises(MissingColumnError) as err:
        bv.read(p)
    assert err.value.column == "I[A]" and "cell.txt" in str(err.value)


def test_text_in_a_numeric_column_names_line_and_column(tmp_path, example_lines):
    lines = list(example_lines[:100])
    fields = lines[50].split(b"\t")
    fields[8] = b"3.7x"  # U[V]
    lines[50] = b"\t".join(fields)
    p = write(tmp_path, lines)
    with pytest.raises(ParseError) as err:
        bv.read(p)
    assert err.value.line == 51 and err.value.column == "U[V]" and "'3.7x'" in str(err.value)


def test_time_going_backwards_is_kept_and_warned(tmp_path, example_lines):
    lines = list(example_lines[:100])
    lines[60], lines[61] = lines[61], lines[60]
    ds = bv.read(write(tmp_path, lines))
    assert any("time goes backwards 1 time(s)" in w for w in warnings_of(ds))
    t = ds["test_time_second"].values
    assert t[47] > t[48]  # order kept (rows 61/62 of the file are records 47/48)


def test_duplicated_rows_and_nans_are_reported(tmp_path, example_lines):
    lines = list(example_lines[:100])
    lines.insert(70, lines[70])
    fields = lines[80].split(b"\t")
    fields[9] = b"NaN"  # I[A]
    lines[80] = b"\t".join(fields)
    ds = bv.read(write(tmp_path, lines))
    w = "\n".join(warnings_of(ds))
    assert "1 duplicated record(s)" in w and "current_ampere: 1 NaN" in w


def test_mixed_decimal_separators_read(tmp_path, example_lines):
    lines = list(example_lines[:100])
    for k in range(40, 60):
        fields = lines[k].split(b"\t")
        fields[8] = fields[8].replace(b".", b",")
        lines[k] = b"\t".join(fields)
    ds = bv.read(write(tmp_path, lines))
    ref = bv.read(write(tmp_path, example_lines[:100], "ref.txt"))
    np.testing.assert_array_equal(ds["voltage_volt"].values, ref["voltage_volt"].values)


def test_file_too_large_for_memory_is_refused_up_front(example_path):
    with pytest.raises(FileTooLargeError, match="convert"):
        bv.read(example_path, max_memory_bytes=1_000_000)


def test_all_errors_share_one_base_class():
    for cls in (
        EmptyFileError,
        UnknownFormatError,
        BinaryFileError,
        MissingColumnError,
        ParseError,
        TruncatedFileError,
        FileTooLargeError,
    ):
        assert issubclass(cls, BatteryvizError)


def test_wrong_encoding_degree_sign_is_repaired(tmp_path, example_lines):
    # the cp1252 degree sign decoded as UTF-8 replacement characters, as in PyProBE's file
    header = example_lines[12].replace("°".encode("cp1252"), "\ufffd".encode("utf-8"))
    ds = bv.read(write(tmp_path, example_lines[:12] + [header] + example_lines[13:60]))
    assert ds["ambient_temperature_celsius"].attrs["source_column"] == "T1[°C]"


def test_cp1252_header_with_ascii_rows_reads_as_its_utf8_twin(tmp_path, example_lines):
    # the bundled export is cp1252 (°C in the header); its rows are ASCII and go to the parser
    # untranscoded, which must give exactly what the same export saved as UTF-8 gives
    lines = example_lines[:300]
    assert any(b"\xb0" in ln for ln in lines[:20]) and all(ln.isascii() for ln in lines[20:])
    cp = bv.read(write(tmp_path, lines, "cp1252.txt"))
    utf8 = bv.read(
        write(tmp_path, [ln.decode("cp1252").encode("utf-8") for ln in lines], "utf8.txt")
    )
    assert cp["ambient_temperature_celsius"].attrs["source_column"] == "T1[°C]"
    for name in ("test_time_second", "voltage_volt", "current_ampere", "command"):
        np.testing.assert_array_equal(cp[name].values, utf8[name].values)


def test_cp1252_text_in_data_rows_is_decoded(tmp_path, example_lines):
    # a data row holding a non-ASCII cp1252 character: the file is transcoded, not read lossily
    lines = list(example_lines[:300])
    k = next(i for i, ln in enumerate(lines) if ln and not ln.startswith(b"~"))
    fields = lines[k + 5].split(b"\t")
    command_pos = lines[k - 1].split(b"\t").index(b"Command")
    fields[command_pos] = "Ladung-Ä".encode("cp1252")
    lines[k + 5] = b"\t".join(fields)
    ds = bv.read(write(tmp_path, lines))
    assert "Ladung-Ä" in ds["command"].attrs["labels"].split("\t")


def test_counter_columns_written_as_decimals_still_read_as_integers(tmp_path, example_lines):
    # counters (Line, Cyc-Count) are parsed as integers; an export writing them as "4.0" falls
    # back to floats and gives the same integer counters
    lines = list(example_lines[:300])
    k = next(i for i, ln in enumerate(lines) if ln and not ln.startswith(b"~"))
    header = lines[k - 1].split(b"\t")
    positions = [header.index(b"Line"), header.index(b"Cyc-Count")]
    plain = bv.read(write(tmp_path, lines, "plain.txt"))
    for i in range(k, len(lines)):
        if lines[i]:
            fields = lines[i].split(b"\t")
            for pos in positions:
                fields[pos] = fields[pos] + b".0"
            lines[i] = b"\t".join(fields)
    decimals = bv.read(write(tmp_path, lines, "decimals.txt"))
    for name in ("step_index", "cycle_count"):
        assert plain[name].dtype == decimals[name].dtype == np.int64
        np.testing.assert_array_equal(plain[name].values, decimals[name].values)


def test_a_row_longer_than_the_header_names_its_line_then_skips_on_request(tmp_path, example_lines):
    lines = list(example_lines)
    k = 40  # a data row of the BaSyTec export (tab separated)
    lines[k] = lines[k].rstrip(b"\r") + b"\t9.99"
    p = write(tmp_path, lines)
    with pytest.raises(ParseError, match="fields where the header names") as exc:
        bv.read(p)
    assert exc.value.line == k + 1 and str(p) in str(exc.value)
    ds = bv.read(p, on_bad_lines="skip")
    assert (
        ds.sizes["record"]
        == bv.read(write(tmp_path, example_lines, "clean.txt")).sizes["record"] - 1
    )
    assert any("more fields than the header" in w for w in warnings_of(ds))


def test_a_trailing_separator_on_every_line_is_not_a_longer_row(tmp_path):
    rows = ["Test Time (s),Voltage (V),Current (A),"] + [
        f"{t},{3 + t / 100},{0.1 if t < 5 else -0.1}," for t in range(10)
    ]
    p = tmp_path / "trailing.csv"
    p.write_text("\n".join(rows) + "\n")
    assert bv.read(p).sizes["record"] == 10


@pytest.mark.parametrize(
    "reader_file",
    [
        "bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv",
        "maccor/pyprobe_sample_data_maccor.csv",
        "biologic/pyprobe_Sample_data_biologic_01_MB_CA1.txt",
        "novonix/pyprobe_sample_data_novonix.csv",
    ],
)
def test_each_text_reader_refuses_a_longer_row_by_its_line(tmp_path, real, reader_file):
    lines = (real / reader_file).read_bytes().split(b"\n")
    k = len(lines) - 3
    sep = next(s for s in (b"\t", b",", b";") if s in lines[k])
    lines[k] = lines[k].rstrip(b"\r") + sep + b"9.99"
    p = tmp_path / (real / reader_file).name
    p.write_bytes(b"\n".join(lines))
    with pytest.raises(ParseError, match="fields where the header names") as exc:
        bv.read(p)
    assert exc.value.line == k + 1


def test_a_truncated_mpr_is_an_error_wherever_it_is_cut(tmp_path, real):
    data = (real / "biologic" / "bdf_GCPL-0.mpr").read_bytes()
    for cut in range(60, len(data), max(1, len(data) // 40)):
        p = tmp_path / "cut.mpr"
        p.write_bytes(data[:cut])
        with pytest.raises(BatteryvizError, match="truncated|damaged|cut off"):
            bv.read(p)


def test_a_truncated_arbin_res_is_refused_not_read_short(tmp_path, real):
    data = (real / "arbin" / "cellpy_20160805_test001_45_cc_01.res").read_bytes()
    p = tmp_path / "cut.res"
    p.write_bytes(data[: int(len(data) * 0.9)])  # mdb-export alone reads what is left, silently
    with pytest.raises(TruncatedFileError, match="not a whole number of its 4096-byte pages"):
        bv.read(p)


def test_an_arbin_file_named_like_an_option_is_read_as_a_file(tmp_path, real, monkeypatch):
    p = tmp_path / "-V.res"
    p.write_bytes((real / "arbin" / "cellpy_20160805_test001_45_cc_01.res").read_bytes())
    monkeypatch.chdir(tmp_path)
    ds = bv.read("-V.res")  # relative, as a user would type it
    assert ds.sizes["record"] > 1000


def test_a_workbook_with_broken_xml_says_it_is_damaged(tmp_path, real):
    import zipfile

    source = real / "arbin" / "navani_bs542_004_gr_li_50ua_50mv_1v_191020_Channel_11.xlsx"
    p = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            member = zin.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet1"):
                member = member[: len(member) // 2]  # cut inside an element
            zout.writestr(info.filename, member)
    with pytest.raises(ParseError, match="workbook is damaged"):
        bv.read(p)


def test_a_rest_only_file_of_three_rows_stores_converts_and_summarises(tmp_path):
    from batteryviz.analysis.summary import CycleSummary
    from batteryviz.export import write_dataset
    from batteryviz.store import Workspace

    p = tmp_path / "rest.csv"
    p.write_text("Test Time (s),Voltage (V),Current (A)\n0,3.0,0\n1,3.0,0\n2,3.0,0\n")
    record = Workspace(tmp_path / "ws", "someone").add("rest.csv", p)
    assert record.rows == 3 and record.cycles == 0
    out = write_dataset(bv.read(p), tmp_path / "rest.bdf.parquet")
    summary = CycleSummary().compute(bv.read(out))
    assert summary.sizes["cycle"] == 0
    assert (
        summary.attrs["capacity_source"].startswith("none")
        and "no cycles" in summary.attrs["quality_warnings"]
    )
