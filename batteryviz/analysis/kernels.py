"""Per-cycle aggregation of record data, in one multi-threaded polars pass.

Pure functions over numpy arrays (zero-copy into polars), used by the cycle summary. The
definitions they implement are stated in :mod:`batteryviz.analysis.summary`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

CHARGE, DISCHARGE = 1, 2


def counter_increments(v: pl.Expr) -> pl.Expr:
    """Per-record increments of a counter that may reset (drop below half its previous value)."""
    v = v.fill_nan(0.0).fill_null(0.0)
    prev = v.shift(1)
    d = v - prev
    return (
        pl.when(d.is_null())
        .then(0.0)
        .when(d >= 0)
        .then(d)
        .when(v < 0.5 * prev)
        .then(v)
        .otherwise(0.0)
    )


def output_keys(inputs: list[str]) -> list[str]:
    """The keys :func:`per_cycle` returns for these inputs (``t, u, i, st``, optional ``temp``
    and counters ``c*``), known before it runs (lazy callers need them)."""
    keys = [
        "pos",
        "q_ch_int",
        "q_dis_int",
        "e_ch",
        "e_dis",
        "dur_ch",
        "dur_dis",
        "duration",
        "vmin",
        "vmax",
        "u_end_ch",
        "u_end_dis",
        "first_dir",
        "peak_ch",
        "peak_dis",
        "n",
        "i_ch",
        "i_dis",
        "t_first",
        "t_start",
        "r_ch",
        "r_dis",
    ]
    if "temp" in inputs:
        keys += ["temp_mean", "temp_end", "temp_max"]
    return keys + [f"sum_{k}" for k in inputs if k.startswith("c")]


def per_cycle(
    t: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    st: np.ndarray,
    pos: np.ndarray,
    m: int,
    *,
    temperature: np.ndarray | None = None,
    counters: dict[str, np.ndarray] | None = None,
    resistance_max_interval_s: float = 1.0,
) -> dict[str, np.ndarray]:
    """Aggregate records into ``m`` cycles (``pos`` = 0-based cycle position, -1 = none).

    ``m`` may be 0 (a file of rest only, or a single step): every output is then empty."""
    if m == 0:
        inputs = (
            ["t", "u", "i", "st"]
            + (["temp"] if temperature is not None else [])
            + list(counters or {})
        )
        return {k: np.empty(0) for k in output_keys(inputs)}
    cols = {"t": t, "u": u, "i": i, "st": np.asarray(st, dtype=np.int8), "pos": pos}
    if temperature is not None:
        cols["temp"] = temperature
    for name, values in (counters or {}).items():
        cols[name] = values
    # `pos` never decreases (cycles are contiguous; -1 before the first), so polars can group
    # by scanning runs instead of hashing
    frame = pl.DataFrame(cols).with_columns(pl.col("pos").set_sorted())
    t_, i_ = pl.col("t"), pl.col("i").fill_nan(0.0).fill_null(0.0)
    dt = t_.diff().fill_null(0.0)
    dt = pl.when(dt.is_finite() & (dt > 0)).then(dt).otherwise(0.0)
    p = pl.col("u").fill_nan(0.0).fill_null(0.0) * i_
    ch = pl.col("st") == CHARGE
    dis = pl.col("st") == DISCHARGE
    chf, disf = ch.cast(pl.Float64), dis.cast(pl.Float64)
    base = frame.lazy().with_columns(
        dt=dt,
        dq=0.5 * (i_ + i_.shift(1).fill_null(0.0)) * dt / 3600.0,
        de=0.5 * (p + p.shift(1).fill_null(0.0)) * dt / 3600.0,
        absi=i_.abs(),
        **{f"inc_{name}": counter_increments(pl.col(name)) for name in (counters or {})},
    )
    aggs = [
        (pl.col("dq") * chf).sum().alias("q_ch_int"),
        (-(pl.col("dq") * disf)).sum().alias("q_dis_int"),
        (pl.col("de") * chf).sum().alias("e_ch"),
        (-(pl.col("de") * disf)).sum().alias("e_dis"),
        (pl.col("dt") * chf).sum().alias("dur_ch"),
        (pl.col("dt") * disf).sum().alias("dur_dis"),
        pl.col("dt").sum().alias("duration"),
        pl.col("u").min().alias("vmin"),
        pl.col("u").max().alias("vmax"),
        pl.col("u").filter(ch).last().alias("u_end_ch"),
        pl.col("u").filter(dis).last().alias("u_end_dis"),
        pl.col("st").filter(ch | dis).first().alias("first_dir"),
        (pl.col("absi") * chf).max().alias("peak_ch"),
        (pl.col("absi") * disf).max().alias("peak_dis"),
        pl.len().alias("n"),
    ]
    if temperature is not None:
        aggs += [
            pl.col("temp").mean().alias("temp_mean"),
            pl.col("temp").last().alias("temp_end"),
            pl.col("temp").max().alias("temp_max"),
        ]
    aggs += [pl.col(f"inc_{name}").sum().alias(f"sum_{name}") for name in (counters or {})]
    first = base.group_by("pos", maintain_order=True).agg(aggs).collect()
    first = first.filter(pl.col("pos") >= 0)
    if first.height != m:
        raise ValueError(f"expected {m} cycles, aggregated {first.height}")
    # second stage: each record gets its cycle's peak current by a take on `pos` (no join);
    # records before the first cycle (pos -1) form a group that is dropped
    # index -1 (records before the first cycle) takes the appended 0, not the last cycle's peak
    peak_ch = np.append(first["peak_ch"].fill_null(0).to_numpy(), 0.0)[pos]
    peak_dis = np.append(first["peak_dis"].fill_null(0).to_numpy(), 0.0)[pos]
    peak = pl.when(ch).then(pl.col("peak_ch")).when(dis).then(pl.col("peak_dis")).otherwise(None)
    cc = (ch | dis) & (pl.col("absi") >= 0.9 * peak)
    opening = (ch | dis) & (pl.col("absi") >= 0.5 * peak) & (peak > 0)
    second = (
        frame.lazy()
        .with_columns(
            absi=i_.abs(),
            peak_ch=pl.Series(peak_ch),
            peak_dis=pl.Series(peak_dis),
            row=pl.int_range(pl.len(), dtype=pl.Int64),
        )
        .group_by("pos", maintain_order=True)
        .agg(
            pl.col("absi").filter(cc & ch).mean().alias("i_ch"),
            pl.col("absi").filter(cc & dis).mean().alias("i_dis"),
            pl.col("row").filter(opening & ch).first().alias("open_ch"),
            pl.col("row").filter(opening & dis).first().alias("open_dis"),
            pl.col("row").first().alias("row_first"),
        )
        .collect()
        .filter(pl.col("pos") >= 0)
    )
    out = {name: first[name].to_numpy() for name in first.columns}
    out["i_ch"] = second["i_ch"].to_numpy()
    out["i_dis"] = second["i_dis"].to_numpy()
    rf = second["row_first"].to_numpy()
    out["t_first"] = t[rf]
    out["t_start"] = np.where(rf > 0, t[np.maximum(rf - 1, 0)], t[rf])
    for name in ("ch", "dis"):
        k = second[f"open_{name}"].to_numpy(allow_copy=True).astype(float)
        ok = np.isfinite(k) & (k > 0)
        kk = np.where(ok, k, 1).astype(np.int64)
        u1, i1, t1 = u[kk], np.nan_to_num(i[kk]), t[kk]
        u0, i0, t0 = u[kk - 1], np.nan_to_num(i[kk - 1]), t[kk - 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            di = i1 - i0
            good = (
                ok
                & (np.abs(i0) < 0.1 * np.abs(i1))
                & ((t1 - t0) <= resistance_max_interval_s)
                & (np.abs(di) > 0)
            )
            out[f"r_{name}"] = np.where(good, (u1 - u0) / di, np.nan)
    return out
