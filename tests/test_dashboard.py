"""The dashboard's behaviour, driven from Python (the browser tests cover the same paths in
Chromium).

Real workspaces on disk, the real analyses; every download opened with the library a user would.
"""

from __future__ import annotations

import asyncio
import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import panel as pn
import pytest
import xarray as xr

from batteryviz.store import Workspace
from batteryviz.ui import Dashboard, jobs
from batteryviz.viz.markup import to_text


def _alerts(obj, kind=None) -> list[str]:
    """The text a user reads in the alerts of `obj` (rendered from their Markdown)."""
    return [
        to_text(a.object) for a in obj.select(pn.pane.Alert) if kind is None or a.alert_type == kind
    ]


def _upload(dashboard, source, name: str | None = None) -> None:
    """Upload the file ``source`` (as ``name``) as a drop would hand it over."""
    asyncio.run(
        dashboard._on_upload(SimpleNamespace(new={name or source.name: source.read_bytes()}))
    )


@pytest.fixture
def dashboard(tmp_path):
    board = Dashboard(Workspace(str(tmp_path), "alice"))
    asyncio.run(board.open_first())
    return board


def test_opens_the_example_and_summarises_it(dashboard):
    assert dashboard.record.example and dashboard.cell == dashboard.record.id
    summary = dashboard.results[dashboard.cell]["summary"]
    assert summary.sizes["cycle"] == 34
    # the cell's nominal capacity reached the analysis
    assert '"nominal_capacity_mah": 5000.0' in summary.attrs["parameters"]
    tab = dashboard.tabs_by_name["summary"]
    assert [d.filename.rsplit("_summary", 1)[1] for d in tab.downloads] == [
        ".csv",
        ".xlsx",
        ".origin.txt",
        ".mat",
        ".nc",
        ".report.txt",
    ]


def test_upload_good_and_bad_files(dashboard, real):
    good = real / "arbin" / "pyprobe_sample_data_arbin.csv"
    event = SimpleNamespace(
        new={good.name: good.read_bytes(), "notes.txt": b"eggs\nmilk\n", "empty.csv": b""}
    )
    asyncio.run(dashboard._on_upload(event))
    messages = dashboard.upload_messages
    assert any(good.name in m and "arbin" in m for m in _alerts(messages, "success"))
    failures = _alerts(messages, "danger")
    assert any(m.startswith("notes.txt: not a format") for m in failures)
    assert any(m.startswith("empty.csv") and "empty" in m for m in failures)
    assert not any("Traceback" in m for m in failures)
    assert len(dashboard.workspace.cells()) == 2  # the example and the good upload only
    assert dashboard.record.filename == good.name  # the new cell is on screen


def test_another_users_cell_cannot_be_opened(tmp_path, real):
    upload = real / "arbin" / "pyprobe_sample_data_arbin.csv"
    alice = Workspace(str(tmp_path), "alice")
    secret = alice.add(upload.name, upload.read_bytes())
    bob = Dashboard(Workspace(str(tmp_path), "bob"))

    async def open_alices():
        bob.cell = secret.id
        await bob._loading

    asyncio.run(open_alices())
    assert bob.record is None and bob.dataset is None
    assert any("no cell" in m for m in _alerts(bob.overview, "warning"))
    assert secret.id in [
        c.id for c in Workspace(str(tmp_path), "alice").cells()
    ]  # alice still has it
    assert upload.name not in str(bob.cell_select.options)


def test_metadata_form_feeds_the_analyses(dashboard):
    dashboard.meta_widgets["active_mass_mg"].value = "25000,5"
    asyncio.run(dashboard._on_save_metadata())
    assert dashboard.workspace.get(dashboard.cell).metadata["active_mass_mg"] == 25000.5
    summary = dashboard.results[dashboard.cell]["summary"]
    q = summary["discharge_capacity_ah"].values
    np.testing.assert_allclose(
        summary["specific_discharge_capacity_mah_g"].values, q * 1000 / 25.0005
    )
    dashboard.meta_widgets["active_mass_mg"].value = "-1"
    asyncio.run(dashboard._on_save_metadata())
    assert any("positive" in m for m in _alerts(dashboard.notice, "danger"))


