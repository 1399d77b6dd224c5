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
import contextlib
import functools
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..errors import BatteryvizError

_lock = threading.Lock()
_pools: dict[
    str, ThreadPoolExecutor | ProcessPoolExecutor
] = {}  # kind -> pool, one each per server process
_clients: dict = {}  # scheduler address -> distributed.Client, one per server process


def scheduler_address() -> str | None:
    """The Dask scheduler the dashboards hand heavy work to, or ``None`` (the server's job
    processes)."""
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
                pool = ProcessPoolExecutor(
                    max_workers=n,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_job_process,
                    initargs=(niceness,),
                )
            else:
                pool = ThreadPoolExecutor(
                    max_workers=_per_core(), thread_name_prefix=f"batteryviz-{kind}"
                )
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


#: The longest a heavy job may run (seconds; ``BATTERYVIZ_JOB_TIMEOUT_S``): a job past it ends
#: with :class:`JobTimeoutError` and its process is free again.
JOB_TIMEOUT_S = 900.0


class JobTimeoutError(BatteryvizError):
    """A job ran longer than the server allows (:data:`JOB_TIMEOUT_S`)."""


def job_timeout() -> float:
    value = os.environ.get("BATTERYVIZ_JOB_TIMEOUT_S")
    return float(value) if value else JOB_TIMEOUT_S


def job_memory_limit() -> int:
    """The most memory (resident, bytes) one job process may use before it is ended:
    ``BATTERYVIZ_JOB_MEMORY_MB``, else an equal share of 3/4 of the machine's memory per job
    process (at least 1 GiB)."""
    import psutil

    value = os.environ.get("BATTERYVIZ_JOB_MEMORY_MB")
    if value:
        return int(float(value) * 2**20)
    return max(2**30, int(psutil.virtual_memory().total * 0.75 / max(job_processes(), 1)))


def _timed(fn, timeout: float, *args, **kwargs):
    """Run ``fn`` in this (job) process, interrupted by :class:`JobTimeoutError` after ``timeout``
    seconds (a timer signal: it takes effect between Python steps, so a long C call finishes
    first)."""
    import signal

    name = getattr(fn, "__name__", "the job")

    def expire(*_):
        raise JobTimeoutError(
            f"{name} took longer than the {timeout:g} s a job may run on this server "
            "(BATTERYVIZ_JOB_TIMEOUT_S); choose fewer cycles, or run it in a notebook"
        )

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


_owners: dict = {}  # (event loop, owner) -> asyncio.Semaphore


def _owner_slots(owner: str) -> asyncio.Semaphore:
    """How many heavy jobs one owner (user) may have running at once in this server process: all
    job processes but one, so another user always finds one free."""
    key = (id(asyncio.get_running_loop()), owner)
    slots = _owners.get(key)
    if slots is None:
        slots = _owners[key] = asyncio.Semaphore(max(1, job_processes() - 1))
    return slots


_watchdog: threading.Thread | None = None


def _watch_job_memory(interval: float = 0.5) -> None:
    """End job processes whose resident memory passes :func:`job_memory_limit` (the job gets
    :class:`JobProcessDiedError`, the pool fresh processes): a thread of the server process."""
    import psutil

    me = psutil.Process()
    while True:
        limit = job_memory_limit()
        for child in me.children():
            try:
                if child.memory_info().rss > limit and "multiprocessing" in " ".join(
                    child.cmdline()
                ):
                    child.kill()
            except psutil.Error:
                continue
        time.sleep(interval)


def _start_watchdog() -> None:
    global _watchdog
    with _lock:
        if _watchdog is None:
            _watchdog = threading.Thread(
                target=_watch_job_memory, name="batteryviz-job-memory", daemon=True
            )
            _watchdog.start()


async def run(fn, *args, heavy: bool = True, owner: str | None = None, **kwargs):
    """Await ``fn(*args, **kwargs)``: when ``heavy``, on the cluster if one is configured, else in a
    job process (``fn`` and its arguments must then be picklable); otherwise in a thread of the
    server process.

    Heavy jobs in job processes are bounded: at most :func:`job_timeout` seconds and
    :func:`job_memory_limit` bytes each, and an ``owner`` (the user) runs at most all job
    processes but one at a time."""
    loop = asyncio.get_running_loop()
    if heavy and scheduler_address():
        call, pool = functools.partial(_on_cluster, fn, *args, **kwargs), _executor("cluster")
    else:
        pool = _executor("jobs" if heavy else "view")
        if heavy and isinstance(pool, ProcessPoolExecutor):
            _start_watchdog()
            call = functools.partial(_timed, fn, job_timeout(), *args, **kwargs)
        else:
            call = functools.partial(fn, *args, **kwargs)
    slots = _owner_slots(owner) if heavy and owner is not None else contextlib.nullcontext()
    try:
        async with slots:
            return await loop.run_in_executor(pool, call)
    except BrokenProcessPool as exc:
        _forget_pool(pool)  # the next job gets fresh processes
        raise JobProcessDiedError(
            f"the process computing {getattr(fn, '__name__', 'the job')} ended before it finished "
            f"(killed, or above the {job_memory_limit() / 2**30:.1f} GiB a job may use); the "
            f"server has "
            "started new ones: try again"
        ) from exc


# -- the jobs ---------------------------------------------------------------------------------
def analysis_parameters(
    analysis_cls, metadata: dict, cycles: list[int] | None, params: dict
) -> dict:
    """Parameters of an analysis: the user's widget values, then the cell's metadata (mass,
    nominal capacity, cycle mode …) and the cycle selection where the analysis takes them."""
    names = set(analysis_cls.param)
    out = {k: v for k, v in params.items() if k in names and k != "name"}
    out.update({k: v for k, v in metadata.items() if k in names})
    if "cycles" in names:
        out["cycles"] = cycles
    return out


def compute_analysis(
    root: str, user: str, cell_id: str, name: str, params: dict, keep: bool = True
):
    """Open the cell, run analysis ``name`` with ``params``; with ``keep`` (the default) the
    result becomes the cell's stored result of that analysis. A comparison of cells passes
    ``keep=False``: what it computes for its own plot never replaces what the cell's tab shows."""
    from ..analysis.registry import ANALYSES
    from ..store import Workspace

    ws = Workspace(root, user, seed_examples=False)
    ds = ws.open_dataset(cell_id)
    result = ANALYSES[name](**params).compute(ds)
    result = (
        result.compute()
    )  # a no-op in memory; evaluates a lazy (Dask) result here, on the worker
    if keep:
        ws.save_result(cell_id, name, result)
    return result


def add_upload(
    root: str,
    user: str,
    filename: str,
    data,
    max_upload_bytes: int,
    read_options: dict | None = None,
):
    """Store and parse one upload (its bytes, or the path of the file the server spooled it to),
    read with ``read_options`` when given (a column mapping); returns its
    :class:`~batteryviz.store.CellRecord`."""
    from ..store import Workspace

    return Workspace(root, user, max_upload_bytes=max_upload_bytes, seed_examples=False).add(
        filename, data, read_options=read_options
    )


def open_cell(root: str, user: str, cell_id: str, results: list[str] = ()):
    """The parsed dataset of a cell and its stored results (``{name: result}``, those present)."""
    from ..store import Workspace

    ws = Workspace(root, user, seed_examples=False)
    stored = {name: ws.load_result(cell_id, name) for name in results}
    return ws.open_dataset(cell_id), {k: v for k, v in stored.items() if v is not None}
