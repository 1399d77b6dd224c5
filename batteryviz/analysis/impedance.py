"""Impedance spectra: equivalent-circuit fits, Kramers–Kronig check, link to cycles.

Spectra
    Records with a frequency > 0 are impedance points. A spectrum is a run of consecutive such
    records whose frequency keeps falling (or keeps rising); a new sweep starts a new spectrum.
    Inside a cycling test each spectrum is linked to the analysis cycle of its records
    (check-ups), so fitted values trend against cycle number.
Sign convention
    ``imaginary_impedance_ohm`` is Im(Z), negative for capacitive behaviour (readers negate
    EC-Lab's ``-Im(Z)``). Nyquist plots show -Im(Z) upwards.
Fits
    Complex non-linear least squares through impedance.py (MIT, ECSHackWeek) with a circuit
    given as a string (``"R0-p(R1,C1)-W1"``) or ``"randles"``; standard errors from the fit
    covariance. ``capacitive_only`` keeps points with Im(Z) < 0, as impedance.py's
    ``ignoreBelowX``.
Kramers–Kronig
    Our implementation of the linear KK test of Schönleber et al. (Electrochim. Acta 131 (2014)
    20): Voigt elements, ``kk_per_decade`` time constants per decade over the measured range
    extended by a decade each side, with series R, L and C, fitted to the complex data by
    linear least squares (:func:`lin_kk`). Residuals are relative to ``|Z|``; a spectrum is
    valid when their RMS is at most ``kk_max_residual``. (A fixed element density replaces the
    paper's ``mu < c`` stopping rule, which stopped far too early on spectra with a Warburg
    tail; ``mu`` is still reported.)
"""

from __future__ import annotations

import warnings

import numpy as np
import param
import xarray as xr

from ..chunking import lazy_call
from ..errors import MissingColumnError
from .base import Analysis


def split_spectra(frequency: np.ndarray) -> list[np.ndarray]:
    """Record indices of each spectrum (monotonic frequency runs of records with f > 0)."""
    idx = np.flatnonzero(np.isfinite(frequency) & (frequency > 0))
    if idx.size == 0:
        return []
    out, start = [], 0
    direction = 0
    for k in range(1, idx.size):
        gap = idx[k] != idx[k - 1] + 1
        step = np.sign(frequency[idx[k]] - frequency[idx[k - 1]])
        if gap or (direction and step and step != direction):
            out.append(idx[start:k])
            start, direction = k, 0
        elif step:
            direction = direction or step
    out.append(idx[start:])
    return [s for s in out if s.size >= 3]


def lin_kk(
    f: np.ndarray, z: np.ndarray, per_decade: int = 3, extend_decades: float = 1.0, max_m: int = 200
) -> dict:
    """Linear Kramers–Kronig test of one spectrum.

    Voigt elements (``R_k / (1 + j w tau_k)``) with ``per_decade`` time constants per decade,
    log-spaced over the measured range extended by ``extend_decades`` on each side, plus a
    series resistance, inductance and capacitance, are fitted to the complex data by linear
    least squares weighted by ``1/|Z|``. A KK-consistent spectrum is reproduced to within its
    noise; drift during the sweep is not. Returns the number of elements ``M``, Schönleber's
    ``mu`` (``1 - sum|R_k<0| / sum|R_k>=0|``, reported), the fit and relative residuals.
    """
    omega = 2 * np.pi * f
    decades = np.log10(omega.max() / omega.min()) + 2 * extend_decades
    m = int(min(max(np.ceil(per_decade * decades), 3), max_m))
    tau = np.geomspace(10**-extend_decades / omega.max(), 10**extend_decades / omega.min(), m)
    a = np.hstack(
        [
            np.ones((f.size, 1)),
            1 / (1 + 1j * omega[:, None] * tau[None, :]),
            (1j * omega)[:, None],
            (1 / (1j * omega))[:, None],
        ]
    )
    w = 1 / np.abs(z)
    coef, *_ = np.linalg.lstsq(
        np.vstack([a.real * w[:, None], a.imag * w[:, None]]),
        np.r_[z.real * w, z.imag * w],
        rcond=None,
    )
    rk = coef[1 : 1 + m]
    pos, neg = np.abs(rk[rk >= 0]).sum(), np.abs(rk[rk < 0]).sum()
    fit = a @ coef
    res_re, res_im = (z.real - fit.real) / np.abs(z), (z.imag - fit.imag) / np.abs(z)
    return {
        "M": m,
        "mu": float(1 - neg / pos) if pos > 0 else 0.0,
        "z_fit": fit,
        "residual_real": res_re,
        "residual_imag": res_im,
        "rms_residual": float(np.sqrt(np.mean(res_re**2 + res_im**2))),
        "max_residual": float(max(np.abs(res_re).max(), np.abs(res_im).max())),
    }


