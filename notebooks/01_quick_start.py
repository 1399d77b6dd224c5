# %% [markdown]
# # Quick start: a cycler file in, a cycle summary out
#
# The bundled example is a 34-cycle BaSyTec export of a simulated 5 Ah NMC532/graphite pouch
# cell: two formation cycles, a rate test (C/5 to 2C, three cycles each) and a 20-cycle fade
# block. Its exact truth ships beside it.

# %%
import json

import numpy as np

import batteryviz as bv
from batteryviz.examples import HERE, example_file

ds = bv.read(example_file())
ds

# %% [markdown]
# The format was found from the content; every variable has a BDF name and units, and the
# header's metadata is in `ds.attrs`. Current is positive while charging.

# %%
print(ds.attrs["reader"], ds.attrs["test_name"])
assert ds.attrs["reader"] == "basytec" and ds.sizes["record"] == 16325

# %%
summary = bv.CycleSummary(nominal_capacity_mah=5000).compute(ds)
summary.to_dataframe()[["charge_capacity_ah", "discharge_capacity_ah", "coulombic_efficiency_percent", "discharge_c_rate"]].head(12)

# %% [markdown]
# Every number says how it was made:

# %%
for key in ("capacity_source", "cycle_rule", "ce_definition"):
    print(f"{key}: {summary.attrs[key]}")

# %%
truth = json.loads((HERE / "basytec_rate_fade.truth.json").read_text())
expected = np.array([c["discharge"]["capacity_Ah"] for c in truth["cycles"]])
assert np.allclose(summary["discharge_capacity_ah"], expected, rtol=0.002)
assert summary.sizes["cycle"] == 34

# %%
bv.CycleSummary(nominal_capacity_mah=5000).view(ds)