def test_cycle_selection_and_errors_are_messages(dashboard):
    tab = dashboard.tabs_by_name["dqdu"]
    dashboard.cycles = "1-30:10"
    result = asyncio.run(tab.run())
    assert list(result["cycle"].values) == [1, 11, 21]
    # the analysis's key figures and tables, as it declares them: a tile and a titled table
    from batteryviz.analysis.dqdu import peak_table

    found = [n for n in tab.output.select(pn.indicators.Number) if n.name == "Peaks found"]
    assert [n.value for n in found] == [len(peak_table(result))] and found[0].value > 0
    assert any(
        "Peaks" in m.object and "rows" in m.object for m in tab.output.select(pn.pane.Markdown)
    )
    dashboard.cycles = "1-x"
    assert asyncio.run(tab.run()) is None
    assert any("cannot read '1-x'" in m for m in _alerts(tab.output, "danger"))
    # an analysis that does not apply to this cell says why
    dashboard.cycles = ""
    eis = dashboard.tabs_by_name["impedance"]
    assert asyncio.run(eis.run()) is None
    [message] = _alerts(eis.output, "danger")
    assert message.startswith("EIS:") and "Traceback" not in message


@pytest.mark.parametrize("key", ["dqdu", "dvdq", "rate", "cycle_life"])
def test_every_cycling_tab_shows_its_plot_and_table_without_an_error(dashboard, key):
    tab = dashboard.tabs_by_name[key]
    dashboard.cycles = "1-34:3" if key in ("dqdu", "dvdq") else ""
    result = asyncio.run(tab.run())
    assert result is not None
    asyncio.run(tab.display(force=True))
    assert not _alerts(tab.output, "danger") and not _alerts(tab.output, "warning")
    assert tab.output.select(pn.pane.Bokeh) or tab.output.select(pn.pane.HoloViews)
    table = tab.output.select(pn.widgets.Tabulator)[-1]  # the result's own table comes last
    assert len(table.value) > 0


def test_every_download_opens(dashboard, tmp_path):
    from openpyxl import load_workbook
    from scipy.io import loadmat

    dashboard.cycles = "1,20"
    asyncio.run(dashboard.tabs_by_name["dqdu"].run())
    for key in ("summary", "dqdu"):
        tab = dashboard.tabs_by_name[key]
        files = {d.filename.rsplit(f"_{key}", 1)[1]: d for d in tab.downloads}
        data = {suffix: d.callback().getvalue() for suffix, d in files.items()}
        table = pd.read_csv(io.BytesIO(data[".csv"]))
        result = dashboard.results[dashboard.cell][key]
        expected = (
            34
            if key == "summary"
            else sum(
                int(np.isfinite(result[f"{d}_dqdu"].values).sum()) for d in ("charge", "discharge")
            )
        )
        assert len(table) == expected
        (tmp_path / "book.xlsx").write_bytes(data[".xlsx"])
        sheets = load_workbook(tmp_path / "book.xlsx", read_only=True).sheetnames
        assert {"Summary", "Cycle Data", "dQdU Data", "Peak Data", "Parameters"} <= set(sheets)
        origin = data[".origin.txt"].decode().splitlines()
        assert origin[0].split("\t") == list(table.columns) and len(origin) == len(table) + 3
        (tmp_path / "r.mat").write_bytes(data[".mat"])
        assert {"summary", "dqdu"} <= set(loadmat(tmp_path / "r.mat"))
        with xr.open_dataset(io.BytesIO(data[".nc"])) as nc:
            assert nc.attrs["analysis"] == (
                "CycleSummary" if key == "summary" else "DifferentialCapacity"
            )
        report = data[".report.txt"].decode()
        assert "basytec_rate_fade.txt" in report
        # the reader of the uploaded file, not of the BDF copy the workspace keeps (polish, #16)
        assert "reader: basytec (stored as bdf)" in report


