"""The batteryviz dashboard: one user's workspace of cells, analysed with the registered analyses.

The dashboard adds no science: every number comes from an analysis object (the same ones
notebooks use), with the cell's metadata and the cycle selection passed as their parameters.
Heavy work (parsing an upload, computing an analysis) runs off the event loop
(:mod:`batteryviz.ui.jobs`), so other sessions stay responsive. The view state — cell, tab and
cycle selection — lives in the URL, so a link reproduces what is on screen.

>>> from batteryviz.store import Workspace                       # doctest: +SKIP
>>> Dashboard(Workspace("~/batteryviz", user="me"))              # renders inline in JupyterLab
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import logging
from functools import partial
from pathlib import Path

import panel as pn
import param

from ..analysis.registry import ANALYSES
from ..cycles import CYCLE_MODES, format_cycles, parse_cycle_selection
from ..errors import BatteryvizError, quote
from ..export import DOWNLOADS, export_bytes
from ..store import CELL_METADATA, CellNotFoundError, CellRecord, Workspace
from ..viz import markup
from ..viz.notebook import load_extensions
from ..viz.private import fast_resources_without_font
from ..viz.render import MIN_PLOT_WIDTH, figure_panes, side_by_side
from ..viz.view import widget_types
from . import jobs, panel_fixes, views
from .loopwatch import watch_running_loop
from .upload import SpooledFileDropper

log = logging.getLogger(__name__)
_SESSIONS = itertools.count(1)

#: What the upload accepts (detection is by content; these are the usual names).
ACCEPTED = (
    ".txt",
    ".csv",
    ".tsv",
    ".xlsx",
    ".xls",
    ".mpt",
    ".mpr",
    ".res",
    ".nda",
    ".ndax",
    ".0NN (Maccor)",
    ".parquet",
)
#: Analysis parameters that come from the cell's metadata form or the cycle selection.
CELL_PARAMETERS = set(CELL_METADATA) | {"cycles", "name"}
#: Seconds within which a second click on "Delete this cell" deletes it.
DELETE_CONFIRM_S = 10.0
#: How many upload messages (one per file, newest last) the sidebar keeps showing.
UPLOAD_MESSAGES = 12


def tab_title(key: str) -> str:
    """The title an analysis declares (:meth:`Analysis.display_title`), for its tab."""
    return ANALYSES[key].display_title()


def opens_first(key: str) -> bool:
    """Whether the analysis runs when a cell opens, its tab first (``run_on_open``)."""
    return bool(getattr(ANALYSES[key], "run_on_open", False))


def error_message(exc: BaseException, what: str, advice: str = "") -> str:
    """A message a user can act on (plain text: show it with :func:`markup.alert`, never as
    markup); unexpected errors are logged with their traceback. A batteryviz error is given
    without its Python hint (a browser user cannot call ``bv.read``), with ``advice`` (what
    the page offers) instead."""
    if isinstance(exc, BatteryvizError):
        text = markup.shorten(exc.for_page(advice))
        return text if text.startswith(what) else f"{what}: {text}"
    if isinstance(exc, (ValueError, KeyError)):
        text = markup.shorten(exc)
        return text if text.startswith(what) else f"{what}: {text}"
    log.exception("%s failed", what)
    return (
        f"{what} failed unexpectedly ({type(exc).__name__}: {markup.shorten(exc, 300)}). "
        "The details are in the server log."
    )


class AnalysisTab(pn.viewable.Viewer):
    """Widgets of one registered analysis, a Run button, the plot, the table and the downloads.

    A result is drawn only when its tab is on screen, and the expensive part of drawing (HoloViews
    to Bokeh, tables) is prepared off the event loop (:func:`batteryviz.ui.views.prepare`).
    """

    def __init__(self, dashboard: "Dashboard", name: str, **params):
        super().__init__(**params)
        self.dashboard, self.key = dashboard, name
        self.analysis = ANALYSES[name]()
        self.result = None
        self._shown = None
        self._result_items: list = []  # what display() showed of the result on screen
        self.run_button = pn.widgets.Button(label="Run", color="primary", width=120)
        self.run_button.on_click(self._on_run)
        self.output = pn.Column(pn.pane.Markdown(HINT), sizing_mode="stretch_width", scroll=True)
        self.downloads = pn.FlexBox(sizing_mode="stretch_width")  # wraps on narrow screens
        self._layout = None
        self._building = None
        self.container = pn.Column(pn.pane.Markdown("Loading…"), sizing_mode="stretch_width")

    def _layout_now(self):
        """The tab's layout (parameter widgets are costly: made in a worker thread, once)."""
        names = [
            n
            for n, p in self.analysis.param.objects("existing").items()
            if n not in CELL_PARAMETERS and (p.precedence is None or p.precedence >= 0)
        ]
        widgets = pn.Param(
            self.analysis.param,
            parameters=names,
            widgets=widget_types(self.analysis, names),
            show_name=False,
            width=280,
        )
        doc = (type(self.analysis).__doc__ or "").strip().split("\n")[0]
        return side_by_side(
            pn.Column(
                pn.pane.Markdown(f"**{tab_title(self.key)}** — {doc}", width=280),
                widgets,
                self.run_button,
                width=330,
            ),  # the widgets are 300 px with their margins
            pn.Column(self.downloads, self.output, sizing_mode="stretch_width"),
        )

    async def ensure_built(self) -> None:
        """Fill the tab (once): its content replaces the placeholder in one step, so nothing a
        user can click is ever swapped out under the pointer. Concurrent callers (opening the tab
        while its cell loads) share one build: two layouts holding the same Run button and output
        would, once one is discarded, leave those widgets without a model in the page."""
        if self._building is None:
            self._building = asyncio.ensure_future(self._build_once())
        await asyncio.shield(self._building)

    async def _build_once(self) -> None:
        self._layout = await jobs.run(self._layout_now, heavy=False)
        self.container[:] = [self._layout]
        log.debug("%s: tab %s built", self.dashboard.session, self.key)

    def __panel__(self):
        return self.container

    @property
    def on_screen(self) -> bool:
        return self.dashboard.tab == self.key

    async def _on_run(self, _event=None):
        log.info("%s: Run of %s clicked", self.dashboard.session, self.key)
        await self.run()

    async def run(self):
        """Compute the analysis for the current cell (off the event loop) and show it."""
        dash = self.dashboard
        if (
            dash._loading is not None
            and not dash._loading.done()
            and asyncio.current_task() is not dash._loading
        ):
            await dash._loading  # a cell being opened: analyse that one, not the previous
        record = dash.record
        if record is None:
            self.output[:] = [markup.alert("Select or upload a cell first.", "warning")]
            return None
        try:
            cycles = dash.selected_cycles()
            params = jobs.analysis_parameters(
                type(self.analysis), record.metadata, cycles, self.analysis.param.values()
            )
        except ValueError as exc:
            self._show_error(str(exc))
            return None
        self.run_button.disabled = True
        dash.busy(f"{tab_title(self.key)} of {record.label}…")
        log.info("%s: %s of %s started", dash.session, self.key, record.filename)
        try:
            result = await jobs.run(
                jobs.compute_analysis,
                dash.workspace.root,
                dash.workspace.user,
                record.id,
                self.key,
                params,
                owner=dash.workspace.user,
            )
        except Exception as exc:  # noqa: BLE001 - shown to the user, logged when unexpected
            self._show_error(error_message(exc, tab_title(self.key)))
            return None
        finally:
            self.run_button.disabled = False
            dash.idle()
        if dash.record is None or dash.record.id != record.id:  # the user moved on meanwhile
            log.info(
                "%s: %s of %s computed, not shown (the cell changed)",
                dash.session,
                self.key,
                record.filename,
            )
            return result
        log.info("%s: %s of %s computed", dash.session, self.key, record.filename)
        dash.results.setdefault(record.id, {})[self.key] = result
        self.result = result
        await self.display(force=True)
        return result

    def _show_error(self, message: str) -> None:
        """The reason a Run failed, above the last result shown (kept, with its downloads, and
        said to be the last one computed); with no result shown, the reason alone and no
        downloads (a tab lost its plots while download buttons of the old result stayed)."""
        items = [markup.alert(message)]
        if self._result_items and self._shown is not None:
            items += [
                markup.alert(
                    "Below: the last result computed, with the parameters it states; the "
                    "downloads are of it.",
                    "info",
                ),
                *self._result_items,
            ]
        with self.dashboard.batch():
            self.output[:] = items
            if not self._result_items:
                self.downloads[:] = []

    def set_result(self, result) -> None:
        """The result to show for the current cell (``None``: nothing computed yet)."""
        self.result = result
        self._shown = None
        self._result_items = []
        if result is None and not self._showing_hint():
            with self.dashboard.batch():
                self.output[:] = [pn.pane.Markdown(HINT)]
                self.downloads[:] = []

    def _showing_hint(self) -> bool:
        return (
            len(self.output) == 1
            and isinstance(self.output[0], pn.pane.Markdown)
            and self.output[0].object == HINT
            and not len(self.downloads)
        )

    async def display(self, force: bool = False) -> None:
        """Draw the result if it is not on screen yet (``force``: even when the tab is hidden)."""
        result = self.result
        if result is None or self._shown is result or not (force or self.on_screen):
            return
        self._shown = result
        label = self.dashboard.record.stem if self.dashboard.record else "cell"
        try:
            items, downloads = await jobs.run(self._panes, result, label, heavy=False)
        except Exception as exc:  # noqa: BLE001
            with self.dashboard.batch():
                self.output[:] = [markup.alert(error_message(exc, "Plot"), "warning")]
                self.downloads[:] = []  # of an older result: not what the tab now holds
            self._result_items = []
            return
        if self.result is not result:  # a newer result arrived meanwhile
            return
        stale = self._selection_differs(result)
        if stale:
            items = [markup.alert(stale, "info"), *items]
        with self.dashboard.batch():
            self.output[:] = items
            self.downloads[:] = downloads
        self._result_items = items
        log.info("%s: %s shown", self.dashboard.session, self.key)

    def _selection_differs(self, result) -> str:
        """A sentence when the shown result was computed for other cycles than the Cycles box
        (and the link) name — a stored result opened from a link with other cycles; else ''."""
        import json

        if "cycles" not in self.analysis.param:
            return ""
        computed = json.loads(result.attrs.get("parameters", "{}")).get("cycles")
        try:
            wanted = self.dashboard.selected_cycles()
        except ValueError:
            return ""
        if computed == wanted:
            return ""

        def describe(cycles):
            return "all cycles" if cycles is None else f"cycles {format_cycles(cycles)}"

        return (
            f"Shown: the stored result for {describe(computed)}. The Cycles box selects "
            f"{describe(wanted)}: "
            "press Run to compute it."
        )

    def _panes(self, result, label: str) -> tuple[list, list]:
        """The result's panes and its download buttons (made in a worker thread)."""
        downloads = []
        for kind, (title, suffix) in DOWNLOADS.items():
            button = pn.widgets.FileDownload(
                filename=f"{label}_{self.key}{suffix}",
                label=f"⬇ {title}",
                color="light",
                width=120,
                css_classes=[f"bv-download-{kind}"],
            )
            button.callback = partial(self._download, kind, button, f"{label}_{self.key}")
            downloads.append(button)
        return views.build(self.analysis, self.key, result), downloads

    def _download(self, kind: str, button, stem: str):
        """The bytes of a download. When the export fails the user is told in the page and the
        browser saves the message as ``<stem>.<kind>-error.txt``: never a file whose name
        promises a format its content is not."""
        dash = self.dashboard
        results = dash.results.get(dash.record.id, {}) if dash.record else {}
        try:
            ds = dash.dataset if kind == "report" else None
            data = export_bytes(kind, self.key, results, ds)
        except Exception as exc:  # noqa: BLE001
            message = error_message(exc, f"{DOWNLOADS[kind][0]} export")
            dash.notify(message)
            button.filename = f"{stem}.{kind}-error.txt"
            return io.BytesIO(message.encode())
        button.filename = f"{stem}{DOWNLOADS[kind][1]}"  # a failure before may have renamed it
        return io.BytesIO(data)


