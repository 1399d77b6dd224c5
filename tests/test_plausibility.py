"""The plausibility gate: what a misread looks like on real files, refused with its evidence,
or read with a prominent warning when asked (``strict=False``)."""

from __future__ import annotations

import numpy as np
import pytest

import batteryviz as bv
from batteryviz import quality
from batteryviz.analysis.summary import CycleSummary
from batteryviz.errors import BatteryvizError, ImplausibleDataError

from .test_corpus import CORPUS

PEC_LIKE = CORPUS / "generic/cellpy_custom_data_001.csv"
DOE = CORPUS / "generic/battdat_p492-13-raw.csv"
BDF_2PI = CORPUS / "bdf/bdf_SINTEF__G20M7-202512-Gru6mV__20251228__C30__25degC__Neware.bdf.csv"
ZPLOT = CORPUS / "eis/impedancepy_exampleDataZPlot.z"


def test_step_time_read_as_test_time_is_refused_with_the_count_of_reversals():
    with pytest.raises(ImplausibleDataError) as err:
        bv.read(PEC_LIKE, format="generic", columns={"step_time": "test_time_second"})
    text = str(err.value)
    assert (
        str(PEC_LIKE) in text
        and "test_time_second: goes backwards" in text
        and "strict=False" in text
    )


def test_a_date_column_read_as_voltage_is_refused():
    with pytest.raises(ImplausibleDataError, match=r"voltage_volt: median \|voltage\| is 7\d{5} V"):
        bv.read(DOE, format="generic", columns={"Datenum_d": "voltage_volt"})


def test_strict_false_reads_the_same_file_with_each_finding_as_a_warning():
    ds = bv.read(
        PEC_LIKE, format="generic", columns={"step_time": "test_time_second"}, strict=False
    )
    found = [w for w in quality.warnings_of(ds) if w.startswith("IMPLAUSIBLE ")]
    assert found == [f"IMPLAUSIBLE {line}" for line in quality.implausible(ds)] and len(found) == 1
    assert ds.sizes["record"] == 2442


def test_negative_frequencies_are_refused_by_the_gate():
    z = bv.read(ZPLOT)
    z["frequency_hertz"] = -z["frequency_hertz"]
    with pytest.raises(ImplausibleDataError, match="frequency_hertz: 21 record.*negative") as err:
        quality.gate(z, path="spectrum.z")
    assert str(err.value).startswith("spectrum.z: refused")


def test_a_spectrum_table_with_its_columns_in_another_order_is_read_by_their_names(tmp_path):
    z = bv.read(ZPLOT)
    table = np.column_stack(
        [z["imaginary_impedance_ohm"], z["frequency_hertz"], z["real_impedance_ohm"]]
    )
    path = tmp_path / "swapped.csv"
    np.savetxt(path, table, delimiter=",", header="Z'' (ohm),Freq (Hz),Z' (ohm)", comments="")
    ds = bv.read(path)
    assert ds.attrs["reader"] == "eis_csv"
    for name in ("frequency_hertz", "real_impedance_ohm", "imaginary_impedance_ohm"):
        np.testing.assert_allclose(ds[name], z[name])


def test_a_frequency_column_that_is_not_a_sweep_is_refused(tmp_path):
    z = bv.read(ZPLOT)
    table = np.column_stack(
        [z["frequency_hertz"], z["real_impedance_ohm"], z["imaginary_impedance_ohm"]]
    )
    path = tmp_path / "spectrum.csv"
    np.savetxt(path, table, delimiter=",")
    assert bv.read(path).sizes["record"] == 21  # the real order passes
    np.savetxt(path, table[np.random.default_rng(0).permutation(len(table))], delimiter=",")
    with pytest.raises(ImplausibleDataError, match="turns between up and down"):
        bv.read(path)