def test_compare_two_cells(dashboard, simulated_de_path):
    _upload(dashboard, simulated_de_path)
    compare = dashboard.compare
    compare.cells.value = [c.id for c in dashboard.workspace.cells()]
    compare.curve_cycle.value = 10
    asyncio.run(compare._compare())
    from bokeh.models import GlyphRenderer

    # figures rendered off the event loop: Bokeh figures, one line per cell (per half cycle)
    [by_cycle, dqdu] = [p.object for p in compare.output.select(pn.pane.Bokeh)]
    lines = [r for r in by_cycle.renderers if isinstance(r, GlyphRenderer)]
    assert len(lines) == 2
    # the two exports of the same simulated cell agree cycle by cycle
    a, b = (np.asarray(r.data_source.data[r.glyph.y]) for r in lines)
    np.testing.assert_allclose(a, b, rtol=1e-4)
    assert (
        len([r for r in dqdu.renderers if isinstance(r, GlyphRenderer)]) == 4
    )  # charge and discharge of both cells


def test_url_state_round_trip(dashboard):
    dashboard.tab = "dqdu"
    assert dashboard.tabs.active == dashboard.tab_names.index("dqdu")
    dashboard.tabs.active = dashboard.tab_names.index("compare")
    assert dashboard.tab == "compare"


def test_heavy_work_goes_to_the_configured_cluster(tmp_path, monkeypatch):
    from distributed import LocalCluster

    ws = Workspace(str(tmp_path), "alice")
    cell = ws.cells()[0]
    params = jobs.analysis_parameters(
        __import__("batteryviz").CycleSummary, cell.metadata, None, {}
    )
    local = asyncio.run(
        jobs.run(jobs.compute_analysis, ws.root, ws.user, cell.id, "summary", params)
    )
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        monkeypatch.setenv("BATTERYVIZ_SCHEDULER", cluster.scheduler_address)
        try:
            remote = asyncio.run(
                jobs.run(jobs.compute_analysis, ws.root, ws.user, cell.id, "summary", params)
            )
            client = jobs._client(cluster.scheduler_address)
            prefixes = client.run_on_scheduler(
                lambda dask_scheduler: list(dask_scheduler.task_prefixes)
            )
        finally:
            jobs.close_clients()
    assert "compute_analysis" in prefixes  # the scheduler ran the job
    xr.testing.assert_allclose(local[["discharge_capacity_ah"]], remote[["discharge_capacity_ah"]])


def test_files_arriving_while_a_stored_cell_opens_are_stored_and_reported(
    dashboard, real, tmp_path
):
    """The drop zone hands over files one by one as they finish arriving; one arriving while
    the previous upload's cell is being opened was once left waiting for the next drop, and a
    refusal reported meanwhile was overwritten by the upload messages."""
    import hashlib
    import shutil

    good = real / "arbin" / "pyprobe_sample_data_arbin.csv"
    spooled = tmp_path / "spool-a"
    shutil.copy(good, spooled)
    notes = tmp_path / "spool-b"
    notes.write_bytes(b"eggs\nmilk\n")
    good_id = hashlib.sha256(good.read_bytes()).hexdigest()[:16]

    async def scenario():
        dashboard._on_spooled(good.name, spooled)
        while dashboard.cell != good_id:  # the first file is stored; its cell is being opened
            await asyncio.sleep(0.005)
        dashboard._on_spooled("notes.txt", notes)
        dashboard._on_refused("huge.txt", "the file is larger than the 500 MiB this server accepts")
        while dashboard._draining is not None and not dashboard._draining.done():
            await dashboard._draining

    asyncio.run(scenario())
    assert dashboard._uploads == []  # nothing left waiting
    assert not notes.exists() and not spooled.exists()  # both spools consumed
    texts = _alerts(dashboard.upload_messages)
    assert any(t.startswith(good.name) and "arbin" in t for t in texts)
    assert any(t.startswith("notes.txt: not a format") for t in texts)
    assert any(t.startswith("huge.txt: not uploaded") for t in texts)
    assert dashboard.cell == good_id  # the last file stored stays open


