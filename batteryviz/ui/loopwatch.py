"""Where the server's event loop spends its stalls.

Every session of a Panel server shares one event loop: whatever holds it (a long callback,
serialising a large document, the garbage collector, a thread holding the GIL) delays every
other user's clicks. A :class:`LoopWatch` ticks on the loop every ``interval_s``; a daemon thread
notices when the tick is late by more than ``threshold_s``, samples the loop thread's Python
stack while it stays late, and logs one warning (logger ``batteryviz.loop``) when the loop is
free again: how long it was blocked, how much of that the garbage collector took, and the most
common stacks among the samples. ``batteryviz serve`` watches its loop from the first page on.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("batteryviz.loop")

#: A loop held longer than this is reported (the dashboard's latency target is 1 s per click).
STALL_THRESHOLD_S = 1.0


@dataclass
class Stall:
    """One period in which the loop ran no callback of its own for longer than the threshold."""

    duration_s: float
    gc_s: float
    samples: int
    stacks: list[tuple[int, str]] = field(
        default_factory=list
    )  # (samples, innermost frames), most common first

    def describe(self, top: int = 3) -> str:
        where = "\n".join(
            f"  [{n}/{self.samples} samples] {stack}" for n, stack in self.stacks[:top]
        )
        return (
            f"event loop blocked for {self.duration_s:.2f} s (garbage collection {self.gc_s:.2f} "
            f"s); "
            f"where it was:\n{where or '  (no sample)'}"
        )


class LoopWatch:
    """Reports stalls of ``loop`` (see the module docstring). ``stalls`` keeps the last 100."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        threshold_s: float = STALL_THRESHOLD_S,
        interval_s: float = 0.05,
        sample_s: float = 0.1,
        frames: int = 8,
    ):
        if not threshold_s > interval_s:
            raise ValueError(
                f"threshold_s ({threshold_s}) must exceed the tick interval ({interval_s})"
            )
        self.loop, self.threshold_s, self.interval_s, self.sample_s, self.frames = (
            loop,
            threshold_s,
            interval_s,
            sample_s,
            frames,
        )
        self.stalls: list[Stall] = []
        self._last_tick = time.monotonic()
        self._loop_thread: int | None = None
        self._stop = threading.Event()
        self._gc_started = 0.0
        self._gc_total = 0.0
        self._thread = threading.Thread(
            target=self._watch, name="batteryviz-loopwatch", daemon=True
        )

    def start(self) -> LoopWatch:
        self.loop.call_soon_threadsafe(self._tick)
        gc.callbacks.append(self._gc_callback)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._gc_callback in gc.callbacks:
            gc.callbacks.remove(self._gc_callback)

    # -- on the loop ----------------------------------------------------------------------------
    def _tick(self) -> None:
        self._loop_thread = threading.get_ident()
        self._last_tick = time.monotonic()
        if not self._stop.is_set() and not self.loop.is_closed():
            self.loop.call_later(self.interval_s, self._tick)

    # -- called by the garbage collector (on whichever thread collects) --------------------------
    def _gc_callback(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self._gc_total += time.perf_counter() - self._gc_started
            self._gc_started = 0.0

    # -- in the watch thread --------------------------------------------------------------------
    def _where(self, frame) -> str:
        """The innermost frames, then the two batteryviz frames nearest to them (which of its
        callbacks the loop was in)."""
        stack = traceback.extract_stack(frame)
        inner = stack[-self.frames :]
        ours = [
            f
            for f in stack[: -self.frames]
            if "/batteryviz/" in f.filename
            and not f.filename.endswith(("cli.py", "serve.py", "loopwatch.py"))
        ][-2:]
        return _frames_text(inner) + (" … via " + _frames_text(ours) if ours else "")

    def _watch(self) -> None:
        samples: Counter = Counter()
        stall_from = None
        gc_at_start = 0.0
        while not self._stop.wait(self.sample_s):
            if self.loop.is_closed():
                break
            last = self._last_tick
            if not self.loop.is_running():  # a stopped loop is not a stalled one
                samples.clear()
                stall_from = None
                continue
            if time.monotonic() - last > self.threshold_s:
                if stall_from is None:
                    stall_from, gc_at_start = last, self._gc_total
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    samples[self._where(frame)] += 1
                del frame
            elif stall_from is not None:
                stall = Stall(
                    duration_s=max(last - stall_from - self.interval_s, 0.0),
                    gc_s=self._gc_total - gc_at_start,
                    samples=sum(samples.values()),
                    stacks=[(n, where) for where, n in samples.most_common()],
                )
                self.stalls = self.stalls[-99:] + [stall]
                log.warning(stall.describe())
                samples = Counter()
                stall_from = None
        self.stop()
        _WATCHES.pop(self.loop, None)


def _frames_text(frames) -> str:
    """Frames innermost first, ``file:line function < caller …``."""
    return " < ".join(f"{_short(f.filename)}:{f.lineno} {f.name}" for f in reversed(frames))


def _short(filename: str) -> str:
    """A file name from the package (``site-packages/``, the standard library) on, not the whole
    path."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    if "/batteryviz/" in filename:
        return "batteryviz/" + filename.rsplit("/batteryviz/", 1)[1]
    stdlib = re.search(r"/lib/python3\.\d+/(.*)$", filename)
    return stdlib.group(1) if stdlib else filename


#: The watch of each running loop (a watch forgets its loop when the loop closes).
_WATCHES: dict = {}


def watch_running_loop(threshold_s: float = STALL_THRESHOLD_S) -> LoopWatch | None:
    """The watch of the running event loop, started on the first call; None outside a loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    found = _WATCHES.get(loop)
    if found is None:
        found = _WATCHES[loop] = LoopWatch(loop, threshold_s=threshold_s).start()
    return found