class Impedance(Analysis):
    """Equivalent-circuit fits and a Kramers–Kronig check for every spectrum in a dataset."""

    circuit = param.String(
        default="randles",
        doc="Equivalent circuit in impedance.py notation (e.g. 'R0-p(R1,C1)-W1'), or 'randles'.",
    )
    initial_guess = param.List(
        default=None,
        allow_None=True,
        item_type=(int, float),
        doc="Initial parameter values, in the circuit's order. Required for custom circuits.",
    )
    capacitive_only = param.Boolean(default=True, doc="Fit only the points with Im(Z) < 0.")
    global_opt = param.Boolean(
        default=False,
        doc="Use impedance.py's global optimiser (basinhopping) instead of curve_fit.",
    )
    kk_per_decade = param.Integer(
        label="KK elements per decade",
        default=3,
        bounds=(1, 10),
        doc="Lin-KK: Voigt elements per decade of frequency.",
    )
    kk_max_residual = param.Number(
        default=0.01,
        bounds=(0, 1),
        doc="Largest RMS of the relative Lin-KK residuals of a valid spectrum.",
    )

    requires = ("frequency_hertz", "real_impedance_ohm", "imaginary_impedance_ohm")

    def _model(self):
        if self.circuit.lower() != "randles" and not self.initial_guess:
            raise ValueError(
                f"circuit {self.circuit!r} needs an initial_guess (one value per parameter)"
            )
        return _circuit({"circuit": self.circuit, "initial_guess": self.initial_guess})

    title = "EIS"

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        """Spectra on ``(spectrum, point)`` with their fits and KK check on ``spectrum``.

        On a Dask-backed dataset the frequency column is read once to find the spectra (their
        number and length shape the result); the data, fits and KK checks stay lazy, one task per
        spectrum.
        """
        missing = [v for v in self.requires if v not in ds]
        if missing:
            raise MissingColumnError(
                f"no impedance data: {', '.join(missing)} missing",
                path=ds.attrs.get("source_file"),
                column=missing[0],
            )
        f = np.asarray(ds["frequency_hertz"].values, dtype=float)
        spectra = split_spectra(f)
        if not spectra:
            raise ValueError("no impedance spectrum: no records with a frequency above 0")
        cycle = ds["cycle_index"].data if "cycle_index" in ds else None
        cycling = (
            "current_ampere" in ds and "test_time_second" in ds and bool((~(f > 0)).sum() > 10)
        )
        if cycle is None and cycling:
            from ..chunking import with_cycle_structure

            try:
                cycle = with_cycle_structure(ds)["cycle_index"].data
            except Exception:
                cycle = None
        n_max = max(s.size for s in spectra)
        model = self._model()
        names, units = model.get_param_names()
        settings = {
            "circuit": self.circuit,
            "initial_guess": self.initial_guess,
            "capacitive_only": self.capacitive_only,
            "global_opt": self.global_opt,
            "kk_per_decade": self.kk_per_decade,
            "n_max": n_max,
            "n_params": len(names),
        }
        width = 3 * n_max + 5 + 2 * len(names)
        rows = []
        for idx in spectra:
            sl = slice(int(idx[0]), int(idx[-1]) + 1) if idx[-1] - idx[0] + 1 == idx.size else idx
            args = [
                ds["frequency_hertz"].data[sl],
                ds["real_impedance_ohm"].data[sl],
                ds["imaginary_impedance_ohm"].data[sl],
                cycle[sl] if cycle is not None else None,
                settings,
            ]
            rows.append(lazy_call(spectrum_vector, (width,), *args))
        table = _stack(rows)
        p = len(names)
        point = ("spectrum", "point")
        kk = table[:, 3 * n_max : 3 * n_max + 4]
        out = xr.Dataset(
            {
                "frequency_hertz": (point, table[:, :n_max], {"units": "Hz"}),
                "real_impedance_ohm": (point, table[:, n_max : 2 * n_max], {"units": "ohm"}),
                "imaginary_impedance_ohm": (
                    point,
                    table[:, 2 * n_max : 3 * n_max],
                    {"units": "ohm", "definition": "Im(Z), negative = capacitive"},
                ),
                "cycle": (
                    "spectrum",
                    table[:, 3 * n_max + 4].astype(np.int64),
                    {"long_name": "Analysis cycle of the spectrum (-1: none)"},
                ),
                "kk_elements": ("spectrum", kk[:, 0].astype(np.int64)),
                "kk_mu": ("spectrum", kk[:, 1]),
                "kk_rms_residual": (
                    "spectrum",
                    kk[:, 2],
                    {"definition": "RMS of (Z - Z_KK) / |Z|"},
                ),
                "kk_max_residual": (
                    "spectrum",
                    kk[:, 3],
                    {"definition": "largest |Z - Z_KK| component / |Z|"},
                ),
                "kk_valid": ("spectrum", kk[:, 2] <= self.kk_max_residual),
            },
            coords={"spectrum": np.arange(len(spectra))},
        )
        params = table[:, 3 * n_max + 5 :]
        unit_of = dict(zip(names, units))
        for j, name in enumerate(names):
            out[name] = xr.Variable(
                ("spectrum",),
                params[:, j],
                {"units": unit_of.get(name, ""), "long_name": f"fitted {name}"},
            )
            out[f"{name}_stderr"] = xr.Variable(
                ("spectrum",), params[:, p + j], {"units": unit_of.get(name, "")}
            )
        out.attrs.update(self.provenance())
        out.attrs["circuit"] = model.circuit
        out.attrs["circuit_parameters"] = " ".join(names)
        out.attrs["fit"] = (
            "complex non-linear least squares (impedance.py); standard errors from the covariance"
        )
        out.attrs["kramers_kronig"] = "linear Lin-KK (Schoenleber 2014), batteryviz implementation"
        return out


