"""The variants users bring: what each reader now reads, and what it refuses, pinned on real
files of the corpus (``tests/data/corpus``) and on mutated copies of them."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import polars as pl
import pytest

import batteryviz as bv
from batteryviz.errors import BatteryvizError, ParseError, UnknownFormatError
from batteryviz.io.registry import weigh
from batteryviz.quality import NO_CURRENT

from .test_corpus import CORPUS

# --- detection by evidence ---------------------------------------------------------------


def test_an_unknown_file_is_refused_with_each_readers_reason(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("name,colour\napple,red\npear,green\n")
    with pytest.raises(UnknownFormatError) as err:
        bv.read(path)
    text = str(err.value)
    assert "generic (no line in the first 50 names time, voltage and current columns)" in text
    assert "biologic (no 'EC-Lab ASCII FILE' header" in text
    assert (
        "biologic_mpr (" in text
        and "a binary file" not in text.split("biologic_mpr (")[1].split(")")[0]
    )


def test_a_headerless_ec_lab_export_goes_to_the_biologic_reader_and_the_runner_up_is_named():
    path = CORPUS / "biologic/bioconv_noHeader.mpt"
    reader, evidence, others = weigh(path)
    assert reader.name == "biologic" and evidence.score < 1
    assert "generic" in [name for name, _ in others]
    ds = bv.read(path)
    assert ds.attrs["reader"] == "biologic" and "also fitting: generic" in ds.attrs["detection"]
    # the same values as the generic reading of the same columns: I/mA → A, Ewe/V
    generic = bv.read(path, format="generic")
    np.testing.assert_allclose(ds["current_ampere"].values, generic["current_ampere"].values)
    assert ds["current_ampere"].attrs["source_column"] == "I/mA"


def test_a_vendor_column_line_below_its_usual_place_is_a_near_miss_the_generic_reader_beats(
    tmp_path,
):
    lines = (CORPUS / "maccor/dca_test_data_mac.csv").read_text(encoding="utf-8-sig").splitlines()
    path = tmp_path / "long_preamble.csv"
    path.write_text("\n".join([f"Note {k}: x" for k in range(30)] + lines) + "\n")
    reader, evidence, others = weigh(path)
    scores = {name: ev.score for name, ev in others}
    assert reader.name == "generic" and scores["maccor"] == pytest.approx(0.3)


# --- BioLogic .mpr: column ids batteryviz does not know ------------------------------------


def _mpr_ids(data: bytes) -> tuple[int, list[int]]:
    """Byte offset of the column-id list of the VMP data module (old layout) and the ids."""
    from batteryviz.io.biologic_mpr import modules

    mod = next(m for m in modules(data, "x") if m["name"] == "VMP data")
    n_cols = data[mod["start"] + 4]
    at = mod["start"] + 5
    return at, list(struct.unpack(f"<{n_cols}H", data[at : at + 2 * n_cols]))


def _with_ids(tmp_path, source: str, replace: dict[int, int]):
    data = bytearray((CORPUS / source).read_bytes())
    at, ids = _mpr_ids(bytes(data))
    for k, i in enumerate(ids):
        if i in replace:
            data[at + 2 * k : at + 2 * k + 2] = struct.pack("<H", replace[i])
    path = tmp_path / f"patched_{source.split('/')[-1]}"
    path.write_bytes(bytes(data))
    return path


def test_ec_lab_11_27_ca_mpr_reads_the_same_as_its_mpt_export():
    mpr = bv.read(CORPUS / "biologic/bioconv_ca.mpr")
    mpt = bv.read(CORPUS / "biologic/bioconv_ca.mpt")
    for name in ("test_time_second", "voltage_volt", "current_ampere"):
        np.testing.assert_allclose(mpr[name].values, mpt[name].values, rtol=1e-6, atol=1e-9)
    # (Q-Qo)/C, id 434, in coulomb → Ah
    np.testing.assert_allclose(
        mpr["net_capacity_ah"].values * 3600,
        mpt["biologic_q_qo_per_c"].values,
        rtol=1e-6,
        atol=1e-9,
    )


def test_an_unknown_mpr_column_id_is_kept_undecoded_with_a_warning(tmp_path):
    path = _with_ids(tmp_path, "biologic/bioconv_ca.mpr", {434: 999})
    ds = bv.read(path)
    known = bv.read(CORPUS / "biologic/bioconv_ca.mpr")
    np.testing.assert_allclose(
        ds["biologic_column_999"].values, known["net_capacity_ah"].values * 3600, rtol=1e-12
    )
    assert (
        "999" in ds.attrs["quality_warnings"]
        and "biologic_column_999" in ds.attrs["quality_warnings"]
    )
    np.testing.assert_array_equal(
        ds["voltage_volt"].values, known["voltage_volt"].values
    )  # the rest untouched


def test_unknown_mpr_ids_that_cannot_be_sized_are_skipped_at_the_end_and_refused_before_known_ones(
    tmp_path,
):
    # cp.mpr ends with ids 39 (2 bytes) and 441 (4 bytes): 6 bytes cannot be split evenly
    ds = bv.read(_with_ids(tmp_path, "biologic/bioconv_cp.mpr", {39: 998, 441: 999}))
    assert "skipped" in ds.attrs["quality_warnings"] and "biologic_column_999" not in ds
    np.testing.assert_array_equal(
        ds["voltage_volt"].values,
        bv.read(CORPUS / "biologic/bioconv_cp.mpr")["voltage_volt"].values,
    )
    # 467 (8 bytes, in the middle) and 441 (4 bytes): the fields after 467 cannot be placed
    with pytest.raises(ParseError, match="cannot be split"):
        bv.read(_with_ids(tmp_path, "biologic/bioconv_cp.mpr", {467: 998, 441: 999}))


# --- Maccor re-saved by other tools ---------------------------------------------------------


def test_maccor_text_in_milli_units_reads_in_volts_and_amperes_and_says_so():
    ds = bv.read(CORPUS / "maccor/cellpy_maccor_three.txt")
    v, i = ds["voltage_volt"].values, ds["current_ampere"].values
    assert 1.29 < v.min() and v.max() < 3.81  # MANIFEST: cycling 1.3–3.8 V, values written in mV
    assert np.abs(i).max() == pytest.approx(0.8973831, rel=1e-6)  # 897.3831 mAmps
    assert (i[ds["step_type"].values == 2] <= 0).all()
    assert "millivolts" in ds.attrs["quality_warnings"]


def test_volts_with_plausible_values_are_never_rescaled(tmp_path):
    text = (CORPUS / "maccor/cellpy_maccor_three.txt").read_text(encoding="latin-1")
    lines = text.splitlines()
    k = next(j for j, ln in enumerate(lines) if ln.startswith("Rec#"))
    fixed = lines[: k + 1] + [
        "\t".join(f"{float(f) / 1000:.7f}" if c == 8 else f for c, f in enumerate(ln.split("\t")))
        for ln in lines[k + 1 :]
        if ln.strip()
    ]
    path = tmp_path / "volts.txt"
    path.write_text("\n".join(fixed) + "\n", encoding="latin-1")
    ds = bv.read(path)
    assert 1.29 < ds["voltage_volt"].values.min() and "millivolts" not in ds.attrs.get(
        "quality_warnings", ""
    )


def test_a_bom_maccor_csv_with_bracketed_units_reads():
    ds = bv.read(CORPUS / "maccor/dca_test_data_mac.csv")
    assert ds.attrs["reader"] == "maccor"
    assert ds["current_ampere"].values.min() == pytest.approx(
        -5.471e-05
    )  # 'Current [A]' on 'D' records
    assert ds["voltage_volt"].values[0] == 3.0


# --- names and values that do not line up ----------------------------------------------------


def test_a_column_line_one_name_short_of_every_row_is_refused(tmp_path):
    path = tmp_path / "short_header.csv"
    path.write_text(
        "Time (s),Voltage (V),Current (A)\n" + "".join(f"{t},{t},3.{t},0.1\n" for t in range(20))
    )
    with pytest.raises(ParseError, match="misaligned") as err:
        bv.read(path)
    assert "line 1" in str(err.value)


# --- BDF variants -----------------------------------------------------------------------------


def test_legacy_bdf_parquet_names_are_converted_by_their_units():
    path = CORPUS / "bdf/bdf_legacy.bdf.parquet"
    raw = pl.read_parquet(path)
    ds = bv.read(path)
    np.testing.assert_allclose(
        ds["test_time_second"].values, raw["test_time_millisecond"].to_numpy() / 1000
    )
    np.testing.assert_allclose(
        ds["unix_time_second"].values, raw["date_time_millisecond"].to_numpy() / 1000
    )
    np.testing.assert_array_equal(ds["cycle_count"].values, raw["cycle_dimensionless"].to_numpy())
    assert ds["test_time_second"].attrs["source_column"] == "test_time_millisecond"


def test_step_names_become_step_codes_and_a_current_against_them_is_negated(tmp_path):
    rows = ["Test Time / s,Current / A,Voltage / V,Step Type / 1"]
    rows += [f"{t},{-0.5},{3.5 + t / 1000},charge" for t in range(20)]
    rows += [f"{t},{0.5},{3.6 - (t - 20) / 1000},discharge" for t in range(20, 40)]
    rows += [f"{t},0,3.5,rest" for t in range(40, 45)]
    path = tmp_path / "flipped.bdf.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = bv.read(path)
    assert ds["step_type"].values[:20].tolist() == [1] * 20 and ds["step_type"].values[-1] == 0
    assert (ds["current_ampere"].values[:20] > 0).all() and "negated" in ds.attrs[
        "quality_warnings"
    ]
    # a picture that is not one-sided is left as written
    rows[25] = rows[25].replace(",0.5,", ",-0.5,")
    rows[1:11] = [r.replace(",-0.5,", ",0.5,") for r in rows[1:11]]
    path.write_text("\n".join(rows) + "\n")
    mixed = bv.read(path)
    written = mixed["current_ampere"].values
    assert (
        written[0] == 0.5
        and written[10] == -0.5
        and "negated" not in mixed.attrs.get("quality_warnings", "")
    )


# --- PEC, Arbin sidecars, files without current -----------------------------------------------


def test_pec_csv_reads_in_volts_and_amperes_with_its_per_cycle_counters():
    from batteryviz.analysis.summary import CycleSummary

    ds = bv.read(CORPUS / "generic/cellpy_pec.csv")
    assert ds.attrs["reader"] == "pec" and ds.attrs["test_plan"] == "SAFT VL43EFe dQdV C/25"
    v, i = ds["voltage_volt"].values, ds["current_ampere"].values
    assert v.min() == pytest.approx(2.4935, abs=1e-4) and v.max() == pytest.approx(
        3.7998, abs=1e-4
    )  # MANIFEST, mV
    assert i.min() == pytest.approx(-1.6406, abs=1e-4) and i.max() == pytest.approx(
        1.6405, abs=1e-4
    )
    summary = CycleSummary().compute(ds)
    # cycle 1: the cycler's own counter ends at 44424.915 mAh of charge
    assert float(summary["charge_capacity_ah"].sel(cycle=1)) == pytest.approx(44.424915, rel=5e-3)


def test_an_arbin_sidecar_is_attached_to_its_data_file_and_refused_alone(tmp_path):
    name = "beep_2017-05-09_test-TC-contact_CH33"
    shutil.copy(CORPUS / f"arbin/{name}.csv", tmp_path / f"{name}.csv")
    alone = bv.read(tmp_path / f"{name}.csv")
    assert "arbin_test_id" not in alone.attrs
    shutil.copy(CORPUS / f"arbin/{name}_Metadata.csv", tmp_path / f"{name}_Metadata.csv")
    ds = bv.read(tmp_path / f"{name}.csv")
    assert ds.attrs["arbin_test_id"] == "144" and ds.attrs["test_plan"] == "20170509-6C_1C_36CV.sdu"
    assert ds.attrs["metadata_sidecar"] == f"{name}_Metadata.csv"
    with pytest.raises(BatteryvizError, match=f"metadata sidecar.*{name}.csv"):
        bv.read(tmp_path / f"{name}_Metadata.csv")


def test_a_cycling_file_whose_current_was_rounded_to_zero_says_so():
    ds = bv.read(CORPUS / "generic/cellpy_custom_data_001.csv")
    assert NO_CURRENT in ds.attrs["quality_warnings"]


def test_an_empty_ec_lab_technique_reads_without_records():
    ds = bv.read(CORPUS / "biologic/bioconv_wait.mpt")
    assert ds.sizes["record"] == 0 and "no data rows" in ds.attrs["quality_warnings"]
    assert ds.attrs["device"].startswith("SP-240")  # the header block is still read


def test_a_test_saved_in_two_files_is_read_as_one_in_order_and_refused_out_of_order(tmp_path):
    whole = CORPUS / "arbin/battdat_arbin_example.csv"
    lines = whole.read_text(encoding="utf-8").splitlines(keepends=True)
    half = len(lines) // 2
    first, second = tmp_path / "part1.csv", tmp_path / "part2.csv"
    first.write_text("".join(lines[:half]), encoding="utf-8")
    second.write_text(lines[0] + "".join(lines[half:]), encoding="utf-8")
    joined, ref = bv.read([first, second]), bv.read(whole)
    assert joined.attrs["parts"] == 2 and joined.attrs["source_file"] == "part1.csv, part2.csv"
    for name in ("test_time_second", "voltage_volt", "current_ampere"):
        np.testing.assert_array_equal(joined[name].values, ref[name].values)
    with pytest.raises(BatteryvizError, match="part 2 starts at .* before part 1 ends") as err:
        bv.read([second, first])
    assert err.value.path == str(first)


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "a PNG image"),
        (lambda: np.random.default_rng(7).bytes(600), "a binary file of no kind batteryviz knows"),
        (
            lambda: (CORPUS / "neware/navani_test.ndax").read_bytes()[:2000],
            "a ZIP archive named .ndax that does not open as one",
        ),
    ],
    ids=["png", "random", "truncated-ndax"],
)
def test_binary_files_no_reader_takes_are_told_apart(tmp_path, make, says):
    """Polish (#16): a PNG, random bytes and a truncated .ndax were all "a binary file starting
    with ''"."""
    name = "cut.ndax" if "ndax" in says else "dropped.bin"
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(UnknownFormatError, match=f"not a format batteryviz recognises: {says}"):
        bv.read(path)
