"""A synthetic cell with exactly known truth, writable in every supported text format.

The cell: an OCV curve with two plateaus (graphite-like steps at 3.45 V and 3.85 V on a sloping
background), an ohmic resistance, CC-CV charge, rest, CC discharge, rest, repeated with a slow
linear capacity fade. Currents are piecewise analytic, so the truth (capacities, energies,
mean voltages, durations) is integrated on a 20x finer grid than the sampling and is exact to
well below the tolerances the tests use.

>>> from batteryviz.testing import synthetic_cell
>>> cell = synthetic_cell(n_cycles=3)
>>> cell.truth["discharge_capacity_ah"]                     # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import xarray as xr

from . import schema

PLATEAUS_V = (3.45, 3.85)


#: dQ/dU peak voltages of the synthetic cell at open circuit (graphite-like staging plateaus).
PLATEAU_WIDTH_V = 0.012
_V_MIN, _V_MAX = 3.0, 4.2
_PLATEAU_WEIGHTS = (0.25, 0.30)


def _soc_of_voltage(v: np.ndarray) -> np.ndarray:
    """State of charge as a function of open-circuit voltage: a linear background plus one
    logistic step per plateau, so dSOC/dU (and dQ/dU) peaks exactly at :data:`PLATEAUS_V`."""
    v = np.asarray(v, dtype=float)
    background = (1 - sum(_PLATEAU_WEIGHTS)) * (v - _V_MIN) / (_V_MAX - _V_MIN)
    steps = sum(
        w / (1 + np.exp(-(v - p) / PLATEAU_WIDTH_V)) for w, p in zip(_PLATEAU_WEIGHTS, PLATEAUS_V)
    )
    lo = sum(
        w / (1 + np.exp(-(_V_MIN - p) / PLATEAU_WIDTH_V))
        for w, p in zip(_PLATEAU_WEIGHTS, PLATEAUS_V)
    )
    hi = sum(
        w / (1 + np.exp(-(_V_MAX - p) / PLATEAU_WIDTH_V))
        for w, p in zip(_PLATEAU_WEIGHTS, PLATEAUS_V)
    )
    return background + (steps - lo) * sum(_PLATEAU_WEIGHTS) / (hi - lo)


_V_GRID = np.linspace(_V_MIN, _V_MAX, 200_001)
_SOC_GRID = _soc_of_voltage(_V_GRID)


def ocv(soc: np.ndarray) -> np.ndarray:
    """Open-circuit voltage (V) of the synthetic cell at state of charge ``soc`` (0..1).

    The inverse of :func:`_soc_of_voltage`: two plateaus, so dQ/dU has peaks at
    :data:`PLATEAUS_V` (at open circuit; under current they shift by ``I R``).
    """
    return np.interp(np.clip(soc, 0, 1), _SOC_GRID, _V_GRID)


@dataclass
class SyntheticCell:
    """Records of a synthetic test (``ds``) and its per-cycle truth (``truth``)."""

    ds: xr.Dataset
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def synthetic_cell(
    n_cycles: int = 5,
    capacity_ah: float = 2.0,
    c_rate: float = 0.5,
    fade_per_cycle: float = 0.002,
    resistance_ohm: float = 0.05,
    dt_s: float = 10.0,
    cv_cutoff_c: float = 0.05,
    rest_s: float = 600.0,
    start_with: str = "charge",
    coulombic_loss: float = 0.004,
    capacities_ah: "list[float] | None" = None,
    storage_s: "list[float] | None" = None,
) -> SyntheticCell:
    """Simulate a cycling test.

    Parameters
    ----------
    n_cycles
        Number of cycles (each: charge, rest, discharge, rest).
    capacity_ah
        Capacity of the first cycle (Ah); later cycles lose ``fade_per_cycle`` of it per cycle.
    c_rate
        Charge and discharge current in units of ``capacity_ah``.
    resistance_ohm
        Ohmic resistance: U = OCV(SOC) + I R.
    dt_s
        Sampling interval (s).
    cv_cutoff_c
        The CV hold at the upper voltage ends when the current falls below this C-rate.
    start_with
        ``"charge"`` (cathode/full cell) or ``"discharge"`` (anode half cell style).
    coulombic_loss
        Fraction of the charge passed while charging that goes to a side reaction instead of
        the state of charge, so coulombic efficiency is ``1 - coulombic_loss`` and its
        direction is pinned.
    capacities_ah
        Capacity of each cycle (overrides ``capacity_ah`` and ``fade_per_cycle``), e.g. a
        calendar-ageing law.
    storage_s
        A rest of this length before each cycle (calendar ageing: storage between check-ups).
    """
    i_cc = c_rate * capacity_ah
    t_all, i_all, u_all, st_all, cyc_all = [], [], [], [], []
    truth = {
        k: []
        for k in (
            "charge_capacity_ah",
            "discharge_capacity_ah",
            "charge_energy_wh",
            "discharge_energy_wh",
            "charge_duration_h",
            "discharge_duration_h",
        )
    }
    t0 = 0.0
    soc = 0.0 if start_with == "charge" else 1.0
    v_max = float(ocv(np.array([1.0]))[0])

    def segment(kind: str, q_cap: float, cycle: int, duration_s: float | None = None):
        nonlocal t0, soc
        fine = 20
        if kind == "rest":
            rest_len = rest_s if duration_s is None else duration_s
            n = max(int(rest_len / dt_s), 1)
            step_dt = rest_len / n
            tt = np.arange(1, n + 1) * step_dt
            t_all.append(t0 + tt)
            i_all.append(np.zeros(n))
            u_all.append(np.full(n, float(ocv(np.array([soc]))[0])))
            st_all.append(np.zeros(n, dtype=np.int8))
            cyc_all.append(np.full(n, cycle))
            t0 += rest_len
            return
        sign = 1.0 if kind == "charge" else -1.0
        # CC until the SOC window end (discharge) or the voltage limit (charge, then CV)
        if kind == "discharge":
            t_cc = soc * q_cap * 3600.0 / i_cc
            t_cv, tau = 0.0, 1.0
        else:
            # CC until U = v_max: find the SOC where OCV + I R = v_max
            grid = np.linspace(0, 1, 200001)
            soc_lim = (
                grid[np.argmax(ocv(grid) + i_cc * resistance_ohm >= v_max)]
                if (ocv(grid) + i_cc * resistance_ohm >= v_max).any()
                else 1.0
            )
            t_cc = max(soc_lim - soc, 0) * q_cap * 3600.0 / i_cc / (1 - coulombic_loss)
            # CV: current decays exponentially with time constant tau until cutoff
            tau = 1800.0
            i_cut = cv_cutoff_c * capacity_ah
            t_cv = tau * np.log(i_cc / i_cut)
        total = t_cc + t_cv
        n = max(int(np.ceil(total / dt_s)), 1)
        tt = np.minimum(np.arange(1, n + 1) * dt_s, total)
        tf = np.linspace(0, total, n * fine + 1)

        def current(x):
            return np.where(
                x <= t_cc, sign * i_cc, sign * i_cc * np.exp(-np.maximum(x - t_cc, 0) / tau)
            )

        qf = (
            np.concatenate(
                [[0], np.cumsum(0.5 * (current(tf[1:]) + current(tf[:-1])) * np.diff(tf))]
            )
            / 3600.0
        )
        eff = (1 - coulombic_loss) if kind == "charge" else 1.0
        soc_f = soc + eff * qf / q_cap
        uf = np.where(tf <= t_cc, ocv(soc_f) + current(tf) * resistance_ohm, v_max)
        pf = uf * current(tf)
        q = abs(qf[-1])
        e = abs(np.sum(0.5 * (pf[1:] + pf[:-1]) * np.diff(tf))) / 3600.0
        # sampled records: a switching record at the segment start with the current on
        ts = np.r_[1e-3, tt]
        q_s = np.interp(ts, tf, qf)
        soc_s = soc + eff * q_s / q_cap
        u_s = np.where(ts <= t_cc, ocv(soc_s) + current(ts) * resistance_ohm, v_max)
        t_all.append(t0 + ts)
        i_all.append(current(ts))
        u_all.append(u_s)
        st_all.append(np.full(ts.size, 1 if kind == "charge" else 2, dtype=np.int8))
        cyc_all.append(np.full(ts.size, cycle))
        truth[f"{kind}_capacity_ah"].append(q)
        truth[f"{kind}_energy_wh"].append(e)
        truth[f"{kind}_duration_h"].append(total / 3600.0)
        soc = soc + eff * qf[-1] / q_cap
        t0 += total

    # initial rest sample
    t_all.append(np.array([0.0]))
    i_all.append(np.array([0.0]))
    u_all.append(np.array([float(ocv(np.array([soc]))[0])]))
    st_all.append(np.array([0], dtype=np.int8))
    cyc_all.append(np.array([1]))
    order = ("charge", "discharge") if start_with == "charge" else ("discharge", "charge")
    for k in range(n_cycles):
        q_cap = (
            capacities_ah[k]
            if capacities_ah is not None
            else capacity_ah * (1 - fade_per_cycle * k)
        )
        if storage_s is not None and storage_s[k] > 0:
            segment("rest", q_cap, k + 1, duration_s=float(storage_s[k]))
        for kind in order:
            segment(kind, q_cap, k + 1)
            segment("rest", q_cap, k + 1)
    t = np.concatenate(t_all)
    i = np.concatenate(i_all)
    u = np.concatenate(u_all)
    st = np.concatenate(st_all)
    cyc = np.concatenate(cyc_all)
    ds = schema.build_dataset(
        {
            "test_time_second": t,
            "voltage_volt": u,
            "current_ampere": i,
            "cycle_count": cyc.astype(np.int64),
            "step_type": st,
            "ambient_temperature_celsius": np.full(t.size, 25.0),
        },
        {"cycler": "synthetic", "source_file": "synthetic", "nominal_capacity_ah": capacity_ah},
    )
    tr = {k: np.asarray(v) for k, v in truth.items()}
    tr["mean_charge_voltage_v"] = tr["charge_energy_wh"] / tr["charge_capacity_ah"]
    tr["mean_discharge_voltage_v"] = tr["discharge_energy_wh"] / tr["discharge_capacity_ah"]
    first, second = ("charge", "discharge") if start_with == "charge" else ("discharge", "charge")
    tr["coulombic_efficiency_percent"] = (
        100 * tr[f"{second}_capacity_ah"] / tr[f"{first}_capacity_ah"]
    )
    return SyntheticCell(
        ds=ds,
        truth=tr,
        params=dict(
            n_cycles=n_cycles,
            capacity_ah=capacity_ah,
            c_rate=c_rate,
            resistance_ohm=resistance_ohm,
            dt_s=dt_s,
            start_with=start_with,
        ),
    )


# -- writers: the synthetic (or any) cell as a vendor text export ---------------------------

FORMATS = ("basytec", "basytec_de", "arbin", "neware", "maccor", "biologic", "bdf", "generic")


def write_text(ds: xr.Dataset, path: str | os.PathLike, format: str) -> Path:
    """Write a cell dataset as a text export of ``format`` (see :data:`FORMATS`).

    The files follow each vendor's layout closely enough for the readers (and a person) to
    recognise them: preamble, header names, units, separators, decimal marks, sign conventions.
    """
    path = Path(path)
    t = ds["test_time_second"].values
    u = ds["voltage_volt"].values
    i = ds["current_ampere"].values
    st = ds["step_type"].values if "step_type" in ds else np.where(i > 0, 1, np.where(i < 0, 2, 0))
    cyc = ds["cycle_count"].values if "cycle_count" in ds else np.ones(t.size, dtype=int)
    temp = (
        ds["ambient_temperature_celsius"].values
        if "ambient_temperature_celsius" in ds
        else np.full(t.size, 25.0)
    )
    step = np.cumsum(np.r_[1, np.diff(st) != 0])
    start = datetime(2025, 2, 3, 8, 41, 17)
    if format == "bdf":
        from .io.bdf import write_bdf

        return write_bdf(ds, path)
    rows: list[str] = []
    if format in ("basytec", "basytec_de"):
        de = format == "basytec_de"
        sep = " " if de else "\t"
        cmd = np.array(["Pause", "Charge", "Discharge", "Pause"])[st]
        names = [
            "~Time[h]",
            "DataSet",
            "DateTime",
            "Line",
            "Command",
            "U[V]",
            "I[A]",
            "T1[°C]",
            "Cyc-Count",
            "State",
        ]
        head = [
            "~Resultfile from Basytec Battery Test System",
            "~",
            "~Name of Test: synthetic",
            "~Battery: synthetic cell",
            f"~Start of Test: {start:%d.%m.%Y %H:%M:%S}",
            "~",
            sep.join(names),
        ]
        for k in range(t.size):
            stamp = (start + timedelta(seconds=float(t[k]))).strftime("%d.%m.%Y %H:%M:%S")
            vals = [
                f"{t[k] / 3600:.9f}",
                str(k + 1),
                stamp,
                str(step[k]),
                cmd[k],
                f"{u[k]:.6f}",
                f"{i[k]:.7f}",
                f"{temp[k]:.3f}",
                str(int(cyc[k])),
                "1",
            ]
            line = sep.join(vals)
            rows.append(
                line.replace(".", ",").replace(stamp.replace(".", ","), stamp) if de else line
            )
        text = "\r\n".join(head + rows) + "\r\n" if de else "\n".join(head + rows) + "\n"
        path.write_bytes(text.encode("cp1252"))
        return path
    if format == "arbin":
        head = (
            "Data Point,Date Time,Test Time (s),Step Time (s),Cycle Index,Step Index,Current (A),"
            "Voltage (V),Aux_Temperature_1 (C)"
        )
        for k in range(t.size):
            when = start + timedelta(seconds=float(t[k]))
            rows.append(
                f"{k + 1},\t{when:%m/%d/%Y %H:%M:%S.%f},{t[k]:.4f},0,{int(cyc[k])},{step[k]},"
                f"{i[k]:.7f},{u[k]:.6f},{temp[k]:.3f}"
            )
        text = "\ufeff" + head + "\n" + "\n".join(rows) + "\n"
    elif format == "neware":
        head = (
            "DataPoint,Cycle Index,Step Index,Step Type,Time,Cumulative Time,Current(A),Voltage(V)"
        )
        names = np.array(["Rest", "CC Chg", "CC DChg", "Rest"])[st]
        for k in range(t.size):
            rows.append(
                f"{k + 1},{int(cyc[k])},{step[k]},{names[k]},0,{_hms(t[k])},{i[k]:.8f},{u[k]:.5f}"
            )
        text = head + "\n" + "\n".join(rows) + "\n"
    elif format == "maccor":
        head = (
            "Today's Date:\t03 February 2025\tDate of Test:\t03 February 2025\n"
            "Rec#\tCyc#\tStep\tTest (Sec)\tAmps\tVolts\tState\tDPt Time"
        )
        state = np.array(["R", "C", "D", "R"])[st]
        for k in range(t.size):
            when = start + timedelta(seconds=float(t[k]))
            rows.append(
                f"{k + 1}\t{int(cyc[k])}\t{step[k]}\t{t[k]:.4f}\t{abs(i[k]):.7f}\t{u[k]:.6f}\t"
                f"{state[k]}\t{when:%m/%d/%Y %H:%M:%S}"
            )
        text = head + "\n" + "\n".join(rows) + "\n"
    elif format == "biologic":
        names = ["time/s", "Ecell/V", "I/mA", "cycle number", "Ns"]
        pre = ["BT-Lab ASCII FILE", "Nb header lines : 4", "", "\t".join(names)]
        for k in range(t.size):
            rows.append(
                "\t".join(
                    [
                        f"{t[k]:.6f}",
                        f"{u[k]:.7f}",
                        f"{1000 * i[k]:.6f}",
                        f"{int(cyc[k]) - 1}",
                        str(step[k] - 1),
                    ]
                ).replace(".", ",")
            )
        text = "\n".join(pre + rows) + "\n"
        path.write_bytes(text.encode("latin-1"))
        return path
    elif format == "generic":
        head = "time_s;voltage_V;current_mA;temperature_C"
        for k in range(t.size):
            rows.append(f"{t[k]:.4f};{u[k]:.6f};{1000 * i[k]:.5f};{temp[k]:.3f}")
        text = head + "\n" + "\n".join(rows) + "\n"
    else:
        raise ValueError(f"unknown format {format!r}; one of {', '.join(FORMATS)}")
    path.write_text(text, encoding="utf-8")
    return path


def _hms(seconds: float) -> str:
    h, rem = divmod(float(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


EXCEL_FORMATS = ("arbin_xlsx", "neware_xlsx", "generic_xlsx")


def write_excel(ds: xr.Dataset, path: str | os.PathLike, format: str) -> Path:
    """Write a cell dataset as an Excel export of ``format`` (see :data:`EXCEL_FORMATS`)."""
    import pandas as pd

    path = Path(path)
    t = ds["test_time_second"].values
    u = ds["voltage_volt"].values
    i = ds["current_ampere"].values
    st = ds["step_type"].values if "step_type" in ds else np.where(i > 0, 1, np.where(i < 0, 2, 0))
    cyc = ds["cycle_count"].values if "cycle_count" in ds else np.ones(t.size, dtype=int)
    step = np.cumsum(np.r_[1, np.diff(st) != 0])
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        if format == "arbin_xlsx":
            pd.DataFrame({"Channel": [1], "Schedule File Name": ["synthetic.sdu"]}).to_excel(
                xw, sheet_name="Global_Info", index=False
            )
            pd.DataFrame(
                {
                    "Data_Point": np.arange(1, t.size + 1),
                    "Test_Time(s)": t,
                    "Step_Index": step,
                    "Cycle_Index": cyc,
                    "Current(A)": i,
                    "Voltage(V)": u,
                }
            ).to_excel(xw, sheet_name="Channel_1_1", index=False)
        elif format == "neware_xlsx":
            names = np.array(["Rest", "CC_Chg", "CC_DChg", "Rest"])[st]
            pd.DataFrame(
                {
                    "DataPoint": np.arange(1, t.size + 1),
                    "Cycle Index": cyc,
                    "Step Index": step,
                    "Step Type": names,
                    "Total Time": [_hms(x) for x in t],
                    "Current(A)": i,
                    "Voltage(V)": u,
                }
            ).to_excel(xw, sheet_name="record", index=False)
        elif format == "generic_xlsx":
            pd.DataFrame({"Time (s)": t, "Voltage (V)": u, "Current (mA)": 1000 * i}).to_excel(
                xw, sheet_name="data", index=False
            )
        else:
            raise ValueError(f"unknown Excel format {format!r}; one of {', '.join(EXCEL_FORMATS)}")
    return path
