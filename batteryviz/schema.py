"""The cell dataset: BDF variable names, units, labels, step-type codes and validation.

A cell's test is one :class:`xarray.Dataset` with a flat ``record`` dimension (one entry per
sample) whose variables carry Battery Data Format (BDF) machine names. This module is the one
place that knows those names.

Conventions
-----------
* **Positive current charges the cell.** Readers convert every vendor's convention to this.
* Capacities and energies of the vendor's counters keep what the cycler wrote (magnitudes, as
  positive numbers); counters that reset (per step, per cycle) carry ``attrs["resets"]``.
* ``cycle_count`` is what the cycler wrote and is never renumbered; the analysis cycle index is
  derived by :mod:`batteryviz.cycles`.
* ``step_type`` is a small integer code (CF ``flag_values`` / ``flag_meanings``): see
  :data:`STEP_TYPES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import xarray as xr

from .errors import SchemaError

RECORD_DIM = "record"
CYCLE_DIM = "cycle"
#: The variable on ``(cycle, aggregate)`` holding the per-cycle sums and extremes the cycle
#: summary is computed from (see :func:`batteryviz.analysis.summary.with_cycle_aggregates`);
#: a ``.bdf.parquet`` file carries it when the dataset written does.
CYCLE_AGGREGATES = "cycle_aggregates"


@dataclass(frozen=True)
class Variable:
    """Definition of one dataset variable."""

    name: str
    units: str
    long_name: str
    label: str  # BDF preferred label, e.g. "Voltage / V"


def _v(name: str, units: str, long_name: str, label: str) -> Variable:
    return Variable(name, units, long_name, label)


#: Variables of the record dimension. BDF names where BDF defines one.
VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in [
        _v("test_time_second", "s", "Test time", "Test Time / s"),
        _v("voltage_volt", "V", "Voltage", "Voltage / V"),
        _v("current_ampere", "A", "Current (positive charges the cell)", "Current / A"),
        _v("unix_time_second", "s", "Unix time (UTC)", "Unix Time / s"),
        _v("cycle_count", "1", "Cycle counter written by the cycler", "Cycle Count / 1"),
        _v("step_count", "1", "Running step counter", "Step Count / 1"),
        _v("step_index", "1", "Step (program line) index written by the cycler", "Step Index / 1"),
        _v("step_time_second", "s", "Time since the start of the step", "Step Time / s"),
        _v("ambient_temperature_celsius", "degC", "Temperature", "Ambient Temperature / degC"),
        _v("charging_capacity_ah", "Ah", "Charge counter", "Charging Capacity / Ah"),
        _v("discharging_capacity_ah", "Ah", "Discharge counter", "Discharging Capacity / Ah"),
        _v("net_capacity_ah", "Ah", "Net charge since test start", "Net Capacity / Ah"),
        _v("step_capacity_ah", "Ah", "Net charge within the step", "Step Capacity / Ah"),
        _v("charging_energy_wh", "Wh", "Charge energy counter", "Charging Energy / Wh"),
        _v("discharging_energy_wh", "Wh", "Discharge energy counter", "Discharging Energy / Wh"),
        _v("net_energy_wh", "Wh", "Net energy since test start", "Net Energy / Wh"),
        _v("power_watt", "W", "Power", "Power / W"),
        _v(
            "internal_resistance_ohm",
            "ohm",
            "Internal resistance (cycler)",
            "Internal Resistance / ohm",
        ),
        _v("frequency_hertz", "Hz", "Frequency", "Frequency / Hz"),
        _v("real_impedance_ohm", "ohm", "Real part of impedance", "Real Impedance / ohm"),
        _v(
            "imaginary_impedance_ohm",
            "ohm",
            "Imaginary part of impedance",
            "Imaginary Impedance / ohm",
        ),
        _v("step_type", "1", "Step type (batteryviz code)", "Step Type / 1"),
        _v("data_point", "1", "Record number written by the cycler", "Data Point / 1"),
    ]
}

REQUIRED = ("test_time_second", "voltage_volt", "current_ampere")

#: An impedance-only dataset (a spectrum without cycling records) needs these instead.
REQUIRED_EIS = ("frequency_hertz", "real_impedance_ohm", "imaginary_impedance_ohm")

#: Variables every reader parses when the file is read (the cycle summary and the cycle rule
#: need them); other columns may be deferred and parsed on first access (see io/lazy.py).
CORE = REQUIRED + (
    "cycle_count",
    "step_index",
    "step_type",
    "command",
    "ambient_temperature_celsius",
)

#: Step-type codes used in ``step_type`` (and in the derived step tables).
STEP_TYPES: dict[str, int] = {"rest": 0, "charge": 1, "discharge": 2, "other": 3}
STEP_TYPE_NAMES = {v: k for k, v in STEP_TYPES.items()}


def step_type_codes(labels: list[str]) -> np.ndarray:
    """:data:`STEP_TYPES` codes of step names as cyclers write them (``CC_DChg``, ``Charge``,
    ``discharge``, ``Rest``, ``Pause``, ``OCV`` …): discharge before charge (``dchg`` holds
    ``chg``), anything unrecognised is "other" (its records are then classified by current)."""
    out = []
    for lbl in labels:
        low = str(lbl).lower().replace("_", " ")
        if "dchg" in low or "discharg" in low or "dis" == low[:3]:
            out.append(STEP_TYPES["discharge"])
        elif "chg" in low or "charg" in low:
            out.append(STEP_TYPES["charge"])
        elif any(w in low for w in ("rest", "pause", "ocv", "wait", "relax")):
            out.append(STEP_TYPES["rest"])
        else:
            out.append(STEP_TYPES["other"])
    return np.array(out, dtype=np.int8)


#: Roles a vendor counter can have; the cycle summary looks counters up by role, so a
#: reader only declares what a column means (``attrs["role"]``) and the summary does the rest.
COUNTER_ROLES = ("charge_capacity", "discharge_capacity", "charge_energy", "discharge_energy")


def variable_attrs(name: str, **extra) -> dict:
    """Attrs (units, long_name, label) for a known variable name, plus ``extra``."""
    var = VARIABLES.get(name)
    attrs = (
        {} if var is None else {"units": var.units, "long_name": var.long_name, "label": var.label}
    )
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs


def step_type_attrs() -> dict:
    """CF flag attrs describing the ``step_type`` codes."""
    return {
        **variable_attrs("step_type"),
        "flag_values": np.array(list(STEP_TYPES.values()), dtype="int8"),
        "flag_meanings": " ".join(STEP_TYPES),
    }


def build_dataset(
    data: Mapping[str, np.ndarray | tuple[np.ndarray, dict]],
    attrs: Mapping | None = None,
) -> xr.Dataset:
    """Assemble a cell dataset on the ``record`` dimension.

    Parameters
    ----------
    data
        Variable name to a 1-D array, or to ``(array, extra_attrs)``.
    attrs
        Global attrs (cell metadata, source file, reader).
    """
    variables = {}
    for name, value in data.items():
        array, extra = value if isinstance(value, tuple) else (value, {})
        base = step_type_attrs() if name == "step_type" else variable_attrs(name)
        base.update(extra)
        data_ = array if hasattr(array, "get_duck_array") else np.asarray(array)  # lazy stays lazy
        variables[name] = xr.Variable((RECORD_DIM,), data_, attrs=base)
    ds = xr.Dataset(variables, attrs=dict(attrs or {}))
    ds.attrs.setdefault(
        "conventions", "batteryviz cell dataset; BDF names; current > 0 charges the cell"
    )
    return ds


def validate(ds: xr.Dataset, *, path=None) -> xr.Dataset:
    """Check that ``ds`` is a cell dataset; raise :class:`SchemaError` saying what is missing."""
    if all(name in ds.variables for name in REQUIRED_EIS) and not all(
        name in ds.variables for name in REQUIRED
    ):
        return ds  # an impedance spectrum
    missing = [name for name in REQUIRED if name not in ds.variables]
    if missing:
        raise SchemaError(
            f"not a cell dataset: missing required variable(s) {', '.join(missing)}; "
            f"expected {', '.join(REQUIRED)} on the '{RECORD_DIM}' dimension",
            path=path,
        )
    for name in REQUIRED:
        if name in ds and ds[name].dims != (RECORD_DIM,):
            raise SchemaError(
                f"variable {name} has dims {ds[name].dims}, expected ('{RECORD_DIM}',)", path=path
            )
    return ds


def data_variables(ds: xr.Dataset):
    """``(name, xarray.Variable)`` of every data variable, O(1) each. ``ds[name]`` and
    ``ds.data_vars.items()`` build a DataArray per variable by scanning every variable of the
    dataset for its coordinates, so a loop over them is quadratic: a CSV of 20,000 columns took
    minutes to store. Use this in every loop over a dataset's variables."""
    coords = ds.coords
    return ((name, var) for name, var in ds.variables.items() if name not in coords)


def counters(ds: xr.Dataset, role: str) -> list[str]:
    """Names of the variables declared as counters of ``role``, preferred first."""
    found = [
        (var.attrs.get("preference", 0), name)
        for name, var in data_variables(ds)
        if var.attrs.get("role") == role
    ]
    return [name for _, name in sorted(found, key=lambda t: -t[0])]
