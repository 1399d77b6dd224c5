"""Where the dashboard's work runs: heavy jobs in spawned job processes, page building in
threads."""

from __future__ import annotations

import asyncio
import os

import pytest

import batteryviz as bv
from batteryviz.errors import EmptyFileError
from batteryviz.ui import jobs


def test_heavy_jobs_run_in_another_process_and_page_work_in_this_one():
    assert asyncio.run(jobs.run(os.getpid)) != os.getpid()
    assert asyncio.run(jobs.run(os.getpid, heavy=False)) == os.getpid()


def test_a_job_process_that_dies_gives_a_clear_error_and_the_next_job_runs(tmp_path):
    before = asyncio.run(jobs.run(os.getpid))
    with pytest.raises(jobs.JobProcessDiedError, match="ended before it finished.*try again"):
        asyncio.run(jobs.run(os._exit, 3))
    after = asyncio.run(jobs.run(os.getpid))
    assert after not in (before, os.getpid())  # a fresh job process


def test_an_error_from_a_job_process_names_the_file_as_it_would_in_this_process(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError) as here:
        bv.read(empty)
    with pytest.raises(EmptyFileError) as there:
        asyncio.run(jobs.run(bv.read, empty))
    assert there.value.path == here.value.path == str(empty)
    assert str(there.value) == str(here.value)


def test_job_processes_yield_the_cpu_to_the_server():
    assert asyncio.run(jobs.run(os.nice, 0)) == min(os.nice(0) + jobs.JOB_NICENESS, 19)
