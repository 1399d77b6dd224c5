"""Analyses render as Panel layouts with HoloViews plots, inline and in dashboards."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import pytest

import batteryviz as bv
from batteryviz.analysis.registry import ANALYSES

from .conftest import REAL


def bokeh_models(viewable):
    """Build the Bokeh document of a Panel object, as a page would (no server needed)."""
    return pn.panel(viewable).get_root()


@pytest.mark.parametrize("name", ["summary", "dqdu", "dvdq", "rate", "cycle_life"])
def test_every_cycling_analysis_renders_with_widgets_and_a_plot(name, example_ds):
    analysis = ANALYSES[name]()
    if name == "dqdu":
        analysis.cycles = [1, 20]
    view = analysis.view(example_ds)
    root = bokeh_models(view)
    assert root is not None
    grid = view.render()
    assert grid.select(pn.pane.Bokeh), grid  # figures, drawn
    assert isinstance(view.figure(), hv.core.Dimensioned)


def test_impedance_view(example_ds):
    view = bv.Impedance().view(bv.read(REAL / "eis" / "impedancepy_exampleData.csv"))
    bokeh_models(view)
    assert view.render().select(pn.pane.Bokeh)


def test_changing_a_parameter_changes_the_plot(example_ds):
    analysis = bv.CycleSummary()
    view = analysis.view(example_ds)
    first = view.figure()
    analysis.reference_cycle = 15
    second = view.figure()
    retention = lambda layout: layout[1].Curve.I.data  # noqa: E731 - the retention curve's data
    a, b = retention(first), retention(second)
    assert not np.allclose(a.iloc[:, 1], b.iloc[:, 1])
    assert b.iloc[14, 1] == pytest.approx(100.0)


def test_errors_show_as_a_message_not_a_traceback(example_ds):
    pane = bv.DifferentialCapacity(cycles=[999]).view(example_ds).render()
    assert isinstance(pane, pn.pane.Alert) and "999" in pane.object


def test_panel_of_an_analysis_without_data_explains_what_to_do():
    analysis = bv.RateCapability()
    bokeh_models(analysis)
    assert "analysis.view(ds)" in analysis.view().render().object


def test_two_views_of_one_analysis_keep_their_own_data(example_ds):
    """The analysis stores nothing of its views: a second view(ds2) does not retarget the first."""
    analysis = bv.CycleSummary()
    first = analysis.view(example_ds)
    second = analysis.view(example_ds.isel(record=slice(0, example_ds.sizes["record"] // 2)))
    n_first = len(first.figure()[1].Curve.I.data)  # the retention curve, a point per cycle
    n_second = len(second.figure()[1].Curve.I.data)
    assert n_first > n_second and first.data is example_ds


def test_a_thousand_dqdu_curves_are_rasterised_by_datashader():
    import xarray as xr

    from batteryviz.viz import plots

    v = np.linspace(3.0, 4.2, 333)
    curves = np.array([np.exp(-(((v - 3.6 - 1e-4 * k) / 0.05) ** 2)) for k in range(1000)])
    result = xr.Dataset(
        {"charge_dqdu": (("cycle", "charge_voltage"), curves, {"units": "mAh/V"})},
        coords={"cycle": np.arange(1, 1001), "charge_voltage": v},
    )
    plot = plots.dqdu_overlay(result, "charge", peaks=False)
    assert isinstance(
        plot, hv.DynamicMap
    )  # rasterised: the browser gets an image, not 333,000 glyphs
    hv.render(plot, backend="bokeh")
    few = plots.dqdu_overlay(result.isel(cycle=slice(0, 5)), "charge", peaks=False)
    assert (
        isinstance(few, hv.Overlay) and len(few) == 5
    )  # five real curves, each with a legend entry


@pytest.mark.parametrize("n_tracks", [5, 40])
def test_peak_tracks_render_with_plain_colours_one_per_track(n_tracks):
    # many tracks: one grey line and points coloured by track, the colours written as strings
    # in the data (no colour-mapper transform for the browser to apply)
    import xarray as xr
    from bokeh.models import GlyphRenderer

    from batteryviz.viz.plots import peak_track_plot
    from batteryviz.viz.render import render

    cycles = np.arange(1, 9)
    voltage = 3.0 + 0.01 * np.arange(n_tracks)[:, None] + 0.001 * cycles[None, :]
    tracks = xr.Dataset(
        {"voltage": (("track", "cycle"), voltage)},
        coords={"cycle": cycles, "track": np.arange(n_tracks)},
    )
    [figure] = render(peak_track_plot(tracks))
    glyphs = [r for r in figure.renderers if isinstance(r, GlyphRenderer)]
    if n_tracks <= 12:
        assert len(glyphs) == 2 * n_tracks  # a line and points per track, with a legend entry
        # the legend beside the plot, not over the tracks it names (#16 item 13)
        from bokeh.models import Legend

        assert [type(m) for m in figure.right if isinstance(m, Legend)] == [Legend]
        assert not [m for m in figure.center if isinstance(m, Legend)]
        return
    assert len(glyphs) == 2
    points = next(r for r in glyphs if type(r.glyph).__name__ == "Scatter")
    colour = points.glyph.fill_color
    from bokeh.models import Transform

    assert not isinstance(colour.transform, Transform)
    data = points.data_source.data
    colours = np.asarray(data[colour.field])
    assert all(isinstance(c, str) and c.startswith("#") for c in colours)
    # the same track always has the same colour, neighbouring tracks different ones
    track = np.asarray(data["track"])
    for t in np.unique(track):
        assert len(set(colours[track == t])) == 1
    assert colours[track == 0][0] != colours[track == 1][0]


def test_a_figure_that_is_not_defined_says_so_instead_of_zero(example_ds):
    """A charge-only file has no coulombic efficiency or retention: not 0.00 (#16 item 6)."""
    from batteryviz.ui import views

    ds = example_ds.copy()
    ds["current_ampere"] = abs(ds["current_ampere"])  # every step charges
    analysis = ANALYSES["summary"]()
    result = analysis.compute(ds)
    shown = {
        label: fmt.format(value=value)
        for label, value, fmt in views.prepare(analysis, "summary", result).numbers
    }
    assert shown["Mean CE (%)"] == shown["Final retention (%)"] == views.NOT_DEFINED
    assert shown["Cycles"] != views.NOT_DEFINED
    rows = [r for r in views.build(analysis, "summary", result) if isinstance(r, pn.FlexBox)]
    numbers = [n for r in rows for n in r.objects if isinstance(n, pn.indicators.Number)]
    assert any(n.format == views.NOT_DEFINED for n in numbers)


def test_an_implausible_figure_is_flagged_above_the_table(example_ds):
    from batteryviz.ui import views

    ds = example_ds.copy()
    current = ds["current_ampere"].values.copy()
    current[current < 0] *= 2.0  # discharge current misread at twice its size: CE near 200 %
    ds["current_ampere"] = ("record", current)
    for name in [v for v in ds.data_vars if "discharging_capacity" in v]:
        ds = ds.drop_vars(name)  # capacity from the (misread) current
    analysis = ANALYSES["summary"](capacity_source="integration")
    result = analysis.compute(ds)
    view = views.prepare(analysis, "summary", result)
    assert view.warnings and view.warnings[0].startswith("Implausible Mean CE (%)")
    plain = views.prepare(analysis, "summary", analysis.compute(example_ds))
    assert not any(w.startswith("Implausible") for w in plain.warnings)


def test_the_report_flags_implausible_and_undefined_figures_as_the_tiles_do(example_ds, tmp_path):
    from batteryviz.export import write_report

    ds = example_ds.copy()
    current = ds["current_ampere"].values.copy()
    current[current < 0] *= 2.0  # discharge misread at twice its size: CE near 200 %
    ds["current_ampere"] = ("record", current)
    for name in [v for v in ds.data_vars if "discharging_capacity" in v]:
        ds = ds.drop_vars(name)
    analysis = ANALYSES["summary"](capacity_source="integration")
    lines = write_report(tmp_path / "r.txt", ds, analysis.compute(ds)).read_text().splitlines()
    k = next(
        i
        for i, line in enumerate(lines)
        if line.strip().startswith("mean_coulombic_efficiency_percent:")
    )
    assert lines[k + 1].strip().startswith("! Implausible Mean CE (%)"), lines[k : k + 2]
    charge_only = example_ds.copy()
    charge_only["current_ampere"] = abs(charge_only["current_ampere"])
    text = write_report(
        tmp_path / "c.txt", charge_only, ANALYSES["summary"]().compute(charge_only)
    ).read_text()
    assert "mean_coulombic_efficiency_percent: not defined" in text and ": nan" not in text
    plain = write_report(tmp_path / "p.txt", example_ds, analysis.compute(example_ds))
    assert "Implausible" not in plain.read_text()


def test_dvdq_axes_have_units_and_its_range_is_set_by_the_curves_not_their_end_spikes(example_ds):
    """#16 item 9: dV/dQ had no units, and the spikes at the curves' ends set its y range so the
    middle was a flat line."""
    result = bv.DifferentialVoltage(cycles=list(range(1, 35, 3))).compute(example_ds)
    figure = bv.DifferentialVoltage().plot(result)
    for panel, d in zip(figure, ("charge", "discharge")):
        bokeh = hv.render(panel, backend="bokeh")
        assert bokeh.xaxis[0].axis_label == "Capacity (Ah)"
        assert bokeh.yaxis[0].axis_label == "dU/dQ (V/Ah)"
        values = result[f"{d}_dvdq"].values
        low, high = panel.opts.get().kwargs["ylim"]
        for curve in values:  # the middle 80 % of every curve is in view
            bulk = np.nanpercentile(curve, [10, 90])
            assert low <= bulk[0] and high >= bulk[1]
        assert high - low < 0.5 * (np.nanmax(values) - np.nanmin(values))  # the spikes are not


def test_many_dqdu_curves_get_a_colour_bar_and_their_peaks_a_track_plot(example_ds):
    """#16 item 9/13: 20 cycles had a legend showing 10 of them and hundreds of peak markers."""
    result = bv.DifferentialCapacity(cycles=list(range(1, 21))).compute(example_ds)
    figure = bv.DifferentialCapacity().plot(result)
    overlay = figure[0]
    colorbars = [
        e for e in overlay if isinstance(e, hv.Scatter) and e.opts.get().kwargs.get("colorbar")
    ]
    assert len(colorbars) == 1 and sorted(colorbars[0]["cycle"]) == list(range(1, 21))
    assert not [
        e for e in overlay if isinstance(e, hv.Scatter) and e.opts.get().kwargs.get("marker")
    ]
    assert any("Peak voltage by track" in str(p.opts.get().kwargs.get("title")) for p in figure)
    few = bv.DifferentialCapacity().plot(result.isel(cycle=slice(0, 3)))[0]
    assert any(
        isinstance(e, hv.Scatter) and e.opts.get().kwargs.get("marker") == "diamond" for e in few
    )


def test_a_constant_voltage_spike_does_not_set_the_dqdu_range():
    """#16 item 9: the spike where a charge ends at constant voltage (dU -> 0) set the y range of
    dQ/dU and flattened its peaks. A real Arbin export whose charge ends in such a step."""
    from batteryviz.viz import plots

    from .test_corpus import CORPUS

    result = bv.DifferentialCapacity().compute(bv.read(CORPUS / "arbin/battdat_arbin_example.csv"))
    y, v = result["charge_dqdu"].values, result["charge_voltage"].values
    away_from_ends = plots.interior(v, y)
    assert np.nanmax(y) > 10 * np.nanmax(away_from_ends)  # the spike, at the curve's end
    low, high = plots.dqdu_overlay(result, "charge").opts.get().kwargs["ylim"]
    assert np.nanmax(away_from_ends) <= high < np.nanmax(y) / 5


def test_widget_labels_write_units_in_brackets_and_acronyms_in_capitals():
    """Polish (#16): labels read "Ce convention", "Kk per decade", "Nominal capacity mah"."""
    from batteryviz.analysis.base import unit_label

    assert unit_label("nominal_capacity_mah") == "Nominal capacity (mAh)"
    assert unit_label("plausible_specific_capacity_mah_g") == "Plausible specific capacity (mAh/g)"
    assert unit_label("threshold_percent") == "Threshold (%)"
    assert unit_label("kk_max_residual") == "KK max residual"
    labels = {n: p.label for n, p in bv.CycleSummary().param.objects("existing").items()}
    assert (
        labels["ce_convention"] == "CE convention"
        and labels["active_mass_mg"] == "Active mass (mg)"
    )
    layout = pn.panel(bv.Impedance().view())
    names = {w.name for w in layout.select(pn.widgets.Widget)}
    assert "KK elements per decade" in names and not any(
        n.endswith((" mah", " mg", " v")) for n in names
    )


def test_small_numbers_get_an_input_box_not_a_slider_that_rounds_them_to_zero():
    """Polish (#16): a slider rounded the rest-current fraction 0.002 to 0."""
    summary = bv.CycleSummary()
    layout = pn.panel(summary.view())
    [widget] = [w for w in layout.select(pn.widgets.Widget) if w.name == "Rest current fraction"]
    assert isinstance(widget, pn.widgets.FloatInput) and widget.value == 0.002


def test_a_subclass_of_an_analysis_draws_as_the_class_it_extends(example_ds):
    class LabSummary(bv.CycleSummary):
        """A lab's own summary defaults."""

    result = LabSummary().compute(example_ds)
    assert result.attrs["analysis"] == "LabSummary"
    figure = LabSummary().plot(result)
    assert isinstance(figure, hv.Layout) and len(figure) == 4  # the summary's four panels


def test_a_view_renders_its_new_data_and_is_headed_by_the_title(example_ds):
    view = bv.CycleSummary().view(example_ds)
    layout = pn.panel(view)
    assert "Cycle summary" in layout[0][0].object  # the heading is the analysis's title
    first = view.figure()[1].Curve.I.data
    view.data = example_ds.isel(record=slice(0, example_ds.sizes["record"] // 2))
    assert len(view.figure()[1].Curve.I.data) < len(first)


def test_the_voltage_window_plot_names_its_axis_voltage():
    import xarray as xr
    from bokeh.models import LinearAxis

    from batteryviz.viz.plots import voltage_window
    from batteryviz.viz.render import render

    summary = xr.Dataset(
        {"min_voltage_v": ("cycle", [2.8, 2.8]), "max_voltage_v": ("cycle", [4.2, 4.2])},
        coords={"cycle": [1, 2]},
    )
    [figure] = render(voltage_window(summary))
    labels = {a.axis_label for a in figure.left if isinstance(a, LinearAxis)}
    assert labels == {"Voltage (V)"}  # was "Min voltage (V)" for a plot of both


def test_figures_side_by_side_share_a_row_and_wrap_when_it_is_too_narrow(example_ds):
    """A two-column Layout becomes two flex items a row, each half the row but no narrower
    than MIN_PLOT_WIDTH: a narrow output area wraps them instead of drawing past its edge."""
    from batteryviz.viz.render import MIN_PLOT_WIDTH, plot_grid

    grid = plot_grid(bv.CycleSummary().view(example_ds).figure())
    assert isinstance(grid, pn.FlexBox) and grid.flex_wrap == "wrap"
    items = grid.objects
    assert len(items) == 4
    for item in items:
        assert item.styles["min-width"] == f"{MIN_PLOT_WIDTH}px"
        assert item.styles["flex"].startswith("1 1 calc(50.0000%")
        [figure] = item.select(pn.pane.Bokeh)
        assert figure.object.sizing_mode == "stretch_width"
