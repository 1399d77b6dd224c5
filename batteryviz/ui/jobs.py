"""Heavy work of the dashboards, run off the server's event loop.

Every job is a plain function of plain arguments (workspace root, user, cell id, analysis name,
parameters) that opens what it needs itself. The same function therefore runs in a worker
process of the server or on a Dask cluster: :func:`run` picks the cluster when one is configured
(``batteryviz serve --scheduler ADDRESS`` or ``BATTERYVIZ_SCHEDULER``), the server's own job
processes otherwise. The workspace root must then be reachable from the workers (a shared folder
or an object store). While a job runs, the event loop keeps serving every other session.

Why processes and not threads: reading a file and computing an analysis is much Python work
(xarray, param, the readers' bookkeeping); in a thread it would share the server's interpreter
with the event loop that serves every page, and it could not be given a lower CPU priority than
that loop. In a job process it is scheduled by the operating system at ``nice``
:data:`JOB_NICENESS`, so a click waits for the CPU behind no analysis. (Under load the event
loop's stalls, logged by :mod:`.loopwatch`, came mostly from CPU contention: measured alone, a
loop callback was not slowed by one thread rendering HoloViews beside it.) Work that builds what a
page shows (Bokeh models, Panel objects) must stay in the server process; it runs in a thread
pool (``heavy=False``).
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..errors import BatteryvizError

_lock = threading.Lock()
_pools: dict[str, ThreadPoolExecutor | ProcessPoolExecutor] = {}  # kind -> pool, one each per server process
_clients: dict = {}  # scheduler address -> distributed.Client, one per server process


def scheduler_address() -> str | None:
    """The Dask scheduler the dashboards hand heavy work to, or ``None`` (the server's job processes)."""
    return os.environ.get("BATTERYVIZ_SCHEDULER") or None


class JobProcessDiedError(BatteryvizError):
    """The process computing a job ended before returning (killed, or out of memory)."""


def job_processes() -> int:
    """How many job processes a server process starts: ``BATTERYVIZ_JOB_PROCESSES``, else one
    per core (at least 2); 0 runs jobs in threads of the server process instead."""
    value = os.environ.get("BATTERYVIZ_JOB_PROCESSES")
    return _per_core() if value in (None, "") else int(value)


def _per_core() -> int:
    return max(2, os.cpu_count() or 2)


#: How much lower the scheduling priority of job processes is than the server's (``nice``): an
#: analysis finishing a little later is fine, a click waiting for the CPU behind it is not.
#: ``BATTERYVIZ_JOB_NICENESS`` overrides it (0: the same priority).
JOB_NICENESS = 10


def _start_job_process(niceness: int) -> None:
    if niceness > 0:
        os.nice(niceness)


def _executor(kind: str) -> ThreadPoolExecutor | ProcessPoolExecutor:
    """The pools of a server process (not per session), sized to the machine: ``"jobs"``, worker
    processes for heavy work (uploads, analyses); ``"view"``, threads building what a page shows
    (layouts, plots, tables), so a user opening a tab never waits behind other users' analyses;
    ``"cluster"``, threads waiting for a Dask cluster's results. Job processes are spawned (never
    forked from a server running threads), run at a lower priority (:data:`JOB_NICENESS`) and
    are kept."""
    with _lock:
        pool = _pools.get(kind)
        if pool is None:
            n = job_processes() if kind == "jobs" else 0
            if n > 0:
                niceness = int(os.environ.get("BATTERYVIZ_JOB_NICENESS", JOB_NICENESS))
                pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_start_job_process, initargs=(niceness,))
            else:
                pool = ThreadPoolExecutor(max_workers=_per_core(), thread_name_prefix=f"batteryviz-{kind}")
            _pools[kind] = pool
        return pool


def _forget_pool(pool) -> None:
    with _lock:
        for key, known in list(_pools.items()):
            if known is pool:
                del _pools[key]
    pool.shutdown(wait=False, cancel_futures=True)


def warm_job_processes() -> None:
    """Start the job processes and import what jobs use in each, so the first upload does not
    wait for it (called by ``batteryviz serve`` before the first page)."""
    pool = _executor("jobs")
    if isinstance(pool, ProcessPoolExecutor):
        for future in [pool.submit(_import_job_modules) for _ in range(job_processes())]:
            future.result()


def _import_job_modules() -> None:
    from ..analysis.registry import ANALYSES
    from ..store import Workspace  # noqa: F401

    list(ANALYSES.values())


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
    """Await ``fn(*args, **kwargs)``: when ``heavy``, on the cluster if one is configured, else in a
    job process (``fn`` and its arguments must then be picklable); otherwise in a thread of the
    server process."""
    loop = asyncio.get_running_loop()
    if heavy and scheduler_address():
        call, pool = functools.partial(_on_cluster, fn, *args, **kwargs), _executor("cluster")
    else:
        call, pool = functools.partial(fn, *args, **kwargs), _executor("jobs" if heavy else "view")
    try:
        return await loop.run_in_executor(pool, call)
    except BrokenProcessPool as exc:
        _forget_pool(pool)  # the next job gets fresh processes
        raise JobProcessDiedError(
            f"the process computing {getattr(fn, '__name__', 'the job')} ended before it finished "
            "(killed, or out of memory); the server has started new ones: try again") from exc


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
