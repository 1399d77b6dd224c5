"""Steps, half cycles and the analysis cycle index.

The one documented rule that turns records into cycles lives here.

Step types
    From the cycler's own step/command column where the reader found one (``step_type``);
    otherwise from the sign of the current: ``|I| <= rest_current_fraction * max|I|`` is rest,
    ``I > 0`` charge, ``I < 0`` discharge. Records the cycler marks as "other" (EIS, OCV
    holds) are classified by current as well.

Half cycles
    A half cycle is the set of consecutive charge (or discharge) records up to the next record
    of the opposite direction; rests do not interrupt it (a CC step, a rest and a CV step in
    one direction form one half cycle). Rests after a half cycle belong to it.

Cycles (``mode``)
    ``"cycler"``
        The cycler's counter (``cycle_count``): a new cycle starts wherever the counter
        changes. The cycler's numbers are kept when they never decrease; when the counter
        restarts (BaSyTec's ``Cyc-Count`` restarts with every loop of a test plan), cycles are
        renumbered 1..N in test order. A counter group with no charge or discharge (a rest
        only) joins the cycle before it.
    ``"charge_first"`` / ``"discharge_first"``
        Pair half cycles: a cycle starts with each charge (discharge) half cycle. Half cycles
        before the first one of that direction form cycle 0 (flagged incomplete in the summary),
        e.g. the first discharge of a commercial cell tested charge-first.
    ``"auto"``
        ``"cycler"`` when the file has a cycle counter that takes more than one value on
        charge/discharge records. Otherwise pairing, in the direction the cell type implies:
        a median voltage below :data:`ANODE_HALF_CELL_MAX_V` means an anode half cell (graphite,
        silicon vs Li: lithiation, a discharge, comes first), anything else a cathode half cell
        or full cell (charge first; a discharge from the as-assembled state, such as a
        commercial cell's first discharge or a cathode's discharge from open circuit, is cycle 0).

Records before the first charge or discharge record of the test (an initial rest) belong to no
cycle: their ``cycle_index`` is -1.

The result is stored alongside what the cycler wrote: ``cycle_index`` and ``half_cycle_index``
on the ``record`` dimension, and a ``cycle`` dimension carrying ``cycle_start`` and
``cycle_length`` (CF contiguous ragged array, ``sample_dimension="record"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from .errors import quote
from .schema import CYCLE_DIM, RECORD_DIM, STEP_TYPES, step_type_attrs

CycleMode = Literal["auto", "cycler", "charge_first", "discharge_first"]

#: What :func:`assign_cycles` adds: per-record variables, and the variables of the ``cycle``
#: dimension (the cycle structure that lazy analyses and converted files carry).
RECORD_VARIABLES = ("cycle_index", "half_cycle_index", "step_type_resolved")
CYCLE_VARIABLES = (
    "cycle_start",
    "cycle_length",
    "cycle_first_direction",
    "cycle_has_charge",
    "cycle_has_discharge",
)
#: What :func:`half_cycle_extents` adds on the ``cycle`` dimension: how far each half cycle
#: reaches, which lays out the grids of dQ/dU and dV/dQ before any curve is computed.
EXTENT_FIELDS = ("voltage_low", "voltage_high", "capacity_ah", "records")
EXTENT_VARIABLES = tuple(
    f"cycle_{d}_{f}" for d in ("charge", "discharge") for f in EXTENT_FIELDS
) + ("cycle_rest_before_s",)

#: Below this median voltage a test without a cycle counter is taken for an anode half cell.
ANODE_HALF_CELL_MAX_V = 2.0
CYCLE_MODES = ("auto", "cycler", "charge_first", "discharge_first")

REST, CHARGE, DISCHARGE, OTHER = (STEP_TYPES[k] for k in ("rest", "charge", "discharge", "other"))


def classify_steps(ds: xr.Dataset, rest_current_fraction: float = 0.002) -> np.ndarray:
    """Step type code per record (see :data:`batteryviz.schema.STEP_TYPES`)."""
    current = np.asarray(ds["current_ampere"].values, dtype=float)
    given = np.asarray(ds["step_type"].values, dtype=np.int8) if "step_type" in ds else None
    if given is not None and not (given == OTHER).any():
        return given  # the cycler's charge/discharge/rest, nothing to resolve
    with np.errstate(invalid="ignore"):
        scale = (
            float(np.nanmax(np.abs(current)))
            if current.size and not np.isnan(current).all()
            else 0.0
        )
    threshold = rest_current_fraction * scale
    by_current = np.full(current.shape, REST, dtype=np.int8)
    by_current[current > threshold] = CHARGE
    by_current[current < -threshold] = DISCHARGE
    if given is not None:
        # Trust the cycler's charge/discharge/rest; classify "other" by current.
        return np.where(given == OTHER, by_current, given).astype(np.int8)
    if "step_index" in ds:
        return _by_step_runs(np.asarray(ds["step_index"].values), current, by_current, threshold)
    return by_current


def _by_step_runs(
    step: np.ndarray, current: np.ndarray, by_current: np.ndarray, threshold: float
) -> np.ndarray:
    """One type per run of equal cycler step number, from the run's mean current.

    A run whose records clearly go both ways (more than 10 % of its loaded records in each
    direction) is classified record by record instead.
    """
    n = step.size
    if n == 0:
        return by_current
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]])
    i0 = np.nan_to_num(current)
    lengths = np.diff(np.r_[starts, n])
    mean = np.add.reduceat(i0, starts) / lengths
    pos = np.add.reduceat((by_current == CHARGE).astype(np.int64), starts)
    neg = np.add.reduceat((by_current == DISCHARGE).astype(np.int64), starts)
    loaded = np.maximum(pos + neg, 1)
    mixed = (pos > 0.1 * loaded) & (neg > 0.1 * loaded)
    run_type = np.where(
        mean > threshold, CHARGE, np.where(mean < -threshold, DISCHARGE, REST)
    ).astype(np.int8)
    out = np.repeat(run_type, lengths)
    mixed_records = np.repeat(mixed, lengths)
    return np.where(mixed_records, by_current, out).astype(np.int8)


def half_cycle_starts(step_type: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """Record indices where a half cycle starts (first record of a new direction); ``active``:
    the indices of the charge and discharge records, when known."""
    if active is None:
        active = np.flatnonzero((step_type == CHARGE) | (step_type == DISCHARGE))
    if active.size == 0:
        return active
    d = step_type[active]
    change = np.r_[True, d[1:] != d[:-1]]
    return active[change]


def assign_cycles(
    ds: xr.Dataset,
    mode: CycleMode = "auto",
    *,
    rest_current_fraction: float = 0.002,
) -> xr.Dataset:
    """Derive steps, half cycles and the analysis cycle index; return a new dataset.

    Parameters
    ----------
    ds
        A cell dataset (see :mod:`batteryviz.schema`).
    mode
        The cycle rule, one of :data:`CYCLE_MODES` (module docstring).
    rest_current_fraction
        For records without a cycler step type: ``|I|`` at or below this fraction of the
        largest ``|I|`` in the file counts as rest.

    Returns
    -------
    xarray.Dataset
        ``ds`` plus ``step_type`` (if it was missing), ``half_cycle_index`` and ``cycle_index``
        on ``record`` and ``cycle_start``/``cycle_length`` on the new ``cycle`` dimension.
    """
    if mode not in CYCLE_MODES:
        raise ValueError(f"cycle mode {mode!r} is not one of {', '.join(CYCLE_MODES)}")
    n = ds.sizes[RECORD_DIM]
    st = classify_steps(ds, rest_current_fraction)
    active = np.flatnonzero((st == CHARGE) | (st == DISCHARGE))  # computed once, used throughout
    hc_starts = half_cycle_starts(st, active)
    half = _runs_to_ids(n, hc_starts, np.arange(hc_starts.size))
    first_active = int(hc_starts[0]) if hc_starts.size else n

    counter = None
    if "cycle_count" in ds:
        c = np.asarray(ds["cycle_count"].values)
        finite = np.issubdtype(c.dtype, np.integer) or (
            np.issubdtype(c.dtype, np.number) and np.isfinite(c).all()
        )
        if finite:
            active_vals = c[active]
            varies = active_vals.size > 0 and active_vals.min() != active_vals.max()
            counter = np.asarray(c, dtype=np.int64) if varies else None
    chosen = mode
    if mode == "auto":
        if counter is not None:
            chosen = "cycler"
        else:
            v = np.asarray(ds["voltage_volt"].values, dtype=float)
            with np.errstate(invalid="ignore"):
                median_v = float(np.nanmedian(v)) if v.size and not np.isnan(v).all() else np.nan
            if np.isfinite(median_v):
                chosen = "discharge_first" if median_v < ANODE_HALF_CELL_MAX_V else "charge_first"
            elif hc_starts.size and st[hc_starts[0]] == DISCHARGE:
                chosen = "discharge_first"
            else:
                chosen = "charge_first"
    if chosen == "cycler" and "cycle_count" not in ds:
        raise ValueError("cycle mode 'cycler' needs a cycle_count variable; this file has none")

    if chosen == "cycler":
        c = counter if counter is not None else np.asarray(ds["cycle_count"].values, dtype=np.int64)
        starts, numbers, rule = _cycles_from_counter(c, active, first_active)
    else:
        direction = CHARGE if chosen == "charge_first" else DISCHARGE
        starts = hc_starts[st[hc_starts] == direction]
        if hc_starts.size and (starts.size == 0 or hc_starts[0] < starts[0]):
            # half cycles before the first one of the starting direction form cycle 0
            numbers = np.r_[0, np.arange(1, starts.size + 1)]
            starts = np.r_[hc_starts[0], starts]
        else:
            numbers = np.arange(1, starts.size + 1)
        why = ""
        if mode == "auto":
            why = (
                " (auto: median voltage below 2 V, an anode half cell)"
                if chosen == "discharge_first"
                else " (auto: median voltage 2 V or above, a cathode or full cell)"
            )
        rule = (
            f"half cycles paired {chosen.replace('_', ' ')}{why}: a cycle starts with each "
            f"{'charge' if direction == CHARGE else 'discharge'} half cycle; half cycles before "
            "the first one form cycle 0"
        )
    starts = starts.astype(np.int64)
    cycle = _runs_to_ids(n, starts, numbers)
    lengths = np.diff(np.r_[starts, n])
    out = ds.drop_dims(CYCLE_DIM, errors="ignore")  # a previous cycle structure is replaced
    new: dict[str, xr.Variable] = {}
    if "step_type" not in out:
        new["step_type"] = xr.Variable(
            (RECORD_DIM,), st, attrs={**step_type_attrs(), "derived_from": "current sign"}
        )
    new["step_type_resolved"] = xr.Variable(
        (RECORD_DIM,),
        st,
        attrs={
            **step_type_attrs(),
            "long_name": "Step type used for cycles (cycler's, 'other' resolved by current)",
        },
    )
    new["half_cycle_index"] = xr.Variable(
        (RECORD_DIM,),
        half,
        attrs={
            "long_name": "Half cycle (0-based; rests belong to the preceding one; -1 before the "
            "first)"
        },
    )
    new["cycle_index"] = xr.Variable(
        (RECORD_DIM,),
        cycle,
        attrs={
            "long_name": "Analysis cycle index (-1: before the first cycle)",
            "rule": rule,
            "mode": chosen,
        },
    )
    new["cycle_start"] = xr.Variable(
        (CYCLE_DIM,), starts, attrs={"long_name": "First record of the cycle"}
    )
    new["cycle_length"] = xr.Variable(
        (CYCLE_DIM,),
        lengths,
        attrs={"long_name": "Records in the cycle", "sample_dimension": RECORD_DIM},
    )
    # what each cycle holds, known from the step types alone (lets lazy analyses decide the CE
    # direction and the reference cycle without touching the data)
    first = np.searchsorted(active, starts)
    first_dir = np.where(
        first < active.size,
        st[active[np.clip(first, 0, max(active.size - 1, 0))]] if active.size else 0,
        0,
    )
    has = {}
    for code, name in ((CHARGE, "charge"), (DISCHARGE, "discharge")):
        # records of this direction per cycle (cycles are the runs from one start to the next)
        has[name] = (
            (np.add.reduceat(st == code, starts, dtype=np.int64) > 0)
            if starts.size
            else np.zeros(0, dtype=bool)
        )
    new["cycle_first_direction"] = xr.Variable(
        (CYCLE_DIM,),
        first_dir.astype(np.int8),
        attrs={"long_name": "Step type of the cycle's first charge or discharge record"},
    )
    new["cycle_has_charge"] = xr.Variable(
        (CYCLE_DIM,), has["charge"], attrs={"long_name": "The cycle holds charge records"}
    )
    new["cycle_has_discharge"] = xr.Variable(
        (CYCLE_DIM,), has["discharge"], attrs={"long_name": "The cycle holds discharge records"}
    )
    # one update (each item assignment would re-merge the whole dataset)
    out = out.assign_coords({CYCLE_DIM: (CYCLE_DIM, numbers, {"long_name": "Cycle"})}).assign(new)
    out.attrs["cycle_rule"] = rule
    out.attrs["cycle_mode"] = chosen
    return out


def _runs_to_ids(n: int, starts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-record ids: ``values[k]`` from ``starts[k]`` up to the next start; -1 before the
    first."""
    dtype = np.int32 if (np.asarray(values).max(initial=0) < 2**31 - 1) else np.int64
    if not starts.size:
        return np.full(n, -1, dtype=dtype)
    # one pass, one array: -1 for the records before the first start, then each run's value
    ids = np.concatenate([np.full(1, -1, dtype=dtype), np.asarray(values, dtype=dtype)])
    return np.repeat(ids, np.r_[starts[0], np.diff(np.r_[starts, n])])