HINT = "Choose the parameters and press **Run**."


#: Panel's Tabs hide an inactive tab by making it invisible in a grid cell every tab shares, so
#: the tabs were as tall as the tallest tab ever shown (~1,500 px of blank space under the
#: Overview inline in a notebook, a long empty scroll in the page); taken out of the layout
#: instead, the tabs are as tall as the tab shown.
#: The tab titles wrap onto a second line rather than the last being cut ("Comp") at 1366 px.
TABS_CSS = """
[aria-hidden="true"] { display: none !important; }
.bk-headers-wrapper { flex-wrap: wrap !important; }
"""

#: How long a corner notice stays (ms); the same message stays in the sidebar.
TOAST_MS = 8000

#: The Panel extensions the dashboard's widgets need (tables, the drop zone).
PANEL_EXTENSIONS = ("tabulator", "filedropper")


class Dashboard(pn.viewable.Viewer):
    """A user's workspace in the browser (or inline in a notebook)."""

    cell = param.String(default="", doc="Id of the cell on screen (kept in the URL).")
    tab = param.String(default="overview", doc="Name of the tab on screen (kept in the URL).")
    cycles = param.String(
        default="",
        doc="Cycles to analyse: '1,10,100', '1-30', '1-1000:10'; empty = all (kept in the URL).",
    )

    def __init__(self, workspace: Workspace, **params):
        # inline in a notebook: the tables and the drop zone need their Panel extensions, loaded
        # (with their resources in the notebook, for labs without internet) before it displays
        load_extensions(*PANEL_EXTENSIONS)
        super().__init__(**params)
        self.workspace = workspace
        #: the page's corner notices (Panel's NotificationArea) when served, else None
        self.toasts = None
        #: the column form shown and the file it keeps (:meth:`_column_form`)
        self._mapping = None
        self.record: CellRecord | None = None
        self.dataset = None
        self.results: dict[str, dict] = {}
        self._loading = None
        self.session = f"{workspace.user}#{next(_SESSIONS)}"  # names this page in the server log
        self.document = None  # the page's Bokeh document, when served
        # A served page changes nothing before the browser reports it loaded (Panel's onload):
        # the cell and tab named in a link arrive from the browser's location as soon as it
        # connects, and Panel 1.9.4 drops the changes of a `hold` made between that moment and
        # the page's "document ready" (it assumes the document is yet to be sent). A cell
        # opened in that window never appeared: half of the fresh loads of a tab link stayed
        # blank. open_first opens the linked cell and tab once the page is loaded.
        self._page_loaded = True
        # -- sidebar
        self.dropper = SpooledFileDropper(
            multiple=True,
            max_bytes=workspace.max_upload_bytes,
            label="Upload cycler files",
            sizing_mode="stretch_width",
            on_file=self._on_spooled,
            on_refused=self._on_refused,
        )
        self._uploads: list = []  # (name, bytes or spooled path) waiting to be stored
        self._draining = None  # the task storing them, while there are some
        self._upload_log: list = []  # what that task reports, in order
        self.upload_messages = pn.Column(sizing_mode="stretch_width")
        # created with its options: a Select whose options are set after construction shows blank
        self.cell_select = pn.widgets.Select(
            label="Cell", options=self._cell_options(), sizing_mode="stretch_width"
        )
        self.cell_select.param.watch(lambda e: setattr(self, "cell", e.new or ""), "value")
        self.meta_widgets = {
            # text boxes: a number box cannot show "not set" once it held a number (it shows NaN)
            "active_mass_mg": pn.widgets.TextInput(
                label="Active mass (mg)", placeholder="not set, e.g. 35.000"
            ),
            "nominal_capacity_mah": pn.widgets.TextInput(
                label="Theoretical/nominal capacity (mAh)", placeholder="not set, e.g. 50"
            ),
            "electrode_area_cm2": pn.widgets.TextInput(
                label="Electrode area (cm²)", placeholder="not set"
            ),
            "cycle_mode": pn.widgets.Select(label="Cycle mode", options=list(CYCLE_MODES)),
            "reference_cycle": pn.widgets.TextInput(
                label="Reference cycle (retention)", placeholder="first complete cycle"
            ),
        }
        self.save_meta = pn.widgets.Button(label="Save metadata", color="primary")
        self.save_meta.on_click(self._on_save_metadata)
        # the metadata before the last save, so a change can be taken back (cell id, values)
        self._metadata_before: tuple[str, dict] | None = None
        self.undo_meta = pn.widgets.Button(label="Undo last change", color="light", visible=False)
        self.undo_meta.on_click(self._on_undo_metadata)
        self.delete_button = pn.widgets.Button(
            label="Delete this cell…", color="danger", variant="outline"
        )
        self.delete_button.on_click(self._on_delete)
        self._delete_armed: tuple[str, float] | None = None  # (cell id, when) after a first click
        self.cycles_input = pn.widgets.TextInput.from_param(
            self.param.cycles, label="Cycles (e.g. 1-30, 1-1000:10)", placeholder="all cycles"
        )
        self.spinner = pn.indicators.LoadingSpinner(value=False, size=20, label="")
        self.status = pn.pane.Markdown("", css_classes=["bv-status"], sizing_mode="stretch_width")
        self.progress = pn.indicators.Progress(
            value=0, max=1, visible=False, sizing_mode="stretch_width"
        )
        self.notice = pn.Column(sizing_mode="stretch_width")
        # -- main area
        self.overview = pn.Column(
            pn.pane.Markdown("Select or upload a cell."), sizing_mode="stretch_width"
        )
        self.tabs_by_name = {name: AnalysisTab(self, name) for name in ANALYSES}
        self.vq = _CurvesTab(self)
        self.compare = _CompareTab(self)
        pages = [("overview", "Overview", self.overview)]
        first = [n for n in self.tabs_by_name if opens_first(n)]
        pages += [(n, tab_title(n), self.tabs_by_name[n]) for n in first]
        pages += [("curves", "V–Q curves", self.vq)]
        pages += [(n, tab_title(n), t) for n, t in self.tabs_by_name.items() if n not in first]
        pages += [("compare", "Compare cells", self.compare)]
        self.tab_names = [p[0] for p in pages]
        # not dynamic: a tab switch is then only a class change in the browser (cheap for the
        # server), and pre-rendered Bokeh figures are attached once; tabs fill themselves on
        # first view
        self.tabs = pn.Tabs(
            *[(title, obj) for _, title, obj in pages],
            dynamic=False,
            sizing_mode="stretch_width",
            stylesheets=[TABS_CSS],
        )
        self.tabs.param.watch(self._on_tab_index, "active")
        self.refresh_cells()

    # -- layout -----------------------------------------------------------------------------
    def sidebar(self) -> list:
        return [
            pn.pane.Markdown(markup.md("**Workspace of {}**", self.workspace.user)),
            # at the top, where a 768 px screen still shows them (they were below the fold)
            pn.Row(self.spinner, self.status, sizing_mode="stretch_width"),
            self.progress,
            self.dropper,
            pn.pane.Markdown(
                "Accepted: "
                + ", ".join(ACCEPTED)
                + f"; up to {self.workspace.max_upload_bytes / 2**20:.0f} MB "
                "each. The format is found from the content.",
                styles={"font-size": "smaller"},
            ),
            self.upload_messages,
            self.cell_select,
            pn.Card(
                *self.meta_widgets.values(),
                pn.Row(self.save_meta, self.delete_button),
                self.undo_meta,
                self.notice,  # under the buttons whose outcome it tells
                title="Cell metadata",
                collapsed=False,
            ),
            self.cycles_input,
        ]

    def main(self) -> list:
        return [self.tabs]

    def __panel__(self):
        # inline (a notebook): the sidebar beside the tabs, above them when the output is narrow
        return side_by_side(
            pn.Column(*self.sidebar(), width=320),
            pn.Column(*self.main(), sizing_mode="stretch_width"),
            fluid_min_width=2 * MIN_PLOT_WIDTH,
        )

    def batch(self):
        """Several changes to the page sent as one message, with Bokeh's model index rebuilt once
        (each change of a layout's children otherwise walks every model of the page)."""
        if self.document is None or not self._page_loaded:  # see _page_loaded in __init__
            return contextlib.nullcontext()
        return pn.io.hold(self.document, freeze=True)

    # -- status -----------------------------------------------------------------------------
    def busy(self, message: str) -> None:
        """Show the spinner and ``message`` (plain text)."""
        self.spinner.value = True
        self.status.object = markup.escape(message)

    def idle(self, message: str = "") -> None:
        self.spinner.value = False
        self.status.object = markup.escape(message)

    def notify(self, message: str, kind: str = "danger") -> None:
        """Show ``message`` (plain text) under the metadata buttons and, in a served page, as a
        notice in the corner of the window, seen however far the page is scrolled."""
        self.notice[:] = [markup.alert(message, kind)]
        if self.toasts is not None:  # Notyf's types: an alert's "danger" is its "error"
            self.toasts.send(
                markup.html_text(message),
                duration=TOAST_MS,
                type={"danger": "error"}.get(kind, kind),
            )

    def selected_cycles(self) -> list[int] | None:
        """The cycles of the open cell that the Cycles box selects (``None``: all). The text is
        read as ranges and intersected with the cell's cycles, so no text, however large its
        ranges, costs more than the cell's own cycle count."""
        available = None
        if self.dataset is not None and "cycle" in self.dataset.coords:
            available = self.dataset["cycle"].values
        cycles = parse_cycle_selection(self.cycles, available=available)
        if cycles is not None and available is not None and not cycles:
            span = f"{int(available.min())}–{int(available.max())}" if available.size else "none"
            raise ValueError(
                f"cycles: none of the selected cycles is in this cell (its cycles: {span})"
            )
        return cycles

    # -- cells ------------------------------------------------------------------------------
    def _cell_options(self) -> dict[str, str]:
        return {
            f"{c.label}{' (example)' if c.example else ''}": c.id for c in self.workspace.cells()
        }

    def refresh_cells(self) -> None:
        options = self._cell_options()
        self.cell_select.options = options
        self.compare.cells.options = self.compare.options(options)
        if self.cell in options.values():
            self.cell_select.value = self.cell

    async def open_first(self) -> None:
        """Show the cell named in the URL, else the first one (awaitable: returns once loaded).
        A served page calls it once the browser has loaded the page."""
        self._page_loaded = True
        if not self.cell and self.cell_select.options:
            self.cell = next(iter(self.cell_select.options.values()))
        elif self.cell and (self.record is None or self.record.id != self.cell):
            self._start_loading()
        if self._loading is not None:
            await self._loading

    @param.depends("cell", watch=True)
    def _on_cell(self):
        if (
            self.cell
            and self.cell_select.value != self.cell
            and self.cell in self.cell_select.options.values()
        ):
            self.cell_select.value = self.cell
        if self._page_loaded:  # else open_first opens it
            self._start_loading()

    def _start_loading(self) -> None:
        """Load the current cell off the event loop; ``self._loading`` can be awaited."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # plain Python without an event loop: load now
            asyncio.run(self._load_cell(self.cell))
            return
        self._loading = loop.create_task(self._load_cell(self.cell))

    async def _load_cell(self, cell_id: str) -> None:
        if not cell_id:
            return
        try:
            record = self.workspace.get(cell_id)
        except CellNotFoundError:
            self.record, self.dataset = None, None
            self.overview[:] = [
                markup.alert(f"There is no cell {quote(cell_id)} in your workspace.", "warning")
            ]
            return
        self.busy(f"Opening {record.label}…")
        try:
            self.dataset, stored = await jobs.run(
                jobs.open_cell,
                self.workspace.root,
                self.workspace.user,
                cell_id,
                list(self.tabs_by_name),
                heavy=False,
            )
        except Exception as exc:  # noqa: BLE001
            self.idle()
            self.overview[:] = [markup.alert(error_message(exc, f"Opening {record.display_name}"))]
            return
        self.record = record
        overview = await jobs.run(views.overview, record, self.dataset, heavy=False)
        known = self.results.setdefault(cell_id, {})
        for name, result in stored.items():
            known.setdefault(name, result)
        with self.batch():  # the opened cell appears in one step
            self.idle()
            if self.cell_select.value != cell_id:
                self.cell_select.value = cell_id
            self._fill_metadata(record)
            if self._metadata_before is not None and self._metadata_before[0] != cell_id:
                self._metadata_before = None  # an undo belongs to the cell it was made on
                self.undo_meta.visible = False
            self.overview[:] = overview
            for name, tab in self.tabs_by_name.items():
                tab.set_result(known.get(name))
        log.info("%s: cell %s opened", self.session, record.filename)
        for name in [n for n in self.tabs_by_name if opens_first(n) and n not in known]:
            await self.tabs_by_name[name].run()
        current = self.tabs_by_name.get(self.tab)
        if current is not None:
            await self.show_tab(current)

    async def _on_delete(self, _event=None):
        """Delete the open cell: a first click asks, a second one within
        :data:`DELETE_CONFIRM_S` seconds deletes (its upload, dataset and results)."""
        import time

        record = self.record
        if record is None:
            return
        armed = self._delete_armed
        if armed is None or armed[0] != record.id or time.monotonic() - armed[1] > DELETE_CONFIRM_S:
            self._delete_armed = (record.id, time.monotonic())
            self.delete_button.name = "Click again to delete"
            self.notify(
                f"Delete {record.label} and its results? Click the button again within "
                f"{DELETE_CONFIRM_S:.0f} s.",
                kind="warning",
            )
            return
        self._delete_armed = None
        self.delete_button.name = "Delete this cell…"
        try:
            await jobs.run(self.workspace.delete, record.id, heavy=False)
        except Exception as exc:  # noqa: BLE001
            self.notify(error_message(exc, f"Deleting {record.display_name}"))
            return
        log.info("%s: cell %s deleted", self.session, record.filename)
        self.results.pop(record.id, None)
        self.record, self.dataset = None, None
        self.refresh_cells()
        self.notify(f"{record.label} deleted.", kind="success")
        remaining = list(self.cell_select.options.values())
        if remaining:
            self.cell = remaining[0]
            if self._loading is not None:
                await self._loading
        else:
            self.cell = ""
            self.overview[:] = [markup.alert("No cells: upload a cycler file.", "info")]
            for tab in self.tabs_by_name.values():
                tab.set_result(None)

    def _fill_metadata(self, record) -> None:
        """The metadata widgets show ``record``'s metadata."""
        for key, widget in self.meta_widgets.items():
            value = record.metadata.get(key)
            widget.value = (
                (value or "auto")
                if key == "cycle_mode"
                else ("" if value is None else f"{value:g}")
            )

    async def _on_save_metadata(self, _event=None):
        if self.record is None:
            return
        values = {
            k: (w.value.strip() if isinstance(w.value, str) else w.value)
            for k, w in self.meta_widgets.items()
        }
        before = {k: self.record.metadata.get(k) for k in self.meta_widgets}
        try:
            self.record = self.workspace.update_metadata(self.record.id, **values)
        except (ValueError, BatteryvizError) as exc:
            self.notify(str(exc))
            return
        self._metadata_before = (self.record.id, before)
        self.undo_meta.visible = True
        self.notify(f"Metadata of {self.record.label} saved.", kind="success")
        await self._metadata_changed()

    async def _on_undo_metadata(self, _event=None):
        """Put back the metadata the last save replaced (once: the undo is then spent)."""
        if self.record is None or self._metadata_before is None:
            return
        cell_id, before = self._metadata_before
        if cell_id != self.record.id:
            return
        self._metadata_before = None
        self.undo_meta.visible = False
        try:
            self.record = self.workspace.update_metadata(cell_id, **before)
        except (ValueError, BatteryvizError) as exc:
            self.notify(str(exc))
            return
        self._fill_metadata(self.record)
        self.notify(f"Metadata of {self.record.label} restored.", kind="success")
        await self._metadata_changed()

    async def _metadata_changed(self) -> None:
        """Results depend on the metadata: forget them and run the analyses shown on opening."""
        self.results.get(self.record.id, {}).clear()
        for name in [n for n in self.tabs_by_name if opens_first(n)]:
            await self.tabs_by_name[name].run()

    async def _on_upload(self, event):
        """Store the files of ``event.new`` (``{name: bytes}``), one after another."""
        for filename, data in dict(event.new or {}).items():
            self._uploads.append(
                (filename, data.encode("utf-8") if isinstance(data, str) else data)
            )
        await self._store_uploads()

    def _on_spooled(self, filename: str, path) -> None:
        """A file the drop zone received completely (spooled to ``path``, which is ours now)."""
        log.debug("%s: upload %s received", self.session, filename)
        self._uploads.append((filename, Path(path)))
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # plain Python without an event loop: store it now
            asyncio.run(self._drain_uploads())
            return
        self._store_uploads()

    def _store_uploads(self) -> asyncio.Task:
        """The one task storing the waiting uploads (started when none runs); awaitable."""
        if self._draining is None or self._draining.done():
            self._draining = asyncio.get_running_loop().create_task(self._drain_uploads())
        return self._draining

    def _on_refused(self, filename: str, reason: str) -> None:
        """A file the drop zone refused while it arrived (too large, stalled, malformed)."""
        self._upload_log.append(markup.alert(f"{filename}: not uploaded: {reason}."))
        if (
            self._draining is None or self._draining.done()
        ):  # else shown when the files being stored are
            self._show_upload_log()

    async def _drain_uploads(self) -> None:
        """Store waiting uploads one at a time, each once, with one progress total for all the
        files that arrive meanwhile, and open the last one stored. Files that arrive while a
        stored cell opens are stored by the same task before it ends (a file is never left
        waiting for the next drop). The drop zone hands files over as each finishes arriving,
        so one drop may need several such tasks: the messages of the page's uploads accumulate
        (the last :data:`UPLOAD_MESSAGES` are shown) instead of each task replacing the last's.
        The open cell changes once per task, to the last cell stored before it opens: files
        stored while it opens join the list of cells without taking the screen away from it."""
        done = 0
        opened = False
        self.progress.visible, self.progress.value = True, 0
        while self._uploads:
            last = None
            while self._uploads:
                filename, data = self._uploads.pop(0)
                spooled = data if isinstance(data, Path) else None
                self.progress.max = done + 1 + len(self._uploads)
                log.info(
                    "%s: upload %r (%d/%d)", self.session, filename, done + 1, self.progress.max
                )
                self.busy(f"Reading {filename} ({done + 1}/{self.progress.max})…")
                try:
                    if spooled is not None:  # a cluster's workers do not see this machine's files
                        data = spooled.read_bytes() if jobs.scheduler_address() else str(spooled)
                    record = await jobs.run(
                        jobs.add_upload,
                        self.workspace.root,
                        self.workspace.user,
                        filename,
                        data,
                        self.workspace.max_upload_bytes,
                        owner=self.workspace.user,
                    )
                    self._upload_log.append(
                        markup.alert(
                            f"{filename}: {record.format}, {record.rows:,} rows, "
                            f"{record.contents}.",
                            "success",
                        )
                    )
                    last = record
                    log.info("%s: upload %s stored", self.session, filename)
                except Exception as exc:  # noqa: BLE001
                    log.info(
                        "%s: upload %s not stored: %s", self.session, filename, type(exc).__name__
                    )
                    try:
                        form = self._column_form(exc, filename, spooled, data)
                    except Exception:  # noqa: BLE001 - the other uploads must go on
                        log.exception("%s: no column form for %r", self.session, filename)
                        form = None
                    if form is not None:  # the file is the form's now
                        spooled = None
                    self._upload_log.append(
                        markup.alert(
                            error_message(
                                exc, filename, "Name its columns in the form below." if form else ""
                            )
                        )
                    )
                    if form is not None:
                        self._upload_log.append(form)
                finally:
                    if spooled is not None:
                        spooled.unlink(missing_ok=True)
                done += 1
                self.progress.value = done
            with self.batch():
                self._show_upload_log()
                self.refresh_cells()
            if last is not None and not opened:
                opened = True
                self.cell = last.id
                if self._loading is not None:
                    await self._loading
        with self.batch():
            self.idle()
            self.progress.visible = False
            self._show_upload_log()

    def _column_form(self, exc: BaseException, filename: str, spooled: Path | None, data=None):
        """For a table no reader recognised, a :class:`~.mapping.ColumnForm` holding the
        spooled file (one at a time: a new one discards the last and its file), else None.
        An upload given as bytes (inline, in a notebook) is spooled for it first."""
        import uuid

        from ..errors import UnknownFormatError
        from ..io.generic import table_columns
        from .mapping import ColumnForm
        from .upload import spool_root

        if not isinstance(exc, UnknownFormatError):
            return None
        if spooled is None:
            if not isinstance(data, (bytes, bytearray)):
                return None
            spooled = spool_root() / uuid.uuid4().hex
            spooled.write_bytes(data)
        try:
            found = table_columns(spooled)
        except (OSError, BatteryvizError):
            found = None
        if found is None:
            spooled.unlink(missing_ok=True)
            return None
        self.discard_column_form()
        kept = spooled.with_name(spooled.name + ".unmapped")
        spooled.rename(kept)
        form = ColumnForm(filename, found[1])
        form.button.on_click(partial(self._on_read_mapped, form))
        self._mapping = (form, kept)
        return form

    def discard_column_form(self) -> None:
        """Forget the column form shown, deleting the file it kept (a new one, a read, the
        page closing); a file being read is deleted by its read when it ends."""
        if self._mapping is not None:
            form, kept = self._mapping
            self._mapping = None
            if not form.reading:
                kept.unlink(missing_ok=True)
            if form in self._upload_log:
                self._upload_log.remove(form)

    async def _on_read_mapped(self, form, _event=None) -> None:
        """Read the kept file with the columns the form names; on success it is a cell like any
        upload and the form goes, else the form stays with the reason."""
        if self._mapping is None or self._mapping[0] is not form:
            return
        kept = self._mapping[1]
        try:
            options = form.read_options()
        except ValueError as exc:
            form.message[:] = [markup.alert(str(exc))]
            return
        form.button.disabled = True
        form.reading = True
        self.busy(f"Reading {form.filename} with the columns named…")
        try:
            data = kept.read_bytes() if jobs.scheduler_address() else str(kept)
            record = await jobs.run(
                jobs.add_upload,
                self.workspace.root,
                self.workspace.user,
                form.filename,
                data,
                self.workspace.max_upload_bytes,
                options,
                owner=self.workspace.user,
            )
        except Exception as exc:  # noqa: BLE001
            log.info("%s: mapped upload %r not stored", self.session, form.filename)
            form.message[:] = [markup.alert(error_message(exc, form.filename))]
            form.button.disabled = False
            self.idle()
            return
        finally:
            form.reading = False
            current = self._mapping is not None and self._mapping[0] is form
            if not current:  # replaced by a newer form meanwhile: its file is ours to delete
                kept.unlink(missing_ok=True)
        log.info("%s: upload %r stored with named columns", self.session, form.filename)
        if current:
            self.discard_column_form()
        self._upload_log.append(
            markup.alert(
                f"{form.filename}: read with the columns named, {record.rows:,} rows, "
                f"{record.contents}.",
                "success",
            )
        )
        with self.batch():
            self.idle()
            self._show_upload_log()
            self.refresh_cells()
        self.cell = record.id
        if self._loading is not None:
            await self._loading

    def _show_upload_log(self) -> None:
        del self._upload_log[:-UPLOAD_MESSAGES]
        self.upload_messages[:] = list(self._upload_log)

    # -- tabs -------------------------------------------------------------------------------
    def _on_tab_index(self, event):
        log.debug("%s: tab %s chosen", self.session, self.tab_names[event.new])
        self.tab = self.tab_names[event.new]

    @param.depends("tab", watch=True)
    def _on_tab_name(self):
        if self.tab in self.tab_names and self.tabs.active != self.tab_names.index(self.tab):
            self.tabs.active = self.tab_names.index(self.tab)
        tab = self.tabs_by_name.get(self.tab)
        if tab is not None and self._page_loaded:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop (plain Python): built by the next show_tab() call
                return
            loop.create_task(self.show_tab(tab))

    async def show_tab(self, tab: AnalysisTab) -> None:
        """Build a tab's widgets on first view and draw its result if not drawn yet."""
        log.debug("%s: tab %s shown", self.session, tab.key)
        await tab.ensure_built()
        await tab.display()


