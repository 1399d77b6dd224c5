"""Impedance-analyser text exports (batteryviz/io/eis_formats.py): Gamry .DTA, ZPlot .z,
Z60W (Autolab FRA) and PARSTAT, on the public impedance.py example files of the corpus.

Expected values were read from the raw files with a text editor (the line is named in each
case; line numbers are 1-based) and agree with what impedance.py's own tests assert
(tests/data/corpus/MANIFEST.md, section "EIS").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import batteryviz as bv
from batteryviz.errors import BatteryvizError, EmptyFileError, ParseError, TruncatedFileError
from batteryviz.io.registry import detect

from .conftest import DATA

EIS = DATA / "corpus" / "eis"
GAMRY = EIS / "impedancepy_exampleDataGamry.DTA"
AUTOLAB = EIS / "impedancepy_exampleDataAutolab.txt"
ZPLOT = EIS / "impedancepy_exampleDataZPlot.z"
PARSTAT = EIS / "impedancepy_exampleDataParstat.txt"


def spectrum(ds):
    f = ds["frequency_hertz"].values
    z = ds["real_impedance_ohm"].values + 1j * ds["imaginary_impedance_ohm"].values
    return f, z


def lines_of(path: Path) -> list[bytes]:
    """The file's lines as bytes (all four files end lines with LF)."""
    return path.read_bytes().split(b"\n")


def write(tmp_path: Path, name: str, lines: list[bytes], newline_at_end: bool = True) -> Path:
    p = tmp_path / name
    p.write_bytes(b"\n".join(lines) + (b"\n" if newline_at_end else b""))
    return p


def replace_field(line: bytes, index: int, value: bytes, sep: bytes) -> bytes:
    fields = line.split(sep)
    fields[index] = value
    return sep.join(fields)


# --- the four files ----------------------------------------------------------------------------


def test_gamry_dta_reads_the_zcurve_table():
    ds = bv.read(GAMRY)
    assert ds.attrs["reader"] == "gamry"
    f, z = spectrum(ds)
    assert ds.sizes["record"] == 72
    # line 449 (first ZCURVE row): Pt 0, Time 1, Freq 200015.6, Zreal 825.8584, Zimag -1367.239
    assert f[0] == pytest.approx(200015.6) and z[0] == pytest.approx(825.8584 - 1367.239j)
    # line 520 (last row): Freq 0.0158898, Zreal 17007.49, Zimag -6635.557, Vdc -0.3411888
    assert f[-1] == pytest.approx(0.0158898) and z[-1] == pytest.approx(17007.49 - 6635.557j)
    assert ds["voltage_volt"].values[-1] == pytest.approx(-0.3411888)
    # Gamry writes Zimag signed: a capacitive point (Zphz -58.9 deg) stays negative
    assert ds["imaginary_impedance_ohm"].values[0] < 0 and ds["phase_angle_degree"].values[0] < 0
    assert {"test_time_second", "current_ampere", "absolute_impedance_ohm"} <= set(ds.data_vars)
    # header tags (lines 3-15, 388)
    assert ds.attrs["technique"] == "EISPOT" and ds.attrs["title"] == "Potentiostatic EIS"
    assert ds.attrs["date"] == "4/23/2018" and ds.attrs["time"] == "16:43:15"
    assert ds.attrs["dc_potential_volt"] == pytest.approx(-0.05)
    assert ds.attrs["dc_potential_versus"] == "open circuit"
    assert ds.attrs["electrode_area_cm2"] == pytest.approx(1.0)
    assert ds.attrs["open_circuit_potential_volt"] == pytest.approx(-0.2919803)