def test_files_of_one_drop_stored_by_separate_tasks_all_keep_their_message(
    dashboard, real, tmp_path
):
    """A small file finishing before a large one of the same drop is stored (and its task ends)
    first; the large one's message joins it instead of replacing it."""
    notes = tmp_path / "spool-notes"
    notes.write_bytes(b"eggs\nmilk\n")
    good = tmp_path / "spool-good"
    good.write_bytes((real / "arbin" / "pyprobe_sample_data_arbin.csv").read_bytes())

    async def scenario():
        dashboard._on_spooled("notes.txt", notes)
        await dashboard._draining
        dashboard._on_spooled("cell.csv", good)
        await dashboard._draining

    asyncio.run(scenario())
    texts = _alerts(dashboard.upload_messages)
    assert [t.split(":")[0] for t in texts] == ["notes.txt", "cell.csv"]
    for k in range(20):  # a long session shows only the latest messages
        dashboard._on_refused(f"big{k}.txt", "too large")
    from batteryviz.ui.app import UPLOAD_MESSAGES

    assert len(dashboard.upload_messages) == UPLOAD_MESSAGES and _alerts(dashboard.upload_messages)[
        -1
    ].startswith("big19.txt")


def test_a_file_without_cycles_stores_opens_and_every_tab_says_why(dashboard, real):
    """A real Maccor export of 8 rest records (#16 item 3): it once crashed the upload with an
    IndexError and left a half cell; analyses that need cycles now say so."""
    from batteryviz.analysis.registry import ANALYSES
    from batteryviz.errors import BatteryvizError

    source = real / "maccor" / "battdat_maccor_example.001"
    _upload(dashboard, source)
    assert any("0 cycles" in t for t in _alerts(dashboard.upload_messages, "success"))
    assert dashboard.record.filename == source.name and dashboard.record.cycles == 0
    assert source.name in [c.filename for c in dashboard.workspace.cells()]  # listed: stored whole
    for key, tab in dashboard.tabs_by_name.items():
        asyncio.run(tab.ensure_built())
        result = asyncio.run(tab.run())
        texts = _alerts(tab.output)
        if result is None:  # refused: a sentence, never an exception's name or a traceback
            assert texts, key
            assert not any(
                word in t
                for t in texts
                for word in ("KeyError", "TypeError", "IndexError", "Traceback")
            ), texts
    ds = dashboard.dataset
    for name, cls in ANALYSES.items():
        try:
            cls().compute(ds)
        except BatteryvizError:
            pass  # says what is missing, naming the file
        except ValueError as exc:
            assert "min_storage_h" in str(exc) or "cycles" in str(exc), (name, exc)


@pytest.mark.parametrize(
    "relative, contents",
    [
        # 12 cycle numbers in one sweep: the page said "12 cycles" of a single spectrum
        ("biologic/bdf_PEIS-0.mpr", "1 spectrum"),
        # frequency and impedance only, no time or current: it could not be stored at all
        ("eis/impedancepy_exampleData.csv", "1 spectrum"),
    ],
)
def test_an_impedance_file_is_counted_in_spectra_and_its_tab_fits_it(
    dashboard, real, relative, contents
):
    source = real / relative
    _upload(dashboard, source)
    messages = _alerts(dashboard.upload_messages, "success")
    assert any(f"{source.name}: " in t and t.endswith(f"{contents}.") for t in messages), messages
    assert dashboard.record.filename == source.name and dashboard.record.impedance_only
    assert dashboard.record.contents == contents
    overview = " ".join(p.object for p in dashboard.overview.select(pn.pane.HTML))
    assert "Contents" in overview and contents in overview
    tab = dashboard.tabs_by_name["impedance"]
    asyncio.run(tab.ensure_built())
    result = asyncio.run(tab.run())
    assert result is not None and result.sizes["spectrum"] == 1


