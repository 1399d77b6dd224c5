"""Batch jobs on a real Dask LocalCluster: bad files, resumed batches, a worker killed mid-run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import batteryviz as bv
from batteryviz.batch import run_batch

from .conftest import DATA, REAL

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    from batteryviz.cluster import local_cluster

    with local_cluster(2) as cluster:  # the workers `batteryviz batch` starts
        with Client(cluster) as c:
            yield c


@pytest.fixture()
def files(tmp_path, example_path):
    folder = tmp_path / "cells"
    folder.mkdir()
    picks = [
        example_path,
        DATA / "simulated" / "basytec_rate_fade_de.txt",
        REAL / "neware" / "cellpy_neware_uio.csv",
        REAL / "arbin" / "cellpy_20160805_test001_45_cc_01.res",
    ]
    out = []
    for k, src in enumerate(picks):
        dst = folder / f"{k}_{src.name}"
        shutil.copy(src, dst)
        out.append(dst)
    bad = folder / "2b_not_a_cell.txt"
    bad.write_text("this is not cycler data\n")
    out.insert(2, bad)
    return out


def test_batch_with_a_bad_file_in_the_middle(client, files, tmp_path):
    out = tmp_path / "results"
    report = run_batch(files, out, analyses=["summary"], client=client, progress=False)
    assert len(report.done) == 4 and list(report.failed) == [str(files[2])]
    assert "not a format batteryviz recognises" in report.failed[str(files[2])]
    errors = pd.read_csv(out / "errors.csv")
    assert errors["file"].tolist() == [str(files[2])]
    combined = pd.read_csv(out / "summary.csv")
    assert set(combined["cell"]) == {p.name.replace(".", "_") for p in files if p != files[2]}
    # the distributed results equal the in-memory path
    local = bv.CycleSummary().compute(bv.read(files[0]))
    cell = combined[combined["cell"] == files[0].name.replace(".", "_")]
    np.testing.assert_allclose(cell["discharge_capacity_ah"], local["discharge_capacity_ah"].values)


def test_a_resumed_batch_repeats_no_work(client, files, tmp_path):
    out = tmp_path / "results"
    first = run_batch(files, out, analyses=["summary"], client=client, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("done.json")}
    second = run_batch(files, out, analyses=["summary"], client=client, progress=False)
    assert second.done == [] and len(second.skipped) == len(first.done)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("done.json")} == stamps
    # changed parameters mean different results: that cell is recomputed
    third = run_batch(
        files[:1],
        out,
        analyses=["summary"],
        params={"summary": {"active_mass_mg": 25000.0}},
        client=client,
        progress=False,
    )
    assert third.done == [str(files[0])]


def test_a_worker_killed_mid_batch_and_the_batch_still_completes(client, files, tmp_path):
    out = tmp_path / "results"
    good = [f for f in files if "not_a_cell" not in f.name]
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]

    def kill():
        time.sleep(1.5)  # tasks are sleeping (delay_s) when the worker process dies
        os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would

    killer = threading.Thread(target=kill)
    killer.start()
    report = run_batch(
        good, out, analyses=["summary"], client=client, progress=False, delay_s=3.0, retries=3
    )
    killer.join()
    assert sorted(report.done) == sorted(map(str, good)) and not report.failed
    for f in good:
        done = json.loads((out / f.name.replace(".", "_") / "done.json").read_text())
        with xr.open_dataset(done["results"]["summary"]) as s:
            assert s.sizes["cycle"] > 0
    client.wait_for_workers(2, timeout=60)
    assert (
        victim not in client.scheduler_info()["workers"]
    )  # it really died (the nanny started a new one)


def test_get_client_prefers_an_explicit_address_then_the_environment(client, monkeypatch):
    from batteryviz.cluster import get_client

    address = client.scheduler.address
    with get_client(address) as c:
        assert c.scheduler.address == address
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    with get_client() as c:
        assert c.scheduler.address == address


def test_local_workers_keep_freed_memory_and_share_the_cores_among_polars(client):
    # Dask's MALLOC_TRIM_THRESHOLD_=65536 made reads ~30 % slower in workers; keeping freed
    # heap for the next file made them ~10 % faster than glibc's defaults
    # (benchmarks/bench_batch.py)
    from batteryviz.cluster import MMAP_THRESHOLD, TRIM_THRESHOLD

    env = client.run(
        lambda: (
            os.environ.get("MALLOC_MMAP_THRESHOLD_"),
            os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            __import__("polars").thread_pool_size(),
        )
    )
    cores = os.cpu_count() or 1
    assert all(
        (mmap, trim) == (str(MMAP_THRESHOLD), str(TRIM_THRESHOLD)) and threads == max(1, cores // 2)
        for mmap, trim, threads in env.values()
    ), env


def test_worker_environment_shares_cores_unless_polars_threads_are_given():
    from batteryviz.cluster import worker_environment

    cores = os.cpu_count() or 1
    assert worker_environment(1)["POLARS_MAX_THREADS"] == str(cores)
    assert (
        worker_environment(1, polars_threads=1)["POLARS_MAX_THREADS"] == "1"
    )  # one core per worker
    assert worker_environment(cores * 2)["POLARS_MAX_THREADS"] == "1"
    assert worker_environment(1, threads_per_worker=3)["POLARS_MAX_THREADS"] == "3"


def test_xarray_backend_entry_point(example_path):
    ds = xr.open_dataset(example_path, engine="batteryviz")
    assert ds.attrs["reader"] == "basytec" and ds.sizes["record"] == 16325