def fitted_impedance(result: xr.Dataset, spectrum: int, frequency: np.ndarray) -> np.ndarray | None:
    """The impedance (ohm, complex) of the circuit fitted to one spectrum of an
    :class:`Impedance` result, at ``frequency`` (Hz); None when that fit failed."""
    from impedance.models.circuits import CustomCircuit

    circuit, names = result.attrs.get("circuit"), result.attrs.get("circuit_parameters", "").split()
    if not circuit or not names or not all(n in result for n in names):
        return None
    values = [float(result[n].values[spectrum]) for n in names]
    if not np.isfinite(values).all():
        return None
    model = CustomCircuit(circuit, initial_guess=values)
    with warnings.catch_warnings():  # "simulating based on initial parameters": they are the fit
        warnings.simplefilter("ignore")
        return model.predict(np.asarray(frequency, dtype=float), use_initial=True)


def _circuit(settings: dict):
    from impedance.models.circuits import CustomCircuit, Randles

    if settings["circuit"].lower() == "randles":
        return Randles(initial_guess=settings["initial_guess"] or [0.01, 0.005, 0.01, 200, 0.1])
    return CustomCircuit(settings["circuit"], initial_guess=list(settings["initial_guess"]))


def spectrum_vector(f, z_real, z_imag, cycle, settings: dict) -> np.ndarray:
    """One spectrum as a row: frequency, Re Z, Im Z (padded to ``n_max``), KK elements, mu, RMS
    and largest residual, the linked cycle, fitted parameters and their standard errors."""
    f, z = (
        np.asarray(f, dtype=float),
        np.asarray(z_real, dtype=float) + 1j * np.asarray(z_imag, dtype=float),
    )
    n_max, n_params = settings["n_max"], settings["n_params"]
    row = np.full(3 * n_max + 5 + 2 * n_params, np.nan)
    row[: f.size], row[n_max : n_max + f.size], row[2 * n_max : 2 * n_max + f.size] = (
        f,
        z.real,
        z.imag,
    )
    kk = lin_kk(f, z, settings["kk_per_decade"])
    row[3 * n_max : 3 * n_max + 4] = kk["M"], kk["mu"], kk["rms_residual"], kk["max_residual"]
    c = None if cycle is None else np.asarray(cycle)
    row[3 * n_max + 4] = (
        int(np.bincount(np.clip(c, 0, None)).argmax()) if c is not None and (c >= 0).any() else -1
    )
    model = _circuit(settings)
    sel = z.imag < 0 if settings["capacitive_only"] else np.ones(f.size, dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(f[sel], z[sel], global_opt=settings["global_opt"])
            row[3 * n_max + 5 : 3 * n_max + 5 + n_params] = model.parameters_
            if model.conf_ is not None:
                row[3 * n_max + 5 + n_params :] = model.conf_
        except Exception:
            pass  # a failed fit leaves NaN parameters; the spectrum and its KK check remain
    return row


def _stack(rows):
    if any(hasattr(r, "dask") for r in rows):
        import dask.array as da

        return da.stack(rows)
    return np.vstack(rows)
