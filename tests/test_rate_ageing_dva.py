"""Rate capability, cycle life, calendar ageing and dU/dQ against known truth."""

from __future__ import annotations

import numpy as np
import pytest

from batteryviz.analysis.ageing import CalendarAging, CycleLife, flag_name
from batteryviz.analysis.dvdq import DifferentialVoltage
from batteryviz.analysis.rate import RateCapability, rate_label, snap_rates
from batteryviz.testing import synthetic_cell


def test_rate_capability_matches_the_truth_with_rates_detected(example_ds, truth):
    # no nominal capacity, no rate typed in: the rates come from the current
    r = RateCapability().compute(example_ds)
    expected = {b["discharge_c_rate_nominal"]: b for b in truth["rate_summary"]}
    np.testing.assert_allclose(r["rate"].values, sorted(expected))
    for rate in r["rate"].values:
        b = expected[float(rate)]
        got = r.sel(rate=rate)
        assert float(got["capacity_ah"]) == pytest.approx(
            b["discharge_capacity_Ah_mean"], rel=0.002
        )
        assert float(got["retention_percent"]) / 100 == pytest.approx(
            b["capacity_relative_to_C5_mean"], abs=0.002
        )
        assert got["cycles"].item() == ",".join(map(str, b["cycles"]))
        assert got["label"].item() == b["discharge_rate_label"]
    assert "cycles 3–14" in r.attrs["rate_test"]
    assert (
        not r["block_in_rate_test"].values[0] and not r["block_in_rate_test"].values[-1]
    )  # formation, fade


def test_rate_snapping_and_labels():
    np.testing.assert_allclose(
        snap_rates(np.array([0.205, 0.513, 1.025, 2.05, 0.7]), 0.1), [0.2, 0.5, 1.0, 2.0, 0.7]
    )
    assert [rate_label(r) for r in (0.1, 1 / 3, 0.5, 2.0)] == ["C/10", "C/3", "C/2", "2C"]


def test_cycle_life_fade_of_the_simulated_fade_block(example_ds, truth):
    r = CycleLife(selection="longest_block").compute(example_ds)
    np.testing.assert_array_equal(
        r["cycle"].values[r["used_in_fit"].values], truth["fade_summary"]["cycles"]
    )
    fade = truth["fade_summary"]["fade_percent_per_cycle_vs_first_fade_cycle"]
    assert float(r["fade_percent_per_x"]) == pytest.approx(fade, rel=0.05)
    assert float(r["linear_b"]) == pytest.approx(
        truth["fade_summary"]["linear_fit_Ah_per_cycle"], rel=0.05
    )
    assert float(r["linear_b_stderr"]) > 0
    # 80 % is not reached in 20 cycles: projected, with an interval around it
    eol = float(r["end_of_life"])
    assert eol > 34 and float(r["end_of_life_low"]) < eol < float(r["end_of_life_high"])
    assert flag_name(r["end_of_life_method"]) == "projected"


def test_cycle_life_observed_end_of_life_and_knee():
    # linear fade 1 %/cycle for 15 cycles, then 5 %/cycle: a knee at cycle 15, 80 % crossed at 19
    q = np.r_[100 - np.arange(16) * 1.0, 85 - np.arange(1, 10) * 5.0] / 100 * 2.0
    cell = synthetic_cell(n_cycles=q.size, capacities_ah=list(q), dt_s=60)
    r = CycleLife().compute(cell.ds)
    ret = r["retention_percent"].values
    first_below = int(r["cycle"].values[np.flatnonzero(ret < 80)[0]])
    assert float(r["end_of_life"]) == first_below
    assert flag_name(r["end_of_life_method"]) == "observed"
    assert float(r["knee"]) == pytest.approx(16, abs=1)


def test_calendar_ageing_checkups_and_sqrt_fit():
    days = np.array([0, 7, 14, 28, 56, 84])
    caps = 2.0 * (1 - 0.01 * np.sqrt(days))
    cell = synthetic_cell(
        n_cycles=6,
        capacities_ah=list(caps),
        storage_s=list(np.r_[0, np.diff(days)] * 86400),
        dt_s=30,
    )
    r = CalendarAging(min_storage_h=24).compute(cell.ds)
    # each storage rest runs on from the 10-min pause after the check-up's discharge
    np.testing.assert_allclose(r["storage_time"], days + np.arange(6) * 600 / 86400, atol=1e-3)
    np.testing.assert_allclose(
        r["discharge_capacity_ah"], cell.truth["discharge_capacity_ah"], rtol=1e-3
    )
    assert flag_name(r["best_model"]) == "sqrt" and float(r["sqrt_b"]) < 0
    with pytest.raises(ValueError, match="no storage period"):
        CalendarAging(min_storage_h=1000).compute(cell.ds)
    # its plot names the best fit and the storage-time unit the result was computed in
    weeks = CalendarAging(min_storage_h=24, time_unit="week").compute(cell.ds)
    figure = CalendarAging().plot(weeks)
    assert figure.opts.get().kwargs["title"] == "Calendar ageing (best fit: sqrt)"
    assert figure.kdims[0].name == "Storage time (week)"


