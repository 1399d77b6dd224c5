"""Parameters several analyses share, declared once: the cycle rule, the cycle selection and
the nominal capacity. Each analysis says in its own words what "not set" means for it."""

from __future__ import annotations

import param

from ..cycles import CYCLE_MODES


def cycle_mode() -> param.Selector:
    """How records become cycles (see :mod:`batteryviz.cycles`)."""
    return param.Selector(
        default="auto",
        objects=list(CYCLE_MODES),
        doc="How records become cycles: the cycler's counter ('cycler'), pairing half cycles "
        "('charge_first', 'discharge_first'), or 'auto' (the counter when the file has one).",
    )


def cycles(when_not_set: str) -> param.List:
    """Which cycles to analyse (analysis cycle numbers); ``when_not_set`` says what None means."""
    return param.List(
        default=None,
        allow_None=True,
        item_type=int,
        doc=f"Cycles to analyse (analysis cycle numbers). Default: {when_not_set}.",
    )


def nominal_capacity_mah(used_for: str) -> param.Number:
    """The cell's nominal capacity in mAh (> 0); ``used_for`` completes its documentation. Not
    set, every analysis takes what the cycle summary takes."""
    return param.Number(
        default=None,
        allow_None=True,
        bounds=(0, None),
        inclusive_bounds=(False, True),
        doc=f"Nominal capacity in mAh, for {used_for}. Default: the file's metadata, else the "
        "discharge capacity of the summary's reference cycle (the first complete cycle).",
    )