def test_a_failed_download_is_saved_as_text_named_so_not_as_the_promised_format(
    dashboard, monkeypatch
):
    import batteryviz.ui.app as app

    tab = dashboard.tabs_by_name["summary"]
    asyncio.run(tab.display(force=True))
    button = next(b for b in tab.downloads if b.filename.endswith(".xlsx"))
    good_name = button.filename

    def refuse(*_args, **_kwargs):
        raise ValueError("the dvdq table has 9,999,999 rows; download it as CSV or netCDF instead")

    monkeypatch.setattr(app, "export_bytes", refuse)
    data = button.callback().read()
    assert button.filename.endswith(".xlsx-error.txt") and b"download it as CSV" in data
    assert any("download it as CSV" in t for t in _alerts(dashboard.notice))
    monkeypatch.undo()
    data = button.callback().read()
    assert button.filename == good_name and data[:2] == b"PK"  # a real workbook again


def test_comparing_cells_never_replaces_a_cells_own_results(dashboard):
    """Compare's "dQ/dU of cycle N" once saved its one-cycle dQ/dU as each compared cell's dQ/dU,
    so the cell's dQ/dU tab (and its link) then showed cycle N whatever its own cycles were."""
    cell = dashboard.record.id
    dashboard.cycles = "1,10,20"
    result = asyncio.run(dashboard.tabs_by_name["dqdu"].run())
    assert list(result["cycle"].values) == [1, 10, 20]
    compare = dashboard.compare
    compare.cells.value = [cell]
    compare.curve_cycle.value = 5
    asyncio.run(compare._compare())
    assert len(compare.output.select(pn.pane.Bokeh)) == 2  # the comparison was drawn
    stored = dashboard.workspace.load_result(cell, "dqdu")
    assert list(stored["cycle"].values) == [1, 10, 20]  # the cell's own dQ/dU, not cycle 5
    assert list(dashboard.results[cell]["dqdu"]["cycle"].values) == [1, 10, 20]


def test_a_cell_is_deleted_only_by_a_second_click(dashboard, real):
    """#16 item 11: no way to delete a cell from the page."""
    source = real / "arbin" / "pyprobe_sample_data_arbin.csv"
    _upload(dashboard, source)
    doomed = dashboard.record.id
    asyncio.run(dashboard._on_delete())  # the first click only asks
    assert doomed in [c.id for c in dashboard.workspace.cells()]
    assert any("Click the button again" in t for t in _alerts(dashboard.notice))
    asyncio.run(dashboard._on_delete())
    assert doomed not in [c.id for c in dashboard.workspace.cells()]
    assert doomed not in dashboard.cell_select.options.values() and doomed not in dashboard.results
    assert (
        dashboard.record is not None and dashboard.record.id != doomed
    )  # the remaining cell is open
    asyncio.run(dashboard._on_delete())  # a first click on the next cell asks again
    assert dashboard.record.id in [c.id for c in dashboard.workspace.cells()]


def test_a_stored_result_for_other_cycles_says_so(dashboard):
    """#16 item 4: a result shown must match its URL, or say it does not."""
    dashboard.cycles = "1-30:5"
    tab = dashboard.tabs_by_name["dqdu"]
    asyncio.run(tab.run())
    assert not any("stored result" in t for t in _alerts(tab.output))
    dashboard.cycles = "1,10,20"  # a link or the Cycles box now names other cycles
    tab._shown = None
    asyncio.run(tab.display(force=True))
    notes = [t for t in _alerts(tab.output, "info") if "stored result" in t]
    assert len(notes) == 1
    assert (
        "cycles 1-26:5" in notes[0] and "cycles 1, 10, 20" in notes[0] and "press Run" in notes[0]
    )


def test_cycle_lists_read_as_short_ranges():
    from batteryviz.cycles import format_cycles

    assert format_cycles([1, 2, 3, 10, 20, 30]) == "1-3, 10-30:10"
    assert format_cycles([1, 6, 11, 16, 21, 26]) == "1-26:5"
    assert format_cycles([1, 10, 20]) == "1, 10, 20"
    assert format_cycles([3, 1, 2, 2]) == "1-3"
    assert format_cycles(range(1, 1000, 2), max_parts=8) == "1-999:2"
    assert format_cycles([1, 2, 4, 8, 16, 32, 64, 128, 256, 512], max_parts=3).endswith(", …")