def test_dvdq_integrates_back_to_the_voltage_change():
    cell = synthetic_cell(n_cycles=2, dt_s=10)
    r = DifferentialVoltage(direction="discharge", smoothing="none").compute(cell.ds)
    q = r["discharge_capacity"].values
    for row in range(2):
        y = r["discharge_dvdq"].values[row]
        ok = np.isfinite(y)
        # the integral of dU/dQ over Q is the voltage change of the discharge
        assert np.trapezoid(y[ok], q[ok]) < -0.8
    soc = DifferentialVoltage(direction="charge", x="soc").compute(cell.ds)
    assert soc["charge_soc"].values[[0, -1]].tolist() == [0.0, 1.0]
    assert soc["charge_dvdq"].attrs["units"] == "V"


@pytest.mark.parametrize(
    "axis, label", [("cycle", "Cycle"), ("equivalent_full_cycles", "Equivalent full cycles")]
)
def test_cycle_life_plot_names_its_axis_and_shows_end_of_life(example_ds, axis, label):
    """The x axis once read "x", and the end of life and knee were on no plot (#16 item 7)."""
    import holoviews as hv

    from batteryviz.analysis.registry import ANALYSES
    from batteryviz.viz import plots

    result = ANALYSES["cycle_life"](x=axis, nominal_capacity_mah=5000).compute(example_ds)
    figure = hv.render(plots.cycle_life(result))
    assert figure.xaxis[0].axis_label == label and figure.yaxis[0].axis_label == "Retention (%)"
    eol = float(result["end_of_life"])
    assert np.isfinite(eol) and f"end of life {eol:.0f}" in figure.title.text
    spans = [r for r in figure.renderers if type(r).__name__ == "Span"] + list(
        getattr(figure, "center", [])
    )
    assert any(
        type(s).__name__ == "Span" and s.dimension == "width" and s.location == 80.0 for s in spans
    )


def test_the_cycle_life_vector_is_read_by_name():
    """The one array a lazy task returns is packed and read by part name, not by offsets."""
    from batteryviz.analysis.ageing import CYCLE_LIFE_NUMBERS, cycle_life_layout, cycle_life_vector

    x = np.arange(1.0, 31.0)
    q = 2.0 - 0.01 * x
    layout = cycle_life_layout(2, x.size)
    vec = cycle_life_vector(
        x, q, np.ones(30, bool), x * 0 + 1, x * 0 + 1, "all", ["linear", "sqrt"], 80.0, 0
    )
    parts = layout.unpack(vec)
    assert vec.size == layout.size and set(CYCLE_LIFE_NUMBERS) <= set(parts)
    # 0.01 Ah per cycle of the first fitted capacity
    assert parts["x0"] == 1.0 and parts["fade"] == pytest.approx(100 * 0.01 / q[0])
    np.testing.assert_allclose(parts["retention"], 100 * q / q[0])
    assert parts["used"].sum() == 30 and parts["fits"].size == 2 * 8 + 1
    few = layout.unpack(
        cycle_life_vector(x, q, np.zeros(30, bool), x, x, "all", ["linear", "sqrt"], 80.0, 0)
    )
    assert (
        few["end_of_life_method"] == -1 and few["fits"][-1] == -1 and np.isnan(few["end_of_life"])
    )


def test_cycle_ageing_retention_follows_the_cells_reference_cycle(example_ds):
    """#16 item 7: cycle ageing said 91.70 % at cycle 34 where the summary, relative to the
    cell's reference cycle, said 92.37 %. Same reference, same retention."""
    from batteryviz.analysis.summary import CycleSummary

    summary = CycleSummary(reference_cycle=5).compute(example_ds)
    life = CycleLife(reference_cycle=5).compute(example_ds)
    both = np.intersect1d(life["cycle"].values, summary["cycle"].values)
    np.testing.assert_allclose(
        life["retention_percent"].sel(cycle=both), summary["retention_percent"].sel(cycle=both)
    )
    assert "relative to cycle 5" in life["retention_percent"].attrs["definition"]
    default = CycleLife().compute(example_ds)
    first = int(default["cycle"].values[default["used_in_fit"].values][0])
    assert float(default["retention_percent"].sel(cycle=first)) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="reference cycle 999 is not in the data"):
        CycleLife(reference_cycle=999).compute(example_ds)


def test_the_fitted_curves_are_drawn_on_the_retention_of_the_reference_cycle(example_ds):
    """The fits were scaled by the first fitted cycle while retention followed the reference."""
    import holoviews as hv

    from batteryviz.analysis.ageing import fitted_curves
    from batteryviz.viz import plots

    result = CycleLife(reference_cycle=30).compute(example_ds)
    x = result["x"].values[result["used_in_fit"].values]
    linear = [
        e for e in plots.cycle_life(result) if isinstance(e, hv.Curve) and e.label == "linear"
    ]
    [curve] = linear
    q_ref = float(result["discharge_capacity_ah"].sel(cycle=30))
    expected = 100 * fitted_curves(result, curve.dimension_values(0))["linear"] / q_ref
    np.testing.assert_allclose(curve.dimension_values(1), expected)
    retention = result["retention_percent"].values[result["used_in_fit"].values]
    # on the points it was fitted to (it was 10 points below them: scaled by another cycle)
    start = np.interp(x[0], curve.dimension_values(0), curve.dimension_values(1))
    assert abs(start - retention[0]) < 5
