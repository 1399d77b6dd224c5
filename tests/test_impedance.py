"""Impedance: readers, Randles fit against impedance.py's reference, Kramers-Kronig, cycles."""

from __future__ import annotations

import numpy as np
import pytest

import batteryviz as bv
from batteryviz.analysis.impedance import Impedance, lin_kk, split_spectra

from .conftest import REAL

EXAMPLE = REAL / "eis" / "impedancepy_exampleData.csv"
REFERENCE = {
    "R0": 1.86235717e-02,
    "R1": 1.16804085e-02,
    "Wo1_0": 6.27121224e-02,
    "Wo1_1": 2.21232935e02,
    "C1": 1.17171440e00,
}


def test_eis_csv_reader_reads_the_headerless_table():
    ds = bv.read(EXAMPLE)
    assert ds.attrs["reader"] == "eis_csv" and ds.sizes["record"] == 66
    f = ds["frequency_hertz"].values
    z = ds["real_impedance_ohm"].values + 1j * ds["imaginary_impedance_ohm"].values
    assert f[0] == pytest.approx(0.0031623) and f[-1] == pytest.approx(10000.0)
    assert z[0] == pytest.approx(0.0494998977640506 - 0.020438698544418925j)
    assert z[-1] == pytest.approx(0.015771482660485933 + 0.010157474564938236j)


def test_randles_fit_reproduces_the_reference_within_2_percent():
    r = Impedance(circuit="randles", initial_guess=[0.01, 0.005, 0.01, 200, 0.1]).compute(
        bv.read(EXAMPLE)
    )
    for name, value in REFERENCE.items():
        assert float(r[name].values[0]) == pytest.approx(value, rel=0.02), name
        assert r[f"{name}_stderr"].values[0] > 0
    assert r.attrs["circuit"] == "R0-p(R1-Wo1,C1)"


def test_kramers_kronig_accepts_a_circuit_and_rejects_a_drifting_spectrum():
    f = np.geomspace(1e-2, 1e5, 60)
    w = 2 * np.pi * f
    z = 0.02 + 0.05 / (1 + 1j * w * 0.05 * 1e-3) + 0.1 / (1 + 1j * w * 0.1 * 10)
    assert lin_kk(f, z)["rms_residual"] < 0.002
    noisy = z * (1 + 0.003 * np.random.default_rng(0).standard_normal(f.size))  # 0.3 % noise
    assert lin_kk(f, noisy)["rms_residual"] < 0.005
    drift = z * (1 + 0.5 * np.linspace(0, 1, f.size) ** 2)  # the cell changes during the sweep
    assert lin_kk(f, drift)["rms_residual"] > 0.02
    r = Impedance().compute(bv.read(EXAMPLE))
    assert bool(r["kk_valid"].values[0]) and r["kk_rms_residual"].values[0] < 0.005


def test_mpr_peis_spectrum_fits_and_has_no_cycle():
    r = Impedance().compute(bv.read(REAL / "biologic" / "bdf_PEIS-0.mpr"))
    assert r.sizes["spectrum"] == 1 and r["cycle"].values[0] == -1
    assert (
        np.isfinite(r["R0"].values[0]) and 0 < r["R0"].values[0] < 20
    )  # the ~5.5 ohm high-frequency intercept region


def test_spectra_inside_a_cycling_test_are_split_and_linked_to_cycles():
    ds = bv.read(REAL / "biologic" / "cellpy_biol.mpr")
    # Re/Im derived from |Z| and phase where the file only has those
    z = np.hypot(ds["real_impedance_ohm"].values, ds["imaginary_impedance_ohm"].values)
    f = ds["frequency_hertz"].values
    np.testing.assert_allclose(z[f > 0], ds["absolute_impedance_ohm"].values[f > 0], rtol=1e-5)
    r = Impedance().compute(ds)
    assert r.sizes["spectrum"] == len(split_spectra(f)) == 5
    assert (r["cycle"].values >= 0).all() and (np.diff(r["cycle"].values) > 0).all()


def test_custom_circuit_needs_an_initial_guess_and_data_need_frequencies(example_ds):
    with pytest.raises(ValueError, match="initial_guess"):
        Impedance(circuit="R0-p(R1,C1)").compute(bv.read(EXAMPLE))
    with pytest.raises(bv.BatteryvizError, match="no impedance data"):
        Impedance().compute(example_ds)


def test_the_nyquist_plot_draws_the_fitted_circuit(real):
    """Polish (#16): the fitted circuit was not drawn on the Nyquist plot."""
    import holoviews as hv

    from batteryviz.analysis.impedance import fitted_impedance
    from batteryviz.viz import plots

    result = bv.Impedance().compute(bv.read(real / "eis" / "impedancepy_exampleData.csv"))
    f = result["frequency_hertz"].values[0]
    measured = (
        result["real_impedance_ohm"].values[0] + 1j * result["imaginary_impedance_ohm"].values[0]
    )
    ok = np.isfinite(f) & (measured.imag < 0)  # the capacitive points the fit used
    z = fitted_impedance(result, 0, f[ok])
    rms = np.sqrt(np.mean(np.abs(z - measured[ok]) ** 2))
    assert (
        rms < 0.05 * np.abs(measured[ok]).max()
    )  # the curve follows the spectrum it was fitted to
    overlay = plots.nyquist(result)
    fits = [e for e in overlay if isinstance(e, hv.Curve) and e.label.endswith(" fit")]
    assert len(fits) == 1 and len(fits[0]) == 200
