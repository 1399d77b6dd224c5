"""The simulated 34-cycle BaSyTec test: both export variants against the exact truth.

Tolerances are the ones the truth file states (shared/data/simulated/README.md).
"""

from __future__ import annotations

import numpy as np
import pytest

import batteryviz as bv

from .conftest import DATA


@pytest.fixture(scope="module", params=["tab_point", "space_comma"])
def summary(request, example_path):
    path = (
        example_path
        if request.param == "tab_point"
        else DATA / "simulated" / "basytec_rate_fade_de.txt"
    )
    ds = bv.read(path)
    return bv.CycleSummary(nominal_capacity_mah=5000).compute(ds)


def _truth(truth, *keys):
    out = []
    for c in truth["cycles"]:
        v = c
        for k in keys:
            v = v[k]
        out.append(v)
    return np.array(out, dtype=float)


def test_34_cycles_numbered_1_to_34_although_cyc_count_restarts(summary, truth):
    assert summary.sizes["cycle"] == 34
    np.testing.assert_array_equal(summary.cycle.values, np.arange(1, 35))
    np.testing.assert_array_equal(
        summary["cycler_cycle_count"].values, _truth(truth, "basytec_cyc_count")
    )


@pytest.mark.parametrize("half", ["charge", "discharge"])
def test_capacity_within_0_2_percent(summary, truth, half):
    expected = _truth(truth, half, "capacity_Ah")
    got = summary[f"{half}_capacity_ah"].values
    assert np.all(np.abs(got - expected) <= np.maximum(0.002 * expected, 0.002))


@pytest.mark.parametrize("half", ["charge", "discharge"])
def test_energy_mean_voltage_and_duration(summary, truth, half):
    np.testing.assert_allclose(
        summary[f"{half}_energy_wh"], _truth(truth, half, "energy_Wh"), rtol=0.003
    )
    np.testing.assert_allclose(
        summary[f"mean_{half}_voltage_v"], _truth(truth, half, "mean_voltage_V"), atol=0.003
    )
    np.testing.assert_allclose(
        summary[f"{half}_duration_h"] * 3600, _truth(truth, half, "duration_s"), atol=2
    )


def test_cycle_duration_and_ce(summary, truth):
    np.testing.assert_allclose(summary["duration_h"] * 3600, _truth(truth, "duration_s"), atol=2)
    np.testing.assert_allclose(
        summary["coulombic_efficiency_percent"] / 100,
        _truth(truth, "coulombic_efficiency"),
        atol=0.001,
    )
    np.testing.assert_allclose(
        summary["energy_efficiency_percent"] / 100, _truth(truth, "energy_efficiency"), atol=0.003
    )
    assert "discharge/charge" in summary.attrs["ce_definition"]


def test_discharge_c_rate_within_1_percent(summary, truth):
    np.testing.assert_allclose(
        summary["discharge_c_rate"], _truth(truth, "discharge_c_rate_nominal"), rtol=0.01
    )


def test_retention_and_end_values(summary, truth):
    np.testing.assert_allclose(
        summary["retention_percent"] / 100,
        _truth(truth, "discharge_capacity_retention_vs_cycle1"),
        atol=0.002,
    )
    np.testing.assert_allclose(
        summary["end_discharge_voltage_v"], _truth(truth, "discharge", "voltage_end_V"), atol=0.003
    )


def test_capacities_come_from_the_cycle_counters_which_agree_with_integration(summary):
    assert "Ah-Cyc-Charge-0" in summary.attrs["capacity_source"]


def test_dc_resistance_equals_the_cyclers_first_r_dc_value(example_ds):
    """BaSyTec's R-DC on the first loaded row of a line is (U - U_switch) / I: our ΔU/ΔI."""
    s = bv.CycleSummary().compute(example_ds)
    cyc = bv.assign_cycles(example_ds)
    state = example_ds["basytec_state"].values
    st = cyc["step_type_resolved"].values
    rdc = example_ds["internal_resistance_ohm"].values
    first_rows = np.flatnonzero((state == 0) & (st == 1))  # first regular row of each Charge line
    expected = rdc[first_rows]
    got = s["charge_dc_resistance_ohm"].values
    assert got.size == expected.size
    np.testing.assert_allclose(got, expected, rtol=0.02)
