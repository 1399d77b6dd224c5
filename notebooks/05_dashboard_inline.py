# %% [markdown]
# # The dashboard and its parts, inline in JupyterLab
#
# The analysis objects render themselves: `pn.panel(analysis.view(ds))` gives the widgets of
# their parameters beside the plot, recomputed when a parameter changes. The whole dashboard —
# the same one `batteryviz serve` hosts — runs in a notebook too, on a workspace folder of your
# choice. Nothing here is specific to the notebook: the dashboard adds no science of its own.

# %%
import asyncio
import tempfile

import panel as pn

import batteryviz as bv
from batteryviz.store import Workspace
from batteryviz.ui import Dashboard

# No pn.extension(...) cell needed: the views load what they use, with their JavaScript in the
# notebook itself, so they work in a lab without internet access.
ds = bv.read(bv.example_file())

# %% [markdown]
# ## One analysis, with its widgets

# %%
dqdu = bv.DifferentialCapacity(cycles=[3, 10, 34], smoothing_width_v=0.02)
view = dqdu.view(ds)
view

# %%
# the widgets are the analysis's parameters; changing one recomputes the plot
assert {"smoothing_width_v", "peak_prominence", "n_points"} <= set(dqdu.param)
assert len(pn.panel(view).select(pn.widgets.Widget)) >= 3
dqdu.smoothing_width_v = 0.03
assert "0.03" in dqdu.compute(ds).attrs["method"]

# %% [markdown]
# ## The whole dashboard on a workspace
#
# A new workspace starts with the bundled example; uploads go to the same folder structure the
# server uses (original bytes and checksum, parsed dataset, results).

# %%
workspace = Workspace(tempfile.mkdtemp(prefix="bv-notebook-"), user="me")
dashboard = Dashboard(workspace)
await dashboard.open_first()  # noqa: F704 - top-level await runs in Jupyter
dashboard

# %%
summary_tab = dashboard.tabs_by_name["summary"]
record = dashboard.record
print(record.label, record.rows, "rows,", record.cycles, "cycles")
assert record.example and record.cycles == 34
assert "summary" in dashboard.results[record.id]  # the summary ran when the cell opened

# %% [markdown]
# Run dQ/dU for every 10th cycle from the dashboard object, as the Run button would:

# %%
dashboard.cycles = "1-34:10"
dqdu_tab = dashboard.tabs_by_name["dqdu"]
await dashboard.show_tab(dqdu_tab)  # noqa: F704 - builds the tab's widgets, as opening the tab does
result = await dqdu_tab.run()  # noqa: F704
assert list(result["cycle"].values) == [1, 11, 21, 31]
dqdu_tab