def test_the_overview_names_the_file_as_uploaded_escaped_and_stores_it_under_a_safe_name(
    dashboard, real
):
    """The Overview showed the storage name ('_img src=x onerror=alert(1)_.txt') where a
    user expects the name they uploaded; it now shows that name, as text."""
    hostile = "<img src=x onerror=alert(1)> cell 7.txt"
    source = real / "basytec" / "pyprobe_sample_data_basytec.txt"
    _upload(dashboard, source, hostile)
    record = dashboard.record
    assert record.uploaded_as == hostile and record.display_name == hostile
    assert "<" not in record.filename and ">" not in record.filename  # the storage name
    stored = dashboard.workspace.fs.ls(f"{dashboard.workspace._cell_dir(record.id)}/original")
    assert [p.rsplit("/", 1)[-1] for p in stored] == [record.filename]
    overview = " ".join(p.object for p in dashboard.overview.select(pn.pane.HTML))
    assert "&lt;img src=x onerror=alert(1)&gt; cell 7.txt" in overview
    assert "<img" not in overview
    assert hostile in record.label and record.label in dashboard.cell_select.options


#: A table whose German column names no reader knows: time in minutes, current in mA.
UNKNOWN_COLUMNS = "Lab notebook export, cell 7\nZeitpunkt;Spannung;Strom;Zyklus\n" + "".join(
    f"{t};{v:.3f};{i};1\n"
    for t, v, i in [(0, 3.5, 100), (1, 3.6, 100), (2, 3.7, 100), (3, 3.6, -100), (4, 3.5, -100)]
)


def _column_forms(dashboard) -> int:
    return sum("bv-column-form" in c.css_classes for c in dashboard.upload_messages.select(pn.Card))


def test_a_table_of_unknown_columns_is_read_with_the_columns_named_in_the_page(dashboard):
    """A browser user was told to call bv.read(..., format='generic', columns=...). The page
    now says so in its own terms and offers the column form; the columns chosen there (with
    units) read the file, and the cell keeps how it was read."""
    from batteryviz.ui.mapping import ColumnForm

    name = "notebook <7>.csv"
    asyncio.run(dashboard._on_upload(SimpleNamespace(new={name: UNKNOWN_COLUMNS.encode()})))
    [message] = _alerts(dashboard.upload_messages, "danger")
    assert "not a format batteryviz recognises" in message
    assert "bv.read" not in message and "format='generic'" not in message
    assert message.endswith("Name its columns in the form below.")
    # named once, as uploaded (it read "notebook <7>.csv: notebook _7_.csv: not a format…")
    assert message.startswith(f"{name}: not a format") and "notebook _7_" not in message
    form = dashboard._mapping[0]
    assert isinstance(form, ColumnForm) and _column_forms(dashboard) == 1  # shown
    assert form.names == ["Zeitpunkt", "Spannung", "Strom", "Zyklus"]
    # guessed from the names: a user checks them and sets the units
    assert form.selects["test_time_second"].value == "Zeitpunkt"
    assert form.selects["voltage_volt"].value == "Spannung"
    assert form.selects["current_ampere"].value == "Strom"
    assert form.selects["cycle_count"].value == "Zyklus"
    kept = dashboard._mapping[1]
    assert kept.exists()
    # the same column twice is refused before anything is read
    form.selects["voltage_volt"].value = "Zeitpunkt"
    asyncio.run(dashboard._on_read_mapped(form))
    assert "choose a different column" in _alerts(form.message)[0] and kept.exists()
    form.selects["voltage_volt"].value = "Spannung"
    form.units["test_time_second"].value = "min"
    form.units["current_ampere"].value = "mA"
    asyncio.run(dashboard._on_read_mapped(form))
    record = dashboard.record
    assert record.display_name == name and dashboard.cell == record.id
    assert record.read_with["format"] == "generic"
    assert list(record.read_with["columns"]["Strom"]) == ["current_ampere", 0.001]
    ds = dashboard.dataset
    assert ds["test_time_second"].values.tolist() == [0.0, 60.0, 120.0, 180.0, 240.0]
    assert ds["current_ampere"].values.tolist() == pytest.approx([0.1, 0.1, 0.1, -0.1, -0.1])
    assert not kept.exists() and dashboard._mapping is None
    assert _column_forms(dashboard) == 0
    assert any(
        t.startswith(f"{name}: read with the columns named")
        for t in _alerts(dashboard.upload_messages, "success")
    )


