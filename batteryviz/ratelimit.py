"""Rate limits per key (a user or an address), as token buckets.

A bucket holds up to ``burst`` tokens and gains ``rate`` per second; an action takes one token
or is refused with the seconds until the next one. ``batteryviz serve`` limits page builds with
it: building a dashboard page costs the event loop a few hundred milliseconds, so one user
reloading in a loop would otherwise slow every other user's page.
"""

from __future__ import annotations

import os
import threading
import time


class RateLimiter:
    """Token buckets per key: at most ``burst`` actions at once, then ``rate`` per second.

    Thread-safe. Keys unused long enough to have refilled are forgotten, so the table stays
    bounded by the keys active in the last ``burst / rate`` seconds (and by ``max_keys``: beyond
    it the fullest buckets are dropped, which only ever forgives).
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000, clock=time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst, self.max_keys, self.clock = float(rate), int(burst), max_keys, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, time)
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, then = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - then) * self.rate)

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when allowed, else the seconds to wait before the next."""
        with self._lock:
            now = self.clock()
            tokens = self._tokens(key, now)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_keys:
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) > self.max_keys:  # still too many: drop the fullest
            order = sorted(self._buckets, key=lambda k: self._tokens(k, now), reverse=True)
            for k in order[: len(self._buckets) - self.max_keys]:
                del self._buckets[k]


def page_build_limiter() -> RateLimiter:
    """The limit on dashboard pages one user (or, without login, one address) may have built:
    ``BATTERYVIZ_PAGE_BURST`` at once (default 8), then ``BATTERYVIZ_PAGES_PER_MINUTE`` (default
    30). A lab user opening cells and tabs stays far below it; a reload loop is refused with
    429 after the burst."""
    per_minute = float(os.environ.get("BATTERYVIZ_PAGES_PER_MINUTE", "30"))
    burst = int(os.environ.get("BATTERYVIZ_PAGE_BURST", "8"))
    return RateLimiter(per_minute / 60.0, burst)
