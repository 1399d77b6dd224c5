"""Several files of one test (e.g. a BioLogic Modulo Bat test saved in parts) read as one."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import BatteryvizError
from ..schema import RECORD_DIM


def join_parts(parts: list[xr.Dataset], paths: list) -> xr.Dataset:
    """Join the datasets of one test's files, in order, on ``record``.

    Step numbers (``step_index``) of later parts are offset so they keep increasing, as the
    cycler restarts them in each file. Test time must not go backwards between parts.
    """
    common = set(parts[0].data_vars)
    for ds in parts[1:]:
        common &= set(ds.data_vars)
    step_offset = 0
    fixed = []
    for k, ds in enumerate(parts):
        ds = ds[sorted(common, key=list(parts[0].data_vars).index)]
        if k and "step_index" in ds:
            ds["step_index"] = ds["step_index"] + step_offset
        if "step_index" in ds:
            step_offset = int(np.nanmax(ds["step_index"].values)) + 1
        if k:
            prev_end = float(fixed[-1]["test_time_second"].values[-1])
            start = float(ds["test_time_second"].values[0])
            if start < prev_end:
                raise BatteryvizError(
                    f"part {k + 1} starts at {start:g} s, before part {k} ends ({prev_end:g} s): "
                    "give the files in test order",
                    path=paths[k],
                )
        # categorical labels may differ per file: keep the first file's variables only if equal
        fixed.append(ds)
    for name in list(common):
        labels = {ds[name].attrs.get("labels") for ds in fixed}
        if len(labels) > 1:
            fixed = [ds.drop_vars(name) for ds in fixed]
    out = xr.concat(fixed, dim=RECORD_DIM, combine_attrs="override")
    out.attrs["source_file"] = ", ".join(str(getattr(p, "name", p)).split("/")[-1] for p in paths)
    out.attrs["parts"] = len(paths)
    return out