def test_a_batteryviz_error_keeps_its_python_hint_apart_across_processes():
    import pickle

    from batteryviz.errors import UnknownFormatError

    exc = UnknownFormatError("not a format batteryviz recognises", path="a.csv", hint="Call X.")
    back = pickle.loads(pickle.dumps(exc))
    assert str(back) == "a.csv: not a format batteryviz recognises Call X."
    assert back.for_page() == "a.csv: not a format batteryviz recognises"
    assert back.for_page("Use the form.").endswith("recognises Use the form.")
    assert back.renamed("b.csv").for_page() == "b.csv: not a format batteryviz recognises"


def test_a_failed_run_keeps_the_last_result_and_its_downloads_under_the_reason(dashboard):
    """After an error a tab lost its plots while the download buttons of the old result
    stayed. The reason now heads the tab; the last result stays below, said to be the last
    computed, with its downloads; a tab with no result shows the reason and no downloads."""
    tab = dashboard.tabs_by_name["summary"]
    asyncio.run(tab.display(force=True))
    downloads = list(tab.downloads)
    figures = tab.output.select(pn.pane.Bokeh)
    assert downloads and figures
    dashboard.cycles = "900-950"  # no such cycles in the cell
    assert asyncio.run(tab.run()) is None
    texts = _alerts(tab.output)
    assert "none of the selected cycles" in texts[0]
    assert texts[1].startswith("Below: the last result computed")
    assert tab.output.select(pn.pane.Bokeh) == figures and list(tab.downloads) == downloads
    dqdu = dashboard.tabs_by_name["dqdu"]  # never computed on this cell
    asyncio.run(dqdu.ensure_built())
    assert asyncio.run(dqdu.run()) is None
    [reason] = _alerts(dqdu.output)
    assert "none of the selected cycles" in reason
    assert list(dqdu.downloads) == []


def test_compare_takes_every_cycle_and_its_choices_from_the_analyses(dashboard):
    """Review finding of #16: Compare reused the summary the Cycles box had filtered, and named
    summary and dQ/dU itself. Its quantities and curves now come from the analyses'
    declarations (comparables, cycle_curves), and a filtered result is not reused."""
    from bokeh.models import GlyphRenderer

    from batteryviz.analysis.registry import ANALYSES

    compare = dashboard.compare
    declared = {c.label for cls in ANALYSES.values() for c in cls.comparables}
    assert set(compare.quantity.options) == declared
    assert (
        {k for k in compare.curve_kind.options.values() if k}
        == {k for k, cls in ANALYSES.items() if cls.cycle_curves}
        >= {"dqdu", "dvdq"}
    )
    cell = dashboard.record.id
    dashboard.cycles = "1-5"
    filtered = asyncio.run(dashboard.tabs_by_name["summary"].run())
    assert filtered.sizes["cycle"] == 5 and dashboard.results[cell]["summary"] is filtered
    compare.cells.value = [cell]
    compare.curve_kind.value, compare.curve_cycle.value = "dvdq", 10
    asyncio.run(compare._compare())
    [by_cycle, curves] = [p.object for p in compare.output.select(pn.pane.Bokeh)]
    [line] = [r for r in by_cycle.renderers if isinstance(r, GlyphRenderer)]
    assert len(line.data_source.data[line.glyph.x]) == 34  # every cycle, not the 5 selected
    assert curves.yaxis[0].axis_label == "dU/dQ (V/Ah)"
    assert curves.xaxis[0].axis_label.endswith("(Ah)")
    assert dashboard.results[cell]["summary"] is filtered  # the tab's own result untouched


