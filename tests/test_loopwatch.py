"""The event-loop watch of ``batteryviz serve``: a real asyncio loop in a thread, blocked on
purpose."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from batteryviz.ui.loopwatch import LoopWatch, watch_running_loop

from .dashboard_support import LogRecords


@pytest.fixture
def running_loop():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def _block_the_loop_for(seconds: float) -> None:
    time.sleep(seconds)


def _wait_for(condition, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.02)


def test_a_blocked_loop_is_reported_with_how_long_and_where(running_loop):
    logger, messages = logging.getLogger("batteryviz.loop"), LogRecords(logging.WARNING)
    logger.addHandler(messages)
    watch = LoopWatch(running_loop, threshold_s=0.3, interval_s=0.02, sample_s=0.05).start()
    try:
        time.sleep(0.2)
        running_loop.call_soon_threadsafe(_block_the_loop_for, 1.0)
        _wait_for(lambda: watch.stalls)
        assert len(watch.stalls) == 1
        stall = watch.stalls[0]
        assert 0.8 <= stall.duration_s <= 1.5
        assert stall.samples >= 5
        assert "_block_the_loop_for" in stall.stacks[0][1]  # the innermost frames name the culprit
        assert any(
            "event loop blocked for" in m and "_block_the_loop_for" in m for m in messages.messages
        )
    finally:
        watch.stop()
        logger.removeHandler(messages)


def test_short_callbacks_and_a_stopped_loop_are_not_stalls():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    watch = LoopWatch(loop, threshold_s=0.3, interval_s=0.02, sample_s=0.05).start()
    for k in range(
        10
    ):  # many callbacks, each well under the threshold, with the loop free between them
        loop.call_soon_threadsafe(loop.call_later, 0.07 * k, _block_the_loop_for, 0.05)
    time.sleep(0.8)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    time.sleep(0.8)  # stopped: no tick, yet no stall either
    assert watch.stalls == []
    loop.close()
    watch._thread.join(2)
    assert not watch._thread.is_alive()  # the watch ends with its loop


def test_one_watch_per_running_loop_and_none_outside_a_loop(running_loop):
    assert watch_running_loop() is None
    first = asyncio.run_coroutine_threadsafe(_watch(), running_loop).result(5)
    second = asyncio.run_coroutine_threadsafe(_watch(), running_loop).result(5)
    assert first is second and first.loop is running_loop
    first.stop()


async def _watch():
    return watch_running_loop()
