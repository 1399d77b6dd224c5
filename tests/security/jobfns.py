"""Job functions of the security tests (importable by spawned job processes)."""

from __future__ import annotations

import time


def spin(seconds: float) -> float:
    """Busy Python work for ``seconds`` (what a super-linear parser does)."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return seconds


def hold_memory(mib: int, seconds: float) -> int:
    """Touch ``mib`` MiB and keep it for ``seconds``."""
    import numpy as np

    block = np.ones(mib * 2**20 // 8)
    time.sleep(seconds)
    return int(block.size)


def interval(seconds: float) -> tuple[float, float]:
    """When this job started and ended (wall clock)."""
    start = time.time()
    time.sleep(seconds)
    return start, time.time()
