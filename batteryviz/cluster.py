"""Where heavy work runs: a Dask distributed client.

:func:`get_client` looks, in order, at an explicit scheduler address, at
``DASK_SCHEDULER_ADDRESS`` / the dask config key ``scheduler-address`` (what dask-jobqueue,
the Dask Kubernetes operator or a hand-started ``dask scheduler`` give you), and otherwise
starts a :class:`distributed.LocalCluster` on this machine.

The Dask scheduler has no authentication of its own: bind it to a private interface (the
LocalCluster started here listens on 127.0.0.1 only) and never expose its port.

Workers started here (:func:`local_cluster`) differ from Dask's defaults in two ways, both
measured with ``benchmarks/bench_batch.py``:

* glibc's ``malloc`` keeps freed memory for the next file. Dask sets
  ``MALLOC_TRIM_THRESHOLD_=65536`` for workers, which fixes the mmap threshold as well: every
  large array then comes from fresh pages, and reading a cycler file in a worker took ~30 %
  longer than in a plain process. Workers here get the opposite: arrays up to 64 MiB come from
  the heap (``MALLOC_MMAP_THRESHOLD_``) and up to 256 MiB of freed heap is kept
  (``MALLOC_TRIM_THRESHOLD_``), so a batch of files reuses its pages instead of faulting in new
  ones (read + summary + write of a 100k-row file ~10 % faster than with glibc's defaults; a
  worker's memory stays at its peak between files, by at most 256 MiB).
* polars gets ``cores / workers`` threads (``POLARS_MAX_THREADS``), so two workers on two cores
  do not run four polars threads against each other.
"""

from __future__ import annotations

import os

#: glibc malloc settings of local workers (module docstring): heap for arrays up to 64 MiB,
#: up to 256 MiB of freed heap kept for the next file.
MMAP_THRESHOLD = 64 * 2**20
TRIM_THRESHOLD = 256 * 2**20


def get_client(
    address: str | None = None, n_workers: int | None = None, threads_per_worker: int = 1
):
    """A :class:`distributed.Client`: explicit address, then the environment, then a LocalCluster.

    Parameters
    ----------
    address
        ``tcp://host:8786`` of a running scheduler.
    n_workers
        Workers of the LocalCluster (default: the number of cores).
    threads_per_worker
        Threads per LocalCluster worker (1: analyses are numpy/polars code that holds the GIL
        part of the time, so processes scale better than threads).
    """
    import dask
    from distributed import Client

    address = (
        address
        or os.environ.get("DASK_SCHEDULER_ADDRESS")
        or dask.config.get("scheduler-address", None)
    )
    if address:
        return Client(address)
    # the client starts the cluster itself, so closing the client (or leaving its `with`) closes it
    n_workers = n_workers or os.cpu_count() or 1
    with dask.config.set(_environ_config(n_workers, threads_per_worker)):
        return Client(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )


def _environ_config(
    n_workers: int, threads_per_worker: int, polars_threads: int | None = None
) -> dict:
    env = worker_environment(n_workers, threads_per_worker, polars_threads)
    return {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in env.items()}


def worker_environment(
    n_workers: int, threads_per_worker: int = 1, polars_threads: int | None = None
) -> dict[str, str]:
    """The ``distributed.nanny.pre-spawn-environ`` entries batteryviz sets for local workers;
    see the module docstring.

    ``polars_threads`` overrides the polars thread count (default: the cores shared out
    among the workers, at least ``threads_per_worker``)."""
    cores = os.cpu_count() or 1
    if polars_threads is None:
        polars_threads = (
            max(1, cores // max(1, n_workers)) if threads_per_worker == 1 else threads_per_worker
        )
    return {
        "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
        "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD),
        "POLARS_MAX_THREADS": str(int(polars_threads)),
    }


def local_cluster(
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    polars_threads: int | None = None,
    **kwargs,
):
    """A :class:`distributed.LocalCluster` of worker processes on 127.0.0.1, without a dashboard,
    with :func:`worker_environment` (``polars_threads`` as there)."""
    import dask
    from distributed import LocalCluster

    n_workers = n_workers or os.cpu_count() or 1
    with dask.config.set(_environ_config(n_workers, threads_per_worker, polars_threads)):
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            **kwargs,
        )