def test_autolab_z60w_file():
    ds = bv.read(AUTOLAB)
    assert ds.attrs["reader"] == "autolab"
    f, z = spectrum(ds)
    assert ds.sizes["record"] == 41
    # line 12: 10000,0,0,0,0.013785863964281,0.007191946305823,0,0,0 (Freq, …, Z'(a), Z''(b), …)
    assert f[0] == pytest.approx(10000.0) and z[0] == pytest.approx(
        0.013785863964281 + 0.007191946305823j
    )
    # line 52 (last): 0.1,0,0,0,0.0345697771923854,-0.00390292888845954,0,0,0
    assert f[-1] == pytest.approx(0.1) and z[-1] == pytest.approx(
        0.0345697771923854 - 0.00390292888845954j
    )
    assert z[-1].imag < 0  # the capacitive low-frequency point keeps its sign (Z''(b) is signed)
    assert "quality_warnings" not in ds.attrs  # line 10 announces 41 points, 41 are there


def test_zplot_file_and_its_short_sweep():
    ds = bv.read(ZPLOT)
    assert ds.attrs["reader"] == "zplot"
    f, z = spectrum(ds)
    assert ds.sizes["record"] == 21
    # line 124 (first after End Comments): 3.000000E+05 … 1.4777E+02 -1.1335E+01 …
    assert f[0] == pytest.approx(3.0e5) and z[0] == pytest.approx(147.77 - 11.335j)
    # line 144 (last): 3.000000E+03 … 6.1368E+02 -1.3713E+02 …
    assert f[-1] == pytest.approx(3.0e3) and z[-1] == pytest.approx(613.68 - 137.13j)
    assert (z.imag < 0).all()  # a capacitive spectrum: Z''(b) negative throughout
    assert ds.attrs["software"] == "ZPlot 3.2c" and ds.attrs["date"] == "10-12-2018"
    # line 121 announces 56 points; the sweep stopped after 21
    assert "56" in ds.attrs["quality_warnings"] and "21" in ds.attrs["quality_warnings"]


def test_parstat_keeps_the_sweep_and_drops_the_dc_records():
    ds = bv.read(PARSTAT)
    assert ds.attrs["reader"] == "parstat"
    f, z = spectrum(ds)
    assert ds.sizes["record"] == 31 and (f > 0).all()
    # line 783 (first row with a frequency): 3.50029…, 0.02457…, 7639.602, 10000,
    # Zre -0.00049816280376104, Zim 0.0175143479976367 (inductive at 10 kHz)
    assert f[0] == pytest.approx(10000.0) and z[0] == pytest.approx(
        -0.00049816280376104 + 0.0175143479976367j
    )
    # line 813 (last): 10 Hz, Zre 0.0270946491457229, Zim -0.00399791080333837 (capacitive)
    assert f[-1] == pytest.approx(10.0) and z[-1] == pytest.approx(
        0.0270946491457229 - 0.00399791080333837j
    )
    assert z[-1].imag < 0
    assert ds["voltage_volt"].values[0] == pytest.approx(3.50029397010803)
    assert ds["test_time_second"].values[-1] == pytest.approx(7750.166999)
    assert "781 DC record(s)" in ds.attrs["quality_warnings"]


@pytest.mark.parametrize(
    "path,reader", [(GAMRY, "gamry"), (AUTOLAB, "autolab"), (ZPLOT, "zplot"), (PARSTAT, "parstat")]
)
def test_detection_picks_the_format_reader_by_content(tmp_path, path, reader):
    assert detect(path).name == reader
    renamed = tmp_path / "spectrum.dat"  # the suffix plays no part
    renamed.write_bytes(path.read_bytes())
    assert detect(renamed).name == reader


def test_eis_csv_leaves_cycling_exports_with_impedance_columns_alone():
    # a DOE battery-data-hub cycling CSV with (mostly empty) Frequency_Hz/Z_* columns
    assert detect(DATA / "corpus" / "generic" / "battdat_p492-13-raw.csv").name != "eis_csv"
    assert detect(DATA / "real" / "eis" / "impedancepy_exampleData.csv").name == "eis_csv"


# --- bad input ---------------------------------------------------------------------------------

