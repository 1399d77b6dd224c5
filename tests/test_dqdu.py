"""Differential capacity: peak positions on a cell whose plateaus are known, robustness, tracks."""

from __future__ import annotations

import numpy as np
import pytest

from batteryviz.analysis.dqdu import DifferentialCapacity, half_cycle_curve, link_peaks, peak_tracks
from batteryviz.testing import PLATEAUS_V, synthetic_cell

CAPACITY_AH, C_RATE, R_OHM = 2.0, 0.2, 0.05
SHIFT_V = C_RATE * CAPACITY_AH * R_OHM  # I R: peaks move up on charge, down on discharge


@pytest.fixture(scope="module")
def cell():
    return synthetic_cell(
        n_cycles=3, dt_s=10.0, c_rate=C_RATE, capacity_ah=CAPACITY_AH, resistance_ohm=R_OHM
    )


@pytest.mark.parametrize("direction,sign", [("charge", 1), ("discharge", -1)])
def test_peaks_at_the_known_plateaus_within_5_mv(cell, direction, sign):
    r = DifferentialCapacity(direction=direction, voltage_step=0.001).compute(cell.ds)
    expected = np.array(PLATEAUS_V) + sign * SHIFT_V
    for row in range(r.sizes["cycle"]):
        found = r[f"{direction}_peak_voltage"].values[row]
        found = found[np.isfinite(found)]
        assert found.size == 2
        np.testing.assert_allclose(np.sort(found), expected, atol=0.005)
    intensity = r[f"{direction}_peak_intensity"].values
    assert (
        np.sign(intensity[np.isfinite(intensity)]) == sign
    ).all()  # discharge peaks negative, and found


@pytest.mark.parametrize("dt_s", [1.0, 30.0])
def test_same_peaks_at_1_s_and_30_s_sampling(dt_s):
    cell = synthetic_cell(
        n_cycles=1, dt_s=dt_s, c_rate=C_RATE, capacity_ah=CAPACITY_AH, resistance_ohm=R_OHM
    )
    r = DifferentialCapacity(direction="charge", voltage_step=0.001).compute(cell.ds)
    found = r["charge_peak_voltage"].values[0]
    found = np.sort(found[np.isfinite(found)])
    np.testing.assert_allclose(found, np.array(PLATEAUS_V) + SHIFT_V, atol=0.005)


def test_non_monotonic_data_is_trimmed_not_scrambled():
    t = np.arange(10.0)
    u = np.array([3.0, 3.1, 3.2, 3.15, 3.3, 3.4, 3.4, 3.35, 3.5, 3.6])  # a dip, a hold, a dip
    v, q = half_cycle_curve(t, u, np.ones(10), direction=1)
    assert (np.diff(v) > 0).all() and (np.diff(q) > 0).all()
    np.testing.assert_array_equal(v, [3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6])


def test_units_mass_and_sign_options(cell):
    base = DifferentialCapacity(direction="discharge", units="Ah/V").compute(cell.ds)
    milli = DifferentialCapacity(direction="discharge", units="mAh/V").compute(cell.ds)
    spec = DifferentialCapacity(
        direction="discharge", units="mAh/g/V", active_mass_mg=500.0
    ).compute(cell.ds)
    absolute = DifferentialCapacity(
        direction="discharge", units="Ah/V", discharge_sign="absolute"
    ).compute(cell.ds)
    np.testing.assert_allclose(milli["discharge_dqdu"], 1000 * base["discharge_dqdu"])
    np.testing.assert_allclose(spec["discharge_dqdu"], 1000 * base["discharge_dqdu"] / 0.5)
    np.testing.assert_allclose(absolute["discharge_dqdu"], -base["discharge_dqdu"])
    with pytest.raises(ValueError, match="active mass"):
        DifferentialCapacity(units="mAh/g/V").compute(cell.ds)


def test_area_of_the_curve_is_the_capacity(cell):
    r = DifferentialCapacity(
        direction="charge", units="Ah/V", smoothing="none", voltage_step=0.0005
    ).compute(cell.ds)
    v = r["charge_voltage"].values
    for row in range(r.sizes["cycle"]):
        y = r["charge_dqdu"].values[row]
        ok = np.isfinite(y)
        # the CC part only: the CV hold adds capacity at constant voltage, which dQ/dU cannot show
        assert np.trapezoid(y[ok], v[ok]) == pytest.approx(
            cell.truth["charge_capacity_ah"][row], rel=0.1
        )


