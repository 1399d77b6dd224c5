"""Heavy jobs are bounded: a job that runs too long or grows too large ends with a clear error
and leaves a working pool, and one user cannot hold every job process. Real job processes."""

from __future__ import annotations

import asyncio
import os

import pytest

from batteryviz.ui import jobs

from .jobfns import hold_memory, interval, spin


def test_a_job_past_its_time_ends_with_a_clear_error_and_frees_its_process(monkeypatch):
    monkeypatch.setenv("BATTERYVIZ_JOB_TIMEOUT_S", "1")
    with pytest.raises(jobs.JobTimeoutError, match="spin took longer than the 1 s"):
        asyncio.run(jobs.run(spin, 600))
    assert asyncio.run(jobs.run(spin, 0.1)) == 0.1  # the same pool, free again


def test_a_job_past_its_memory_is_ended_and_the_pool_renewed(monkeypatch):
    monkeypatch.setenv("BATTERYVIZ_JOB_MEMORY_MB", "400")
    with pytest.raises(jobs.JobProcessDiedError, match="above the 0.4 GiB a job may use"):
        asyncio.run(jobs.run(hold_memory, 1500, 60))
    monkeypatch.delenv("BATTERYVIZ_JOB_MEMORY_MB")
    assert asyncio.run(jobs.run(os.getpid)) != os.getpid()


def test_one_user_cannot_hold_every_job_process(monkeypatch):
    monkeypatch.setenv("BATTERYVIZ_JOB_PROCESSES", "2")
    jobs._forget_pool(jobs._executor("jobs"))  # a pool of 2 for this test, both processes started
    jobs.warm_job_processes()

    async def busy_lab():
        mallory = [asyncio.create_task(jobs.run(interval, 1.0, owner="mallory")) for _ in range(3)]
        await asyncio.sleep(0.2)  # mallory's jobs are queued first
        alice = asyncio.create_task(jobs.run(interval, 0.1, owner="alice"))
        return await asyncio.gather(*mallory), await alice

    mallory, alice = asyncio.run(busy_lab())
    mallory = sorted(mallory)
    # mallory's jobs ran one at a time (2 processes, one always left for others) …
    assert all(later[0] >= earlier[1] - 0.05 for earlier, later in zip(mallory, mallory[1:]))
    # … so alice's job ran at once, while mallory's first was still running
    assert alice[0] < mallory[0][1]
    jobs._forget_pool(jobs._executor("jobs"))
