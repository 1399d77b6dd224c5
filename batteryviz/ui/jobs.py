"""Heavy work of the dashboards, run off the server's event loop.

Every job is a plain function of plain arguments (workspace root, user, cell id, analysis name,
parameters) that opens what it needs itself. The same function therefore runs in the server's
thread pool or on a Dask cluster: :func:`run` picks the cluster when one is configured
(``batteryviz serve --scheduler ADDRESS`` or ``BATTERYVIZ_SCHEDULER``), the thread pool
otherwise. The workspace root must then be reachable from the workers (a shared folder or an
object store). While a job runs, the event loop keeps serving every other session.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pools: dict[bool, ThreadPoolExecutor] = {}  # heavy or not -> pool, one each per server process
_clients: dict = {}  # scheduler address -> distributed.Client, one per server process


def scheduler_address() -> str | None:
    """The Dask scheduler the dashboards hand heavy work to, or ``None`` (thread pool)."""
    return os.environ.get("BATTERYVIZ_SCHEDULER") or None


def _executor(heavy: bool = True) -> ThreadPoolExecutor:
    """Two pools per server process (not per session), sized to the machine: one for heavy jobs
    (uploads, analyses) and one for building what a page shows (layouts, plots, tables), so a
    user opening a tab never waits behind other users' analyses."""
    with _lock:
        pool = _pools.get(heavy)
        if pool is None:
            pool = _pools[heavy] = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2),
                                                      thread_name_prefix="batteryviz-job" if heavy else "batteryviz-view")
        return pool


def _client(address: str):
    from ..cluster import get_client

    with _lock:
        client = _clients.get(address)
        if client is None or client.status in ("closed", "closing"):
            client = _clients[address] = get_client(address)
        return client


def close_clients() -> None:
    """Close the connections to schedulers (at server shutdown, or in tests)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def _on_cluster(fn, *args, **kwargs):
    return _client(scheduler_address()).submit(fn, *args, pure=False, **kwargs).result()


async def run(fn, *args, heavy: bool = True, **kwargs):
    """Await ``fn(*args, **kwargs)`` computed in the thread pool, or on the cluster when one is
    configured and the job is ``heavy``."""
    loop = asyncio.get_running_loop()
    if heavy and scheduler_address():
        call = functools.partial(_on_cluster, fn, *args, **kwargs)
    else:
        call = functools.partial(fn, *args, **kwargs)
    return await loop.run_in_executor(_executor(heavy), call)


# -- the jobs ---------------------------------------------------------------------------------
def analysis_parameters(analysis_cls, metadata: dict, cycles: list[int] | None, params: dict) -> dict:
    """Parameters of an analysis: the user's widget values, then the cell's metadata (mass,
    nominal capacity, cycle mode …) and the cycle selection where the analysis takes them."""
    names = set(analysis_cls.param)
    out = {k: v for k, v in params.items() if k in names and k != "name"}
    out.update({k: v for k, v in metadata.items() if k in names})
    if "cycles" in names:
        out["cycles"] = cycles
    return out


def compute_analysis(root: str, user: str, cell_id: str, name: str, params: dict):
    """Open the cell, run analysis ``name`` with ``params``, keep the result in the workspace."""
    from ..analysis.registry import ANALYSES
    from ..store import Workspace

    ws = Workspace(root, user, seed_examples=False)
    ds = ws.open_dataset(cell_id)
    result = ANALYSES[name](**params).compute(ds)
    result = result.compute()  # a no-op in memory; evaluates a lazy (Dask) result here, on the worker
    ws.save_result(cell_id, name, result)
    return result


def add_upload(root: str, user: str, filename: str, data: bytes, max_upload_bytes: int):
    """Store and parse one upload; returns its :class:`~batteryviz.store.CellRecord`."""
    from ..store import Workspace

    return Workspace(root, user, max_upload_bytes=max_upload_bytes, seed_examples=False).add(filename, data)


def open_cell(root: str, user: str, cell_id: str, results: list[str] = ()):
    """The parsed dataset of a cell and its stored results (``{name: result}``, those present)."""
    from ..store import Workspace

    ws = Workspace(root, user, seed_examples=False)
    stored = {name: ws.load_result(cell_id, name) for name in results}
    return ws.open_dataset(cell_id), {k: v for k, v in stored.items() if v is not None}
