# %% [markdown]
# # Impedance: equivalent-circuit fit and Kramers–Kronig check

# %%
from pathlib import Path

import batteryviz as bv

data = Path(bv.__file__).resolve().parent.parent / "tests" / "data" / "real"
spectrum = bv.read(data / "eis" / "impedancepy_exampleData.csv")
fit = bv.Impedance(circuit="randles", initial_guess=[0.01, 0.005, 0.01, 200, 0.1]).compute(spectrum)
fit[["R0", "R1", "Wo1_0", "Wo1_1", "C1", "kk_rms_residual", "kk_valid"]].to_dataframe()

# %%
assert abs(float(fit["R0"][0]) / 1.86235717e-02 - 1) < 0.02
assert bool(fit["kk_valid"][0])
bv.Impedance().plot(fit)

# %% [markdown]
# Spectra recorded inside a cycling test are linked to their cycle:

# %%
cycling = bv.read(data / "biologic" / "cellpy_biol.mpr")
checkups = bv.Impedance().compute(cycling)
checkups[["cycle", "R0", "R1", "kk_valid"]].to_dataframe()