def test_a_counter_that_does_not_count_is_kept_aside_and_cycles_come_from_the_current():
    """The BDF reference file its own project lists as non-compliant: cycle_count is 2π in every
    row."""
    ds = bv.read(BDF_2PI)
    assert "cycle_count" not in ds and float(ds["cycle_count_as_written"][0]) == pytest.approx(
        2 * np.pi
    )
    assert any(
        w.startswith("cycle_count: 17,587 value(s) that are not whole numbers")
        for w in quality.warnings_of(ds)
    )
    summary = CycleSummary().compute(ds)
    assert float(summary["discharge_capacity_ah"].max()) > 3.5  # 3.716 Ah discharged at C/30


def test_every_corpus_file_that_reads_passes_the_gate():
    from .test_corpus import ROWS

    for row in ROWS:
        try:
            ds = bv.read(CORPUS / row["path"])
        except ImplausibleDataError as exc:  # pragma: no cover - the failure message names the file
            pytest.fail(f"{row['path']}: {exc}")
        except BatteryvizError:
            continue  # refusals for other reasons are pinned in test_corpus
        assert quality.implausible(ds) == []


def test_info_says_why_a_file_is_refused_and_reads_it_with_no_strict(tmp_path, capsys):
    from batteryviz.cli import main

    z = bv.read(ZPLOT)
    table = np.column_stack(
        [z["frequency_hertz"], z["real_impedance_ohm"], z["imaginary_impedance_ohm"]]
    )
    path = tmp_path / "shuffled.csv"
    np.savetxt(path, table[np.random.default_rng(1).permutation(len(table))], delimiter=",")
    assert main(["info", str(path)]) != 0
    assert "frequency_hertz" in capsys.readouterr().err
    assert main(["info", "--no-strict", str(path)]) == 0
    assert "IMPLAUSIBLE frequency_hertz" in capsys.readouterr().out


def _spectra(frequency):
    """A dataset of impedance records with ``frequency`` (0 marks a DC record, as EC-Lab writes)."""
    import xarray as xr

    f = np.asarray(frequency, dtype=float)
    return xr.Dataset(
        {
            "frequency_hertz": ("record", f),
            "real_impedance_ohm": ("record", np.where(f > 0, 0.1, np.nan)),
            "imaginary_impedance_ohm": ("record", np.where(f > 0, -0.05, np.nan)),
        }
    )


@pytest.mark.parametrize(
    "frequency",
    [
        ([0.0] * 50 + [1000, 100, 10, 1]) * 10,  # a few frequencies after every cycle
        np.tile(np.geomspace(1e5, 0.1, 30), 5),  # five sweeps, each restarting at the top
        np.r_[np.geomspace(1e5, 0.1, 30), np.geomspace(0.1, 1e5, 30)],  # down, then up again
    ],
    ids=["after-each-cycle", "repeated", "down-up"],
)
def test_real_sweep_patterns_pass_the_gate(frequency):
    assert quality.implausible(_spectra(frequency)) == []


def test_a_pack_voltage_passes_and_a_cell_in_millivolts_does_not():
    import xarray as xr

    t = np.arange(100.0)
    for volts, refused in ((350.0, False), (3700.0, True)):
        ds = xr.Dataset(
            {"test_time_second": ("record", t), "voltage_volt": ("record", volts + 0 * t)}
        )
        assert bool(quality.implausible(ds)) == refused


def test_integer_counters_below_zero_are_set_aside_and_text_columns_refused():
    import xarray as xr

    ds = xr.Dataset(
        {
            "test_time_second": ("record", np.arange(5.0)),
            "step_index": ("record", np.array([1, 1, -1, 2, 2])),
        }
    )
    [warning] = quality.demote_counters(ds)
    assert "step_index_as_written" in ds and "steps are found from the current" in warning
    text = xr.Dataset({"test_time_second": ("record", np.array(["a", "b"], dtype=object))})
    with pytest.raises(ImplausibleDataError, match="not numbers"):
        quality.gate(text, path="t.csv")
