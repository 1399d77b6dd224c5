"""Rate capability: capacity against C-rate.

Definitions
-----------
C-rate of a half cycle
    Its constant-current magnitude (mean ``|I|`` where ``|I| >= 0.9 max|I|``, as in the cycle
    summary) divided by the nominal capacity; without one, by the first complete cycle's
    discharge capacity. It is *detected from the current*: no rate is typed in. Rates within
    ``rate_tolerance`` of a standard value (C/20 … 10C) are snapped to it.
Blocks
    Runs of consecutive cycles with the same (charge rate, discharge rate).
Rate test
    The longest run of consecutive blocks that share one charge rate and step through at least
    two discharge rates (for ``direction="discharge"``; the roles swap for ``"charge"``).
    Formation cycles (another charge rate) and a long constant-rate ageing block that follows
    are therefore not part of it. ``cycles=`` overrides the detection.
Retention at a rate
    Mean capacity at that rate / mean capacity at the lowest rate of the test, in percent.
    Repeats are averaged; their standard deviation, minimum and maximum are reported.
"""

from __future__ import annotations

import numpy as np
import param
import xarray as xr

from . import parameters
from .base import Analysis
from .summary import CycleSummary, require_cycles

STANDARD_RATES = (0.05, 0.1, 0.2, 0.25, 1 / 3, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0)


def snap_rates(rates: np.ndarray, tolerance: float) -> np.ndarray:
    """Rates within ``tolerance`` (relative) of a standard C-rate become that rate."""
    out = np.array(rates, dtype=float)
    std = np.array(STANDARD_RATES)
    for k, r in enumerate(out):
        if not np.isfinite(r) or r <= 0:
            continue
        rel = np.abs(std / r - 1)
        j = int(np.argmin(rel))
        out[k] = std[j] if rel[j] <= tolerance else float(f"{r:.2g}")
    return out


def rate_label(rate: float) -> str:
    if not np.isfinite(rate):
        return "n/a"
    if rate < 1:
        inv = 1 / rate
        return f"C/{inv:.0f}" if abs(inv - round(inv)) < 0.05 else f"{rate:g}C"
    return f"{rate:g}C"


