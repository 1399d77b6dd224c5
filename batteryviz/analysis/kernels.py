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
        pl.when(d.is_null()).then(0.0)
        .when(d >= 0).then(d)
        .when(v < 0.5 * prev).then(v)
        .otherwise(0.0)
    )


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
    """Aggregate records into ``m`` cycles (``pos`` = 0-based cycle position, -1 = none)."""
    cols = {"t": t, "u": u, "i": i, "st": st.astype(np.int8), "pos": pos}
    if temperature is not None:
        cols["temp"] = temperature
    for name, values in (counters or {}).items():
        cols[name] = values
    lf = pl.DataFrame(cols).lazy()
    t_, u_, i_ = pl.col("t"), pl.col("u").fill_nan(None), pl.col("i").fill_nan(0.0).fill_null(0.0)
    dt = t_.diff().fill_null(0.0)
    dt = pl.when(dt.is_finite() & (dt > 0)).then(dt).otherwise(0.0)
    p = u_.fill_null(0.0) * i_
    ch = pl.col("st") == CHARGE
    dis = pl.col("st") == DISCHARGE
    lf = lf.with_columns(
        dt=dt,
        dq=0.5 * (i_ + i_.shift(1).fill_null(0.0)) * dt / 3600.0,
        de=0.5 * (p + p.shift(1).fill_null(0.0)) * dt / 3600.0,
        absi=i_.abs(),
        u_prev=pl.col("u").shift(1),
        i_prev=i_.shift(1),
        t_prev=t_.shift(1),
        row=pl.int_range(pl.len(), dtype=pl.Int64),
        **{f"inc_{name}": counter_increments(pl.col(name)) for name in (counters or {})},
    ).filter(pl.col("pos") >= 0)
    chf, disf = ch.cast(pl.Float64), dis.cast(pl.Float64)
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
        pl.col("t_prev").first().alias("t_start"),
        pl.col("t").first().alias("t_first"),
        pl.len().alias("n"),
    ]
    if temperature is not None:
        aggs += [pl.col("temp").mean().alias("temp_mean"), pl.col("temp").last().alias("temp_end"), pl.col("temp").max().alias("temp_max")]
    aggs += [pl.col(f"inc_{name}").sum().alias(f"sum_{name}") for name in (counters or {})]
    grouped = lf.group_by("pos").agg(aggs)
    # second stage: the constant-current part and the step that opens each half cycle
    joined = lf.join(grouped.select("pos", "peak_ch", "peak_dis"), on="pos", how="left")
    peak = pl.when(ch).then(pl.col("peak_ch")).when(dis).then(pl.col("peak_dis")).otherwise(None)
    cc = (ch | dis) & (pl.col("absi") >= 0.9 * peak)
    opening = (ch | dis) & (pl.col("absi") >= 0.5 * peak) & (peak > 0)
    second = joined.group_by("pos").agg(
        pl.col("absi").filter(cc & ch).mean().alias("i_ch"),
        pl.col("absi").filter(cc & dis).mean().alias("i_dis"),
        *[
            pl.struct("u", "i", "t", "u_prev", "i_prev", "t_prev").filter(opening & cond).first().alias(f"open_{name}")
            for name, cond in (("ch", ch), ("dis", dis))
        ],
    )
    first, second = pl.collect_all([grouped, second])
    frame = pl.DataFrame({"pos": np.arange(m, dtype=np.int64)}).join(first, on="pos", how="left").join(second, on="pos", how="left").sort("pos")
    out = {name: frame[name].to_numpy() for name in frame.columns if not name.startswith("open_")}
    for name in ("ch", "dis"):
        opened = frame[f"open_{name}"].struct.unnest()
        u1, i1, t1 = (opened[c].to_numpy().astype(float) for c in ("u", "i", "t"))
        u0, i0, t0 = (opened[c].to_numpy().astype(float) for c in ("u_prev", "i_prev", "t_prev"))
        with np.errstate(invalid="ignore", divide="ignore"):
            di = i1 - i0
            good = (np.abs(i0) < 0.1 * np.abs(i1)) & ((t1 - t0) <= resistance_max_interval_s) & (np.abs(di) > 0)
            out[f"r_{name}"] = np.where(good, (u1 - u0) / di, np.nan)
    return out