def test_common_window_and_cycle_selection(cell):
    r = DifferentialCapacity(cycles=[1, 3], common_window=True).compute(cell.ds)
    np.testing.assert_array_equal(r.cycle.values, [1, 3])
    assert np.isfinite(r["charge_dqdu"].values).all()  # every cycle covers the common window
    with pytest.raises(ValueError, match="none of the cycles"):
        DifferentialCapacity(cycles=[99]).compute(cell.ds)


def test_peaks_are_tracked_across_cycles_as_they_shift(tmp_path):
    # resistance growing with cycle: the charge peaks move up by a known amount each cycle
    parts = [
        synthetic_cell(n_cycles=1, c_rate=C_RATE, capacity_ah=CAPACITY_AH, resistance_ohm=r)
        for r in (0.05, 0.10, 0.15)
    ]
    results = [
        DifferentialCapacity(direction="charge", voltage_step=0.001).compute(p.ds) for p in parts
    ]
    voltages = np.vstack([r["charge_peak_voltage"].values[0, :2] for r in results])
    assert np.isnan(
        np.vstack([r["charge_peak_voltage"].values[0, 2:] for r in results])
    ).all()  # two plateaus, two peaks
    ids = link_peaks(voltages, tolerance_v=0.05)
    np.testing.assert_array_equal(ids, [[0, 1], [0, 1], [0, 1]])  # each plateau stays one track
    tight = link_peaks(voltages, tolerance_v=0.005)
    assert len(np.unique(tight)) == 6  # shifts of 20 mV break tracks at 5 mV tolerance


def test_peak_tracks_table_on_the_simulated_cell(example_ds):
    r = DifferentialCapacity(direction="discharge", cycles=list(range(15, 35))).compute(example_ds)
    tracks = peak_tracks(r, "discharge")
    assert tracks.sizes["cycle"] == 20 and tracks.sizes["track"] >= 1
    longest = int(np.argmax(np.isfinite(tracks["voltage"].values).sum(axis=1)))
    assert (
        np.isfinite(tracks["voltage"].values[longest]).sum() >= 15
    )  # a peak followed through the fade block


def test_cli_dqdu_writes_long_wide_and_peaks(tmp_path, example_path):
    import pandas as pd

    from batteryviz.cli import main

    long_csv, wide_csv, peaks_csv = tmp_path / "c.csv", tmp_path / "c.wide.csv", tmp_path / "p.csv"
    assert (
        main(
            [
                "dqdu",
                str(example_path),
                "--cycles",
                "1,10,20",
                "-o",
                str(long_csv),
                "--peaks",
                str(peaks_csv),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "dqdu",
                str(example_path),
                "--cycles",
                "1,10",
                "--direction",
                "charge",
                "-o",
                str(wide_csv),
            ]
        )
        == 0
    )
    long = pd.read_csv(long_csv)
    assert set(long["cycle"]) == {1, 10, 20} and set(long["direction"]) == {"charge", "discharge"}
    assert (long.loc[long.direction == "discharge", "dqdu"] <= 0).mean() > 0.95
    wide = pd.read_csv(wide_csv)
    assert list(wide.columns) == [
        "Cycle 1 Charge U[V]",
        "Cycle 1 Charge dQ/dU",
        "Cycle 10 Charge U[V]",
        "Cycle 10 Charge dQ/dU",
    ]
    peaks = pd.read_csv(peaks_csv)
    assert {
        "cycle",
        "direction",
        "voltage_v",
        "intensity",
        "prominence",
        "width_v",
        "area",
        "track",
    } <= set(peaks.columns)
    assert len(peaks) > 0 and set(peaks["direction"]) == {"charge", "discharge"}


@pytest.mark.parametrize("window", [5, 11, 21])
def test_vectorised_savgol_equals_scipys_interp_mode(window):
    from scipy import signal

    from batteryviz.analysis.dqdu import savgol_interp

    y = np.cumsum(np.random.default_rng(window).random(333))
    np.testing.assert_allclose(
        savgol_interp(y, window, 3), signal.savgol_filter(y, window, 3, mode="interp"), atol=1e-9
    )


@pytest.mark.parametrize(
    "text, expected",
    [("1,5-7,10-30:10", [1, 5, 6, 7, 10, 20, 30]), ("all", None), ("", None), (" 3 ; 1 ", [1, 3])],
)
def test_cycle_selection_text(text, expected):
    from batteryviz.cycles import parse_cycle_selection

    assert parse_cycle_selection(text) == expected


@pytest.mark.parametrize("text", ["1-x", "5-2", "1-10:0", "every"])
def test_cycle_selection_names_what_it_cannot_read(text):
    from batteryviz.cycles import parse_cycle_selection

    with pytest.raises(ValueError, match="cannot read"):
        parse_cycle_selection(text)
