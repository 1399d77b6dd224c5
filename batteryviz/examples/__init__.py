"""Example data bundled with batteryviz.

``basytec_rate_fade.txt`` is a 34-cycle BaSyTec export of a simulated 5 Ah NMC532/graphite
pouch cell (formation, rate capability C/5–2C, fade block), made by the batteryviz team with
PyBaMM; ``basytec_rate_fade.truth.json`` holds its exact per-cycle truth. Licence: BSD-3-Clause
like the package.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
EXAMPLES = {"basytec_rate_fade": "basytec_rate_fade.txt"}


def example_file(name: str = "basytec_rate_fade") -> Path:
    """Path of a bundled example file."""
    try:
        return HERE / EXAMPLES[name]
    except KeyError:
        raise KeyError(f"no example {name!r}; available: {', '.join(EXAMPLES)}") from None
