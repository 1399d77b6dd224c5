# %% [markdown]
# # Differential capacity with peaks tracked across cycles
#
# dQ/dU is computed on one voltage grid for all cycles (from the monotonic part of each half
# cycle), peaks are found on |dQ/dU| — discharge peaks too — and linked from cycle to cycle.

# %%
import numpy as np

import batteryviz as bv
from batteryviz.analysis.dqdu import peak_tracks
from batteryviz.examples import example_file
from batteryviz.testing import PLATEAUS_V, synthetic_cell

# %% [markdown]
# First a cell whose answer is known: its open-circuit curve has plateaus at 3.45 V and
# 3.85 V; under a 0.4 A current and 0.05 Ω they appear 20 mV higher on charge.

# %%
cell = synthetic_cell(n_cycles=2, c_rate=0.2, capacity_ah=2.0, resistance_ohm=0.05)
result = bv.DifferentialCapacity(direction="charge", voltage_step=0.001).compute(cell.ds)
# the peak tables have `max_peaks` columns (NaN where a curve has fewer peaks), ordered by voltage
peaks = result["charge_peak_voltage"].isel(cycle=0).dropna("charge_peak").values
print(peaks)
assert np.allclose(peaks, np.array(PLATEAUS_V) + 0.02, atol=0.005)

# %% [markdown]
# Now the simulated cell's fade block (cycles 15–34):

# %%
ds = bv.read(example_file())
analysis = bv.DifferentialCapacity(cycles=list(range(15, 35)), direction="discharge")
dqdu = analysis.compute(ds)
tracks = peak_tracks(dqdu, "discharge")
tracks["voltage_shift"].to_pandas().T.head()

# %%
assert tracks.sizes["cycle"] == 20
analysis.plot(dqdu)

# %%
from batteryviz.viz import plots

plots.peak_track_plot(tracks)
