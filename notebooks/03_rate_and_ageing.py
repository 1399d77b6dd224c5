# %% [markdown]
# # Rate capability and cycle ageing
#
# The rates are detected from the current, not typed in; the rate test is found as the run of
# cycles with one charge rate and several discharge rates.

# %%
import json

import numpy as np

import batteryviz as bv
from batteryviz.examples import HERE, example_file

ds = bv.read(example_file())
truth = json.loads((HERE / "basytec_rate_fade.truth.json").read_text())

rate = bv.RateCapability().compute(ds)
rate[["capacity_ah", "capacity_std_ah", "retention_percent", "label"]].to_dataframe()

# %%
expected = [b["discharge_capacity_Ah_mean"] for b in truth["rate_summary"]]
assert np.allclose(rate["capacity_ah"], expected, rtol=0.002)
bv.RateCapability().plot(rate)

# %% [markdown]
# The fade block: linear, square-root and power-law fits with standard errors, and the cycle
# at which 80 % retention would be reached.

# %%
life = bv.CycleLife(selection="longest_block").compute(ds)
print(f"fade {float(life['fade_percent_per_x']):.4f} %/cycle (truth {truth['fade_summary']['fade_percent_per_cycle_vs_first_fade_cycle']:.4f})")
print(life["end_of_life"].attrs["definition"], float(life["end_of_life"]))
assert abs(float(life["fade_percent_per_x"]) / truth["fade_summary"]["fade_percent_per_cycle_vs_first_fade_cycle"] - 1) < 0.05
bv.CycleLife().plot(life)