def test_vq_curves_use_specific_capacity_keep_the_legend_aside_and_download(dashboard):
    """#16 item 9: V–Q was small, its legend over the fade, in Ah when a mass was set, and
    could not be downloaded."""
    from bokeh.models import Legend

    dashboard.meta_widgets["active_mass_mg"].value = "35000"  # 35 g of a 5 Ah pouch
    asyncio.run(dashboard._on_save_metadata())
    dashboard.cycles = "1-34:11"
    vq = dashboard.vq
    asyncio.run(vq._draw())
    [figure] = [p.object for p in vq.output.select(pn.pane.Bokeh)]
    assert figure.xaxis[0].axis_label == "Specific capacity (mAh/g)"
    assert figure.height >= 400 and figure.sizing_mode == "stretch_width"
    assert [type(m) for m in figure.right if isinstance(m, Legend)] == [Legend]
    [button] = vq.output.select(pn.widgets.FileDownload)
    table = pd.read_csv(button.callback())
    assert list(table.columns) == ["cycle", "specific_capacity_mah_g", "voltage_v"]
    assert sorted(table["cycle"].unique()) == [1, 12, 23, 34]
    # 35 g holding ~4.6 Ah on discharge: ~130 mAh/g at the end of each curve
    ends = table.groupby("cycle")["specific_capacity_mah_g"].max()
    assert ends.between(120, 145).all(), ends


def test_a_comparison_can_be_downloaded_as_csv(dashboard, simulated_de_path):
    _upload(dashboard, simulated_de_path)
    compare = dashboard.compare
    compare.cells.value = [c.id for c in dashboard.workspace.cells()]
    compare.curve_kind.value, compare.curve_cycle.value = "dqdu", 10
    asyncio.run(compare._compare())
    buttons = compare.output.select(pn.widgets.FileDownload)
    assert [b.filename for b in buttons] == [
        "compare_discharge_capacity_ah.csv",
        "compare_dqdu_cycle_10.csv",
    ]
    by_cycle = pd.read_csv(buttons[0].callback())
    assert list(by_cycle.columns) == ["cell", "Cycle", "Discharge capacity (Ah)"]
    assert by_cycle["cell"].nunique() == 2 and len(by_cycle) == 2 * 34
    curves = pd.read_csv(buttons[1].callback())
    assert curves["cell"].nunique() == 4  # charge and discharge of both cells


def test_a_metadata_change_can_be_undone_once(dashboard):
    """#16 item 11: no way to undo a metadata change from the page."""
    cell = dashboard.record.id
    assert not dashboard.undo_meta.visible
    before = dict(dashboard.record.metadata)
    dashboard.meta_widgets["nominal_capacity_mah"].value = "2500"
    dashboard.meta_widgets["active_mass_mg"].value = "35000"
    asyncio.run(dashboard._on_save_metadata())
    assert dashboard.workspace.get(cell).metadata["nominal_capacity_mah"] == 2500.0
    assert dashboard.undo_meta.visible and not dashboard.undo_meta.disabled
    asyncio.run(dashboard._on_undo_metadata())
    assert dashboard.workspace.get(cell).metadata == before  # the mass set is gone again
    assert (
        dashboard.meta_widgets["nominal_capacity_mah"].value
        == f"{before['nominal_capacity_mah']:g}"
    )
    assert dashboard.meta_widgets["active_mass_mg"].value == ""
    assert "restored" in _alerts(dashboard.notice, "success")[0]
    # the summary was computed again with the restored nominal capacity
    summary = dashboard.results[cell]["summary"]
    assert (
        f'"nominal_capacity_mah": {before["nominal_capacity_mah"]}' in summary.attrs["parameters"]
    )
    assert not dashboard.undo_meta.visible  # spent