# (file, 1-based line of a data row, field index of Re(Z) in it, separator, column name)
ROWS = {
    "gamry": (GAMRY, 460, 4, b"\t", "Zreal"),
    "autolab": (AUTOLAB, 30, 4, b",", "Z'(a)"),
    "zplot": (ZPLOT, 130, 4, b"\t", "Z'(a)"),
    "parstat": (PARSTAT, 795, 4, b"\t", "Zre (ohms)"),
}
# the last header line of each file (data starts on the next line)
HEADER_END = {"gamry": 448, "autolab": 11, "zplot": 123, "parstat": 1}


@pytest.mark.parametrize("fmt", sorted(ROWS))
def test_a_value_that_is_not_a_number(tmp_path, fmt):
    path, line, k, sep, column = ROWS[fmt]
    lines = lines_of(path)
    lines[line - 1] = replace_field(lines[line - 1], k, b"0.0x12", sep)
    p = write(tmp_path, path.name, lines[:-1])
    with pytest.raises(ParseError) as err:
        bv.read(p)
    assert err.value.line == line and err.value.column == column
    assert path.name in str(err.value) and "0.0x12" in str(err.value)


@pytest.mark.parametrize("fmt", sorted(ROWS))
def test_a_file_cut_inside_a_row(tmp_path, fmt):
    path, line, _, sep, _ = ROWS[fmt]
    lines = lines_of(path)
    cut = lines[line - 1][: len(lines[line - 1]) // 2]
    assert cut.count(sep) < lines[line - 1].count(sep)
    p = write(tmp_path, path.name, lines[: line - 1] + [cut], newline_at_end=False)
    with pytest.raises(TruncatedFileError) as err:
        bv.read(p)
    assert err.value.line == line and path.name in str(err.value)
    ds = bv.read(p, on_bad_lines="skip")  # the complete rows on request
    assert ds.sizes["record"] >= 1 and "dropped" in ds.attrs["quality_warnings"]


@pytest.mark.parametrize("fmt", sorted(ROWS))
def test_a_header_without_data(tmp_path, fmt):
    path = ROWS[fmt][0]
    p = write(tmp_path, path.name, lines_of(path)[: HEADER_END[fmt]])
    with pytest.raises(EmptyFileError, match=path.name):
        bv.read(p)


def test_gamry_file_cut_before_the_zcurve_table(tmp_path):
    lines = lines_of(GAMRY)
    p = write(tmp_path, "cut.DTA", lines[:200] + [lines[200][:10]], newline_at_end=False)
    with pytest.raises(TruncatedFileError, match="before the ZCURVE table"):
        bv.read(p)
    p = write(tmp_path, "no_z.DTA", lines[:445])  # complete, but the ZCURVE table is missing
    with pytest.raises(EmptyFileError, match="no ZCURVE table.*OCVCURVE"):
        bv.read(p)


def test_parstat_file_with_only_dc_records(tmp_path):
    p = write(tmp_path, "dc.txt", lines_of(PARSTAT)[:782])
    with pytest.raises(EmptyFileError, match="Frequency 0"):
        bv.read(p)


def test_z60w_and_zplot_headers_cut_before_the_column_names(tmp_path):
    p = write(tmp_path, "a.txt", lines_of(AUTOLAB)[:9])
    with pytest.raises(ParseError, match="column header"):
        bv.read(p)
    p = write(tmp_path, "z.z", lines_of(ZPLOT)[:60], newline_at_end=False)
    with pytest.raises(TruncatedFileError, match="End Comments"):
        bv.read(p)


@pytest.mark.parametrize("fmt", sorted(ROWS))
def test_short_inputs_never_raise_a_python_error(tmp_path, fmt):
    """Every prefix length of the file start gives a dataset or a batteryviz error."""
    data = ROWS[fmt][0].read_bytes()
    for n in list(range(1, 200, 7)) + [len(data) // 3, len(data) // 2, len(data) - 3]:
        p = tmp_path / f"{fmt}_{n}{ROWS[fmt][0].suffix}"
        p.write_bytes(data[:n])
        try:
            ds = bv.read(p, format=fmt)
        except BatteryvizError:
            continue
        assert ds.sizes["record"] > 0 and np.isfinite(ds["frequency_hertz"].values).all()