def _cycles_from_counter(
    c: np.ndarray, active_idx: np.ndarray, first_active: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """Cycle starts and numbers from the cycler's counter (see the module docstring);
    ``active_idx``: indices of the charge and discharge records."""
    n = c.size
    if first_active >= n:
        return (
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            "the cycler's cycle counter (no charge or discharge records)",
        )
    change = np.flatnonzero(c[1:] != c[:-1]) + 1
    change = np.r_[0, change]
    # a counter group holds an active record when one lies between its start and the next
    bounds = np.searchsorted(active_idx, np.r_[change, n])
    has_active = bounds[1:] > bounds[:-1]
    # the group holding the first active record always starts a cycle (at that record);
    # rest-only groups join the cycle before them
    first_group = int(np.searchsorted(change, first_active, side="right")) - 1
    keep = has_active & (np.arange(change.size) >= first_group)
    starts = change[keep]
    starts[0] = first_active
    later = change[change > first_active]
    monotonic = bool(np.all(c[later] >= c[later - 1]))
    if monotonic:
        numbers = c[starts]
        rule = "the cycler's cycle counter (cycle_count), numbers as written"
    else:
        numbers = np.arange(1, starts.size + 1)
        rule = (
            "the cycler's cycle counter (cycle_count): a new cycle wherever it changes; the "
            "counter "
            "restarts within the test, so cycles are renumbered 1..N in test order"
        )
    return starts, numbers, rule


def select_cycles(
    ds: xr.Dataset, cycles=None, mode: CycleMode = "auto"
) -> tuple[xr.Dataset, np.ndarray]:
    """``ds`` with its cycle index, and the wanted cycle numbers that exist (all by default).

    Raises :class:`ValueError` when none of ``cycles`` is in the data.
    """
    if "cycle_index" not in ds:
        ds = assign_cycles(ds, mode)
    numbers = ds[CYCLE_DIM].values
    if cycles is None:
        return ds, numbers
    present = set(numbers.tolist())
    wanted = np.array([c for c in cycles if c in present], dtype=numbers.dtype)
    if wanted.size == 0:
        span = f" (it holds cycles {format_cycles(numbers)})" if numbers.size else ""
        raise ValueError(f"none of the cycles {format_cycles(cycles)} is in the data{span}")
    return ds, wanted


def half_cycle_records(
    ds: xr.Dataset, cycles, direction: int, min_records: int = 3
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{cycle: (time, voltage, current)}`` of the records of one direction in each cycle."""
    t = np.asarray(ds["test_time_second"].values, dtype=float)
    u = np.asarray(ds["voltage_volt"].values, dtype=float)
    i = np.asarray(ds["current_ampere"].values, dtype=float)
    st = np.asarray(ds["step_type_resolved"].values)
    numbers = ds[CYCLE_DIM].values
    pos = {int(c): k for k, c in enumerate(numbers)}
    starts = ds["cycle_start"].values
    ends = starts + ds["cycle_length"].values
    out = {}
    for c in cycles:
        k = pos[int(c)]
        sl = slice(int(starts[k]), int(ends[k]))
        mask = st[sl] == direction
        if mask.sum() >= min_records:
            out[int(c)] = (t[sl][mask], u[sl][mask], i[sl][mask])
    return out


#: The longest cycle selection text read (characters) and the most parts it may have: the text
#: comes from a URL or a form, so reading it must cost nothing whatever is sent.
MAX_SELECTION_TEXT = 1000
MAX_SELECTION_PARTS = 100
#: The most cycle numbers :func:`parse_cycle_selection` lists without knowing which cycles exist.
MAX_LISTED_CYCLES = 1_000_000


@dataclass(frozen=True)
class CycleSelection:
    """A selection of cycles as the ranges a user wrote: ``(first, last, step)`` each, never
    expanded into numbers until intersected with the cycles a dataset has (:meth:`select`), so
    ``1-1000000000`` costs three integers, not a set of a billion."""

    ranges: tuple[tuple[int, int, int], ...]

    def select(self, cycles) -> np.ndarray:
        """The numbers of ``cycles`` (the cycles that exist) that the selection holds, in order."""
        have = np.asarray(cycles, dtype=np.int64).ravel()
        keep = np.zeros(have.shape, dtype=bool)
        for first, last, step in self.ranges:
            keep |= (have >= first) & (have <= last) & ((have - first) % step == 0)
        return np.unique(have[keep])

    def size_bound(self) -> int:
        """How many numbers the selection holds at most (an upper bound: parts may overlap)."""
        return sum((last - first) // step + 1 for first, last, step in self.ranges)

    def numbers(self) -> list[int]:
        """Every selected number, sorted (refused above :data:`MAX_LISTED_CYCLES`)."""
        if self.size_bound() > MAX_LISTED_CYCLES:
            raise ValueError(
                f"cycles: the selection holds more than {MAX_LISTED_CYCLES:,} cycle numbers; "
                "narrow the ranges"
            )
        out: set[int] = set()
        for first, last, step in self.ranges:
            out.update(range(first, last + 1, step))
        return sorted(out)


def parse_cycle_ranges(text: str | None) -> CycleSelection | None:
    """The ranges of a selection text: ``"1,10,100"``, ``"1-30"``, every Nth ``"1-1000:10"``;
    ``""`` or ``"all"`` means every cycle (``None``). Costs O(length of the text), which is
    bounded (:data:`MAX_SELECTION_TEXT`, :data:`MAX_SELECTION_PARTS`).

    Raises :class:`ValueError` naming the part it cannot read.
    """
    if text is None or not text.strip() or text.strip().lower() == "all":
        return None
    if len(text) > MAX_SELECTION_TEXT:
        raise ValueError(
            f"cycles: the selection is {len(text):,} characters long; at most "
            f"{MAX_SELECTION_TEXT:,} are read (write ranges such as 1-1000:10)"
        )
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if len(parts) > MAX_SELECTION_PARTS:
        raise ValueError(
            f"cycles: {len(parts):,} parts; at most {MAX_SELECTION_PARTS} are read "
            "(write ranges such as 1-30 instead of single numbers)"
        )
    ranges = []
    for part in parts:
        try:
            body, step = part, 1
            if ":" in body:
                body, step_text = body.split(":", 1)
                step = int(step_text)
                if step < 1:
                    raise ValueError
            if "-" in body[1:]:
                a, b = body.split("-", 1)
                first, last = int(a), int(b)
                if last < first:
                    raise ValueError
            else:
                first = last = int(body)
        except ValueError:
            raise ValueError(
                f"cycles: cannot read {quote(part, 40)}; write e.g. 1,10,100 or 1-30 or 1-1000:10"
            ) from None
        ranges.append((first, last, step))
    return CycleSelection(tuple(ranges))


def format_cycles(cycles, max_parts: int = 8) -> str:
    """Cycle numbers as short text: runs of consecutive numbers as ``a-b``, equal steps of at
    least three numbers as ``a-b:step``, at most ``max_parts`` parts then ``…``
    (``[1, 2, 3, 10, 20, 30]`` → ``"1-3, 10-30:10"``)."""
    values = sorted({int(c) for c in cycles})
    parts, k = [], 0
    while k < len(values):
        j = k
        step = values[k + 1] - values[k] if k + 1 < len(values) else 1
        while j + 1 < len(values) and values[j + 1] - values[j] == step:
            j += 1
        if j - k >= 2 or (j > k and step == 1):
            parts.append(f"{values[k]}-{values[j]}" + (f":{step}" if step != 1 else ""))
            k = j + 1
        else:
            parts.append(str(values[k]))
            k += 1
    return ", ".join(parts[:max_parts]) + (", …" if len(parts) > max_parts else "")


def parse_cycle_selection(text: str | None, available=None) -> list[int] | None:
    """Cycle numbers from a short text: ``"1,10,100"``, ranges ``"1-30"``, every Nth
    ``"1-1000:10"``; ``""`` or ``"all"`` means every cycle (``None``).

    With ``available`` (the cycle numbers a dataset has) the result is the selected ones among
    them, whatever the ranges span; without it every number the text names is listed, up to
    :data:`MAX_LISTED_CYCLES`. Raises :class:`ValueError` naming the part it cannot read.
    """
    selection = parse_cycle_ranges(text)
    if selection is None:
        return None
    if available is not None:
        return [int(c) for c in selection.select(available)]
    return selection.numbers()


def half_cycle_capacity(t: np.ndarray, i: np.ndarray) -> np.ndarray:
    """The charge passed since the first record of a half cycle, in Ah, at each record: the
    trapezoid integral of ``|I|`` over time, 0 at the first record. Intervals that are not
    finite or do not go forward add nothing; NaN current counts as 0. The capacity axis of the
    dQ/dU and dV/dQ curves, and the rule :func:`half_cycle_extents` sums per half cycle."""
    dt = np.diff(t, prepend=t[:1])
    dt = np.where(np.isfinite(dt) & (dt > 0), dt, 0.0)
    a = np.abs(np.nan_to_num(i))
    return np.cumsum(0.5 * (a + np.r_[a[:1], a[:-1]]) * dt) / 3600.0


def half_cycle_extents(ds: xr.Dataset) -> xr.Dataset:
    """How far the charge and discharge records of each cycle reach, on the ``cycle`` dimension.

    Per cycle and direction (variables named ``cycle_{charge|discharge}_{field}``):

    ``voltage_low`` / ``voltage_high``
        The voltage range of the monotonic part of the half cycle (see
        :mod:`batteryviz.analysis.dqdu`): from the first finite voltage up to the largest on
        charge, from the smallest up to the first on discharge.
    ``capacity_ah``
        The integral of ``|I|`` over the records of that direction (trapezoids between
        consecutive ones, as the curves of dQ/dU and dV/dQ integrate it).
    ``records``
        How many records of that direction the cycle holds.

    and ``cycle_rest_before_s``: the time from the last charge or discharge record before the
    cycle's first one (the test's first record for the first cycle) to that first one — the
    rest, or storage, that precedes the cycle.

    ``ds`` needs its cycle structure (:func:`assign_cycles`) and its records in memory.
    """
    t = np.asarray(ds["test_time_second"].values, dtype=float)
    u = np.asarray(ds["voltage_volt"].values, dtype=float)
    i = np.asarray(ds["current_ampere"].values, dtype=float)
    st = np.asarray(ds["step_type_resolved"].values)
    starts = np.asarray(ds["cycle_start"].values, dtype=np.int64)
    m = starts.size
    out = xr.Dataset(coords={CYCLE_DIM: ds[CYCLE_DIM]})
    for code, name in ((CHARGE, "charge"), (DISCHARGE, "discharge")):
        idx = np.flatnonzero(st == code)
        pos = np.searchsorted(starts, idx, side="right") - 1
        idx, pos = idx[pos >= 0], pos[pos >= 0]
        records = np.bincount(pos, minlength=m)
        a = np.abs(np.nan_to_num(i[idx]))
        tt = t[idx]
        with np.errstate(invalid="ignore"):
            dt = np.diff(tt)
            ok = (pos[1:] == pos[:-1]) & np.isfinite(dt) & (dt > 0)
        area = np.where(ok, 0.5 * (a[1:] + a[:-1]) * np.where(ok, dt, 0.0), 0.0)
        capacity = np.bincount(pos[1:], weights=area, minlength=m)[:m] / 3600.0
        finite = np.isfinite(u[idx])
        uf, pf = u[idx][finite], pos[finite]
        low, high = np.full(m, np.nan), np.full(m, np.nan)
        if uf.size:
            seg = np.flatnonzero(np.r_[True, pf[1:] != pf[:-1]])
            cyc = pf[seg]
            first = uf[seg]
            if code == CHARGE:
                low[cyc], high[cyc] = first, np.maximum.reduceat(uf, seg)
            else:
                low[cyc], high[cyc] = np.minimum.reduceat(uf, seg), first
        for field, values, unit in (
            ("voltage_low", low, "V"),
            ("voltage_high", high, "V"),
            ("capacity_ah", capacity, "Ah"),
            ("records", records.astype(np.int64), "1"),
        ):
            out[f"cycle_{name}_{field}"] = xr.Variable(
                (CYCLE_DIM,),
                values,
                attrs={
                    "units": unit,
                    "long_name": f"{field.replace('_', ' ').replace(' ah', '')} of the cycle's "
                    f"{name} records",
                },
            )
    active = np.flatnonzero((st == CHARGE) | (st == DISCHARGE))
    rest = np.zeros(m)
    if active.size and m:
        j = np.searchsorted(active, starts)
        has = j < active.size
        first = active[np.minimum(j, active.size - 1)]
        before = np.where(j > 0, active[np.maximum(j - 1, 0)], 0)
        rest = np.where(has, t[first] - t[before], 0.0)
    out["cycle_rest_before_s"] = xr.Variable(
        (CYCLE_DIM,),
        rest,
        attrs={
            "units": "s",
            "long_name": "Time since the previous charge or discharge record (rest or storage "
            "before the cycle)",
        },
    )
    return out