def blocks(charge_rate: np.ndarray, discharge_rate: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) positions of runs with equal (charge, discharge) rates."""
    out, start = [], 0
    for k in range(1, len(charge_rate) + 1):
        if k == len(charge_rate) or (charge_rate[k], discharge_rate[k]) != (
            charge_rate[start],
            discharge_rate[start],
        ):
            out.append((start, k - 1))
            start = k
    return out


class RateCapability(Analysis):
    """Capacity and retention per C-rate, with the rates detected from the current."""

    direction = param.Selector(
        default="discharge",
        objects=["discharge", "charge"],
        doc="Which half cycle's rate is varied in the test (and whose capacity is reported).",
    )
    nominal_capacity_mah = parameters.nominal_capacity_mah("the C-rates the test is described in")
    rate_tolerance = param.Number(
        default=0.1,
        bounds=(0, 0.5),
        doc="Relative distance within which a detected rate snaps to a standard C-rate.",
    )
    cycles = parameters.cycles(
        "detected: the longest run of cycles with one fixed rate and two or more varied ones"
    )
    active_mass_mg = param.Number(
        default=None,
        allow_None=True,
        bounds=(0, None),
        inclusive_bounds=(False, True),
        doc="Active mass in mg, for specific capacity per rate.",
    )
    cycle_mode = parameters.cycle_mode()

    title = "Rate capability"

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        """Per-rate table on the ``rate`` dimension, per-block table on ``block``.

        Which rates there are, and which cycles form the rate test, is found in the values: on a
        Dask-backed dataset the cycle summary is therefore computed once (on the cluster when a
        Dask client is active) and the result, a few numbers per rate, is in memory.
        """
        summary = (
            ds
            if "discharge_capacity_ah" in ds and "cycle" in ds.dims and "record" not in ds.dims
            else CycleSummary(
                cycle_mode=self.cycle_mode,
                nominal_capacity_mah=self.nominal_capacity_mah,
                active_mass_mg=self.active_mass_mg,
            ).compute(ds)
        )
        if any(hasattr(v.data, "dask") for v in summary.data_vars.values()):
            summary = summary.compute()  # one pass over the records for every variable
        require_cycles(summary, "rate capability")
        cycles = summary["cycle"].values
        complete = summary["complete"].values.astype(bool)
        c_rate = snap_rates(summary["charge_c_rate"].values, self.rate_tolerance)
        d_rate = snap_rates(summary["discharge_c_rate"].values, self.rate_tolerance)
        varied, fixed = (d_rate, c_rate) if self.direction == "discharge" else (c_rate, d_rate)
        capacity = summary[f"{self.direction}_capacity_ah"].values
        blks = [(a, b) for a, b in blocks(c_rate, d_rate) if complete[a : b + 1].all()]
        if self.cycles is not None:
            chosen = np.isin(cycles, self.cycles) & complete
            how = "cycles given"
        else:
            chosen = np.zeros(cycles.size, dtype=bool)
            best = (0, None)
            k = 0
            while k < len(blks):
                j = k
                while (
                    j + 1 < len(blks)
                    and fixed[blks[j + 1][0]] == fixed[blks[k][0]]
                    and blks[j + 1][0] == blks[j][1] + 1
                ):
                    j += 1
                distinct = len({varied[a] for a, _ in blks[k : j + 1]})
                n = blks[j][1] - blks[k][0] + 1
                if distinct >= 2 and n > best[0]:
                    best = (n, (blks[k][0], blks[j][1]))
                k = j + 1
            if best[1] is None:
                raise ValueError(
                    "no rate test found: no run of blocks with one fixed rate and two or more "
                    "varied rates; choose the cycles of the rate test (Cycles)"
                )
            chosen[best[1][0] : best[1][1] + 1] = True
            other = "charge" if self.direction == "discharge" else "discharge"
            first, last = best[1]
            how = (
                f"detected: cycles {cycles[first]}–{cycles[last]}, "
                f"fixed {other} rate {rate_label(fixed[first])}"
            )
        rates = np.unique(varied[chosen])
        rates = rates[np.isfinite(rates)]
        stats = {
            name: np.full(rates.size, np.nan)
            for name in ("mean", "std", "min", "max", "n", "voltage", "energy")
        }
        members = []
        for k, r in enumerate(rates):
            sel = chosen & (varied == r)
            q = capacity[sel]
            stats["mean"][k], stats["min"][k], stats["max"][k] = q.mean(), q.min(), q.max()
            stats["std"][k] = q.std(ddof=1) if q.size > 1 else 0.0
            stats["n"][k] = q.size
            stats["voltage"][k] = summary[f"mean_{self.direction}_voltage_v"].values[sel].mean()
            stats["energy"][k] = summary[f"{self.direction}_energy_wh"].values[sel].mean()
            members.append(",".join(str(int(c)) for c in cycles[sel]))
        lowest = stats["mean"][0] if rates.size else np.nan
        out = xr.Dataset(
            {
                "capacity_ah": (
                    "rate",
                    stats["mean"],
                    {"units": "Ah", "long_name": f"Mean {self.direction} capacity"},
                ),
                "capacity_std_ah": (
                    "rate",
                    stats["std"],
                    {"units": "Ah", "long_name": "Standard deviation of the repeats"},
                ),
                "capacity_min_ah": ("rate", stats["min"], {"units": "Ah"}),
                "capacity_max_ah": ("rate", stats["max"], {"units": "Ah"}),
                "repeats": ("rate", stats["n"].astype(int), {"long_name": "Cycles at this rate"}),
                "retention_percent": (
                    "rate",
                    100 * stats["mean"] / lowest,
                    {
                        "units": "%",
                        "definition": "mean capacity / mean capacity at the lowest rate",
                    },
                ),
                "mean_voltage_v": ("rate", stats["voltage"], {"units": "V"}),
                "energy_wh": ("rate", stats["energy"], {"units": "Wh"}),
                "cycles": (
                    "rate",
                    np.array(members, dtype=object),
                    {"long_name": "Cycles averaged"},
                ),
                "label": ("rate", np.array([rate_label(r) for r in rates], dtype=object)),
            },
            coords={
                "rate": (
                    "rate",
                    rates,
                    {"units": "1/h", "long_name": f"{self.direction.capitalize()} C-rate"},
                )
            },
        )
        if "specific_discharge_capacity_mah_g" in summary and self.direction == "discharge":
            spec = summary["specific_discharge_capacity_mah_g"].values
            out["specific_capacity_mah_g"] = (
                "rate",
                [spec[chosen & (varied == r)].mean() for r in rates],
                {"units": "mAh/g"},
            )
        first = np.array([cycles[a] for a, _ in blks])
        last = np.array([cycles[b] for _, b in blks])
        out["block_first_cycle"] = ("block", first)
        out["block_last_cycle"] = ("block", last)
        out["block_charge_rate"] = ("block", np.array([c_rate[a] for a, _ in blks]))
        out["block_discharge_rate"] = ("block", np.array([d_rate[a] for a, _ in blks]))
        out["block_capacity_ah"] = (
            "block",
            np.array([capacity[a : b + 1].mean() for a, b in blks]),
            {"units": "Ah"},
        )
        out["block_in_rate_test"] = ("block", np.array([bool(chosen[a]) for a, _ in blks]))
        out.attrs.update(self.provenance())
        out.attrs["rate_test"] = how
        out.attrs["main_dimension"] = "rate"  # its table is per rate; the blocks come along
        out.attrs["c_rate_reference"] = summary.attrs.get("nominal_capacity", "")
        out.attrs["definition"] = (
            "C-rate detected from the constant-current magnitude; repeats averaged; retention "
            "relative to the lowest rate"
        )
        return out
