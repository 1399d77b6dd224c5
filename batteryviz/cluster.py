"""Where heavy work runs: a Dask distributed client.

:func:`get_client` looks, in order, at an explicit scheduler address, at
``DASK_SCHEDULER_ADDRESS`` / the dask config key ``scheduler-address`` (what dask-jobqueue,
the Dask Kubernetes operator or a hand-started ``dask scheduler`` give you), and otherwise
starts a :class:`distributed.LocalCluster` on this machine.

The Dask scheduler has no authentication of its own: bind it to a private interface (the
LocalCluster started here listens on 127.0.0.1 only) and never expose its port.
"""

from __future__ import annotations

import os


def get_client(address: str | None = None, n_workers: int | None = None, threads_per_worker: int = 1):
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
    from distributed import Client, LocalCluster

    address = address or os.environ.get("DASK_SCHEDULER_ADDRESS") or dask.config.get("scheduler-address", None)
    if address:
        return Client(address)
    cluster = LocalCluster(
        n_workers=n_workers or os.cpu_count() or 1,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    return Client(cluster)
