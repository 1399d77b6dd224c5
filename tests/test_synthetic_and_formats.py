"""The synthetic cell with exact truth, written in every text format and read back."""

from __future__ import annotations

import numpy as np
import pytest

import batteryviz as bv
from batteryviz.testing import FORMATS, synthetic_cell, write_text


@pytest.fixture(scope="module")
def cell():
    return synthetic_cell(n_cycles=3, dt_s=10.0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_to_the_exact_truth(cell, fmt, tmp_path):
    path = write_text(
        cell.ds, tmp_path / ("cell.bdf.csv" if fmt == "bdf" else f"cell_{fmt}.txt"), fmt
    )
    ds = bv.read(path)  # detected by content: every file is named .txt (or .bdf.csv)
    expected_reader = {"basytec_de": "basytec"}.get(fmt, fmt)
    assert ds.attrs["reader"] == expected_reader
    s = bv.CycleSummary().compute(ds)
    assert s.sizes["cycle"] == 3
    for key in ("charge_capacity_ah", "discharge_capacity_ah"):
        np.testing.assert_allclose(s[key], cell.truth[key], rtol=5e-4)  # 0.05 %
    for key in ("mean_charge_voltage_v", "mean_discharge_voltage_v"):
        np.testing.assert_allclose(s[key], cell.truth[key], atol=1e-3)  # 1 mV
    np.testing.assert_allclose(
        s["coulombic_efficiency_percent"], cell.truth["coulombic_efficiency_percent"], atol=0.01
    )


def test_ce_direction_is_pinned_by_the_coulombic_loss():
    charge_first = bv.CycleSummary().compute(synthetic_cell(n_cycles=3, coulombic_loss=0.01).ds)
    # charge-first cells lose charge to the side reaction: CE = discharge / charge < 100 %
    assert (charge_first["coulombic_efficiency_percent"].values[1:] < 100).all()
    assert "discharge/charge" in charge_first.attrs["ce_definition"]


def test_discharge_first_cell_pairs_discharge_then_charge():
    cell = synthetic_cell(n_cycles=3, start_with="discharge")
    s = bv.CycleSummary().compute(cell.ds)
    assert s.attrs["cycle_mode"] == "cycler"
    assert "charge/discharge" in s.attrs["ce_definition"]
    np.testing.assert_allclose(
        s["discharge_capacity_ah"], cell.truth["discharge_capacity_ah"], rtol=5e-4
    )


@pytest.mark.parametrize("mode,first", [("charge_first", 1), ("discharge_first", 2)])
def test_pairing_modes_without_a_cycle_counter(mode, first):
    cell = synthetic_cell(n_cycles=3)
    ds = cell.ds.drop_vars("cycle_count")
    cyc = bv.assign_cycles(ds, mode)
    st = cyc["step_type_resolved"].values
    idx = cyc["cycle_index"].values
    starts = cyc["cycle_start"].values
    # every cycle of number >= 1 opens with a half cycle of the chosen direction
    for number, start in zip(cyc.cycle.values, starts):
        if number >= 1:
            assert st[start] == first
    if mode == "discharge_first":
        # the first charge comes before any discharge: it forms cycle 0, flagged incomplete
        assert cyc.cycle.values[0] == 0
        s = bv.CycleSummary(cycle_mode=mode).compute(ds)
        assert not bool(s["complete"].sel(cycle=0))
        assert "incomplete" in s.attrs["quality_warnings"]
    assert (np.diff(idx[idx >= 0]) >= 0).all()  # contiguous ragged layout


def test_counter_based_and_integrated_capacity_agree(example_ds):
    by_counter = bv.CycleSummary(capacity_source="counters").compute(example_ds)
    by_integral = bv.CycleSummary(capacity_source="integration").compute(example_ds)
    np.testing.assert_allclose(
        by_counter["discharge_capacity_ah"], by_integral["discharge_capacity_ah"], rtol=2e-4
    )
    assert by_integral.attrs["capacity_source"].startswith("integral")


def test_specific_and_areal_capacity_and_efc(example_ds):
    s = bv.CycleSummary(
        active_mass_mg=25000.0, electrode_area_cm2=500.0, nominal_capacity_mah=5000
    ).compute(example_ds)
    np.testing.assert_allclose(
        s["specific_discharge_capacity_mah_g"], s["discharge_capacity_ah"] * 1000 / 25.0
    )
    np.testing.assert_allclose(
        s["areal_discharge_capacity_mah_cm2"], s["discharge_capacity_ah"] * 1000 / 500.0
    )
    efc = np.cumsum(s["charge_capacity_ah"] + s["discharge_capacity_ah"]) / 2 / 5.0
    np.testing.assert_allclose(s["equivalent_full_cycles"], efc)
    assert "specific discharge capacity" not in s.attrs.get("quality_warnings", "")  # ~190 mAh/g
    # a mass typed in the wrong unit (25 mg instead of 25 g) gives ~190,000 mAh/g: flagged
    wrong = bv.CycleSummary(active_mass_mg=25.0).compute(example_ds)
    assert (
        "specific discharge capacity outside 10–1000 mAh/g in 34 cycle(s)"
        in wrong.attrs["quality_warnings"]
    )


@pytest.mark.parametrize("fmt", ["arbin_xlsx", "neware_xlsx", "generic_xlsx"])
def test_excel_exports_round_trip(cell, fmt, tmp_path):
    from batteryviz.testing import write_excel

    path = write_excel(cell.ds, tmp_path / "cell.xlsx", fmt)
    ds = bv.read(path)
    assert ds.attrs["reader"] == fmt.split("_")[0]
    s = bv.CycleSummary().compute(ds)
    np.testing.assert_allclose(
        s["discharge_capacity_ah"], cell.truth["discharge_capacity_ah"], rtol=5e-4
    )
    np.testing.assert_allclose(
        s["mean_charge_voltage_v"], cell.truth["mean_charge_voltage_v"], atol=1e-3
    )