def csv_download(table, filename: str, label: str = "⬇ CSV"):
    """A download button of ``table`` (a DataFrame) as CSV, written when clicked."""

    def data():
        return io.BytesIO(table.to_csv(index=False).encode("utf-8"))

    # as wide as its label (a fixed 120 px cut "⬇ Discharge capacity (Ah) CSV" at both ends)
    return pn.widgets.FileDownload(
        callback=data, filename=filename, label=label, color="light", width=max(120, 9 * len(label))
    )


def _vq_panes(ds, cycles, direction: str, active_mass_mg, stem: str) -> list:
    """The V–Q tab's table, plot and CSV download (made in a worker thread)."""
    from ..analysis.dvdq import vq_table
    from ..viz import plots

    table = vq_table(ds, cycles, direction, active_mass_mg)
    if table.empty:
        return [markup.alert(f"No {direction} half cycles in the cycles selected.", "warning")]
    return [
        csv_download(table, f"{stem}_vq_{direction}.csv"),
        *figure_panes(plots.vq_curves, table, css_classes=["bv-plot-vq"]),
    ]


class _CurvesTab(pn.viewable.Viewer):
    """Voltage against capacity of the selected cycles, coloured by cycle (specific capacity
    when the cell has an active mass), with the curves as a CSV download."""

    def __init__(self, dashboard: Dashboard):
        super().__init__()
        self.dashboard = dashboard
        self.direction = pn.widgets.RadioButtonGroup(
            options=["charge", "discharge"], value="discharge"
        )
        self.button = pn.widgets.Button(label="Draw", color="primary", width=120)
        self.button.on_click(self._draw)
        self.output = pn.Column(sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Column(
            pn.Row(self.direction, self.button), self.output, sizing_mode="stretch_width"
        )

    async def _draw(self, _event=None):
        dash = self.dashboard
        if dash.dataset is None or dash.record is None:
            self.output[:] = [markup.alert("Select or upload a cell first.", "warning")]
            return
        try:
            cycles = dash.selected_cycles()
            self.output[:] = await jobs.run(
                _vq_panes,
                dash.dataset,
                cycles,
                self.direction.value,
                dash.record.metadata.get("active_mass_mg"),
                dash.record.stem,
                heavy=False,
            )
        except Exception as exc:  # noqa: BLE001
            self.output[:] = [markup.alert(error_message(exc, "V–Q curves"))]


def comparisons() -> dict[str, str]:
    """The quantities cells can be compared by, as the registered analyses declare them
    (:attr:`~batteryviz.analysis.base.Analysis.comparables`): label → ``"<analysis>\t<name>"``
    (labels carry the analysis's title when several analyses declare quantities)."""
    declaring = {k: cls for k, cls in ANALYSES.items() if cls.comparables}
    out = {}
    for key, cls in declaring.items():
        for c in cls.comparables:
            label = c.label if len(declaring) == 1 else f"{tab_title(key)}: {c.label}"
            out[label] = f"{key}\t{c.variable}"
    return out


def curve_kinds() -> dict[str, str]:
    """The analyses whose curves of one cycle cells can be compared by (those declaring
    :attr:`~batteryviz.analysis.base.Analysis.cycle_curves`): title → key, "none" first."""
    return {"none": "", **{tab_title(k): k for k, cls in ANALYSES.items() if cls.cycle_curves}}


def _all_cycles(result) -> bool:
    """Whether a result was computed over every cycle (no Cycles box selection)."""
    import json

    return not json.loads(result.attrs.get("parameters", "{}")).get("cycles")


def _axis_label(result, name: str) -> str:
    """An axis label from a result variable or coordinate: its long name without the
    parenthesised half cycle ("dQ/dU (charge)" → "dQ/dU"), then its unit."""
    var = result[name]
    text = str(var.attrs.get("long_name") or name.replace("_", " ")).split(" (")[0]
    if text.islower():  # a name ("charge capacity"), not a written label ("dU/dQ")
        text = text[:1].upper() + text[1:]
    units = var.attrs.get("units")
    return f"{text} ({units})" if units else text


class _CompareTab(pn.viewable.Viewer):
    """Several cells on one plot: a quantity against cycle, and curves of one cycle, both as
    the analyses declare them (no analysis is named here)."""

    def __init__(self, dashboard: Dashboard):
        super().__init__()
        self.dashboard = dashboard
        self.cells = pn.widgets.MultiChoice(
            label="Cells",
            options=self.options(dashboard._cell_options()),
            sizing_mode="stretch_width",
        )
        self.quantity = pn.widgets.Select(label="Quantity", options=comparisons())
        kinds = curve_kinds()
        self.curve_kind = pn.widgets.Select(
            label="Curves of one cycle",
            options=kinds,
            value=next((v for v in kinds.values() if v), ""),
        )
        self.curve_cycle = pn.widgets.IntInput(label="of cycle", value=None, start=1)
        self.button = pn.widgets.Button(label="Compare", color="primary", width=120)
        self.button.on_click(self._compare)
        self.output = pn.Column(sizing_mode="stretch_width")

    @staticmethod
    def options(cells: dict[str, str]) -> dict[str, str]:
        """The cells as options of the ``MultiChoice``, which draws its labels as HTML."""
        return {markup.option_label(label): cell_id for label, cell_id in cells.items()}

    def __panel__(self):
        return pn.Column(
            self.cells,
            pn.FlexBox(self.quantity, self.curve_kind, self.curve_cycle, self.button),
            self.output,
            sizing_mode="stretch_width",
        )

    async def _result(self, record, key: str, cycles=None):
        """Analysis ``key`` of a cell for the comparison over ``cycles`` (``None``: every
        cycle, where the dashboard's result serves when it is over every cycle too), computed
        and never kept otherwise (a comparison writes nothing into a cell, and a result the
        Cycles box filtered is not all its cycles)."""
        dash, ws = self.dashboard, self.dashboard.workspace
        cached = dash.results.get(record.id, {}).get(key)
        if cycles is None and cached is not None and _all_cycles(cached):
            return cached
        params = jobs.analysis_parameters(ANALYSES[key], record.metadata, cycles, {})
        return await jobs.run(
            jobs.compute_analysis, ws.root, ws.user, record.id, key, params, False, owner=ws.user
        )

    async def _compare(self, _event=None):
        dash, ws = self.dashboard, self.dashboard.workspace
        if not self.cells.value:
            self.output[:] = [markup.alert("Choose cells to compare.", "warning")]
            return
        key, variable = self.quantity.value.split("\t")
        label = next(k for k, v in comparisons().items() if v == self.quantity.value)
        kind, cycle = self.curve_kind.value, self.curve_cycle.value
        curves, cycle_curves, problems = [], [], []
        x_label, y_label = "", ""
        dash.busy(f"Comparing {len(self.cells.value)} cells…")
        try:
            for cell_id in self.cells.value:
                try:
                    record = ws.get(cell_id)
                    result = await self._result(record, key)
                    if variable not in result:
                        problems.append(
                            f"{record.label}: no {label} in its result (a quantity per mass or "
                            "area needs the cell's active mass or electrode area)"
                        )
                    else:
                        along = next(c for c in ANALYSES[key].comparables if c.variable == variable)
                        curves.append(
                            (
                                (result[along.along].values, result[variable].values),
                                along.along_label,
                                label,
                                record.label,
                            )
                        )
                    if kind and cycle:
                        one = await self._result(record, kind, [int(cycle)])
                        for name in ANALYSES[kind].cycle_curves:
                            if name not in one:
                                continue
                            grid = one[name].dims[1]
                            x_label, y_label = _axis_label(one, grid), _axis_label(one, name)
                            long_name = str(one[name].attrs.get("long_name", name))
                            part = long_name.split(" (")[1].rstrip(")") if " (" in long_name else ""
                            cycle_curves.append(
                                (
                                    (one[grid].values, one[name].values[0]),
                                    x_label,
                                    y_label,
                                    f"{record.label} {part}".strip(),
                                )
                            )
                except Exception as exc:  # noqa: BLE001
                    problems.append(error_message(exc, cell_id))
        finally:
            dash.idle()
        items = []
        # HoloViews objects are made in the view pool, under its lock
        from ..viz.plots import compare_overlay as overlay

        if curves:
            items += await jobs.run(
                figure_panes,
                overlay,
                curves,
                f"{label} by cell",
                css_classes=["bv-compare-plot"],
                heavy=False,
            )
        if cycle_curves:
            title = next(t for t, k in curve_kinds().items() if k == kind)
            items += await jobs.run(
                figure_panes, overlay, cycle_curves, f"{title} of cycle {cycle}", heavy=False
            )
        if problems:
            items.append(pn.pane.Alert(markup.bullet_list(problems), alert_type="warning"))
        downloads = [
            csv_download(_curves_table(found), f"compare_{name}.csv", f"⬇ {what} CSV")
            for found, name, what in (
                (curves, variable, label),
                (cycle_curves, f"{kind}_cycle_{cycle}", "Curves"),
            )
            if found
        ]
        self.output[:] = ([pn.FlexBox(*downloads)] if downloads else []) + items


def _curves_table(curves: list):
    """The curves of a comparison as one long table: cell, x and y named by their labels."""
    import pandas as pd

    frames = [
        pd.DataFrame({"cell": name, x_label: xy[0], y_label: xy[1]})
        for xy, x_label, y_label, name in curves
    ]
    return pd.concat(frames, ignore_index=True)


class Fast(pn.theme.Fast):
    """Panel's Fast design without its web font, so the page asks no third party for anything: a
    lab's server may have no route to the internet (the browser then waits on the font), and a
    font CDN learns who uses the lab's tools. The class keeps the name ``Fast``: Panel finds a
    design's own files (``fast/js/…``) under the lower-cased class name."""

    _resources = fast_resources_without_font()


#: The font stack of the pages (system fonts, nothing downloaded).
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


class _Page(pn.template.FastListTemplate):
    """The dashboard's template. Its models are added to the session's document with Bokeh's
    model index frozen, so the index is rebuilt once instead of once per root (measured: a
    fifth of the server time a new session costs)."""

    def _modify_doc(self, server_id, title, doc, location):
        models = getattr(doc, "models", None)
        if models is None or not hasattr(models, "freeze"):
            return super()._modify_doc(server_id, title, doc, location)
        with models.freeze():
            return super()._modify_doc(server_id, title, doc, location)


def create_app(workspace: Workspace):
    """The dashboard page of one session: a template with the workspace in the sidebar, the
    view state kept in the URL, and the last (or linked) cell opened when the page loads."""
    pn.extension(*PANEL_EXTENSIONS, notifications=True)
    panel_fixes.install()  # page updates queued under load are all delivered
    dashboard = Dashboard(workspace)
    dashboard.toasts = pn.state.notifications  # this session's (None inline in a notebook)
    template = _Page(
        title="batteryviz",
        sidebar=dashboard.sidebar(),
        main=dashboard.main(),
        sidebar_width=340,
        design=Fast,
        font=FONT,
        # updating the busy indicator re-resolves the design per event (a third of the loop
        # under load)
        busy_indicator=None,
        header=[
            pn.pane.HTML(
                f'<span style="color:white">{markup.html_text(workspace.user, 80)} · '
                '<a style="color:white" href="./logout">Log out</a></span>'
                if workspace.user != "local"
                else ""
            )
        ],
    )
    dashboard._page_loaded = False  # until pn.state.onload runs open_first
    if pn.state.location is not None:
        pn.state.location.sync(dashboard, {"cell": "cell", "tab": "tab", "cycles": "cycles"})
    pn.state.onload(dashboard.open_first)
    context = getattr(pn.state.curdoc, "session_context", None)
    if context is not None:
        watch_running_loop()  # logs where the server's event loop stalls (once per loop)
    log.info("%s: page created (Bokeh session %s)", dashboard.session, getattr(context, "id", None))
    if context is not None:

        def closed(_ctx, name=dashboard.session, dropper=dashboard.dropper, dash=dashboard):
            dropper.close_uploads()  # files still arriving are deleted
            dash.discard_column_form()  # and a file kept for its columns to be named
            log.info("%s: page closed", name)

        pn.state.on_session_destroyed(closed)
    template.dashboard = dashboard
    dashboard.document = pn.state.curdoc
    return template
