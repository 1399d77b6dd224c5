"""Uploads on the server: the size limit holds whatever the browser sends, files go to disk and
not to memory, stalled uploads are dropped, every file is stored once.

The messages are Panel's own ``UploadEvent`` objects — what Bokeh's server builds from the
websocket messages a browser (or an attacker speaking the same protocol) sends.
"""

from __future__ import annotations

import asyncio
import tracemalloc

from panel.models.file_dropper import DeleteEvent, UploadEvent

from batteryviz.store import Workspace
from batteryviz.ui import Dashboard
from batteryviz.ui.upload import SpooledFileDropper, clean_stale_spools, spool_root
from batteryviz.viz.markup import to_text

MiB = 2**20


def _chunk(widget, name, k, total, data):
    widget._process_event(
        UploadEvent(
            model=None,
            data={
                "name": name,
                "chunk": k,
                "total_chunks": total,
                "data": data,
                "type": "text/plain",
            },
        )
    )


def _collector():
    files, refused = [], []
    return (
        files,
        refused,
        dict(
            on_file=lambda n, p: files.append((n, p)),
            on_refused=lambda n, r: refused.append((n, r)),
        ),
    )


def test_a_file_arrives_on_disk_not_in_memory():
    files, refused, hooks = _collector()
    widget = SpooledFileDropper(max_bytes=64 * MiB, chunk_size=4 * MiB, **hooks)
    block = b"x" * (4 * MiB)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for k in range(1, 9):
        _chunk(widget, "cell.txt", k, 8, block)
        held = tracemalloc.get_traced_memory()[0] - base
        assert held < 2 * MiB, (
            f"{held / MiB:.1f} MiB held after chunk {k}"
        )  # Panel's widget held k × 4 MiB
    tracemalloc.stop()
    [(name, path)] = files
    assert name == "cell.txt" and path.stat().st_size == 32 * MiB and not refused
    assert widget.value == {}
    path.unlink()


def test_the_size_limit_holds_on_the_server():
    files, refused, hooks = _collector()
    widget = SpooledFileDropper(max_bytes=10 * MiB, chunk_size=4 * MiB, **hooks)
    # declared too large with the first chunk: refused before anything is written
    _chunk(widget, "declared.txt", 1, 1_000_000, b"x" * 100)
    # declared small, but chunks larger than announced: refused when the limit is passed
    for k in range(1, 4):
        _chunk(widget, "lying.txt", k, 3, b"x" * (6 * MiB))
    assert files == [] and [n for n, _ in refused] == ["declared.txt", "lying.txt"]
    assert all("larger than the 10 MiB" in r for _, r in refused)
    assert not widget._spools and list(spool_root().glob("*.upload")) == []


def test_out_of_order_and_too_many_uploads_are_refused():
    files, refused, hooks = _collector()
    widget = SpooledFileDropper(max_bytes=10 * MiB, max_in_progress=2, chunk_size=MiB, **hooks)
    _chunk(widget, "a.txt", 1, 3, b"a")
    _chunk(widget, "b.txt", 1, 3, b"b")
    _chunk(widget, "c.txt", 1, 3, b"c")  # a third at once
    _chunk(widget, "a.txt", 3, 3, b"a")  # chunk 2 skipped
    assert [n for n, _ in refused] == ["c.txt", "a.txt"]
    assert "at most 2 files" in refused[0][1] and "out of order" in refused[1][1]
    widget._process_event(DeleteEvent(model=None, data={"name": "b.txt"}))  # the user removed it
    assert not widget._spools and list(spool_root().glob("*.upload")) == []


def test_a_stalled_upload_is_dropped_and_its_file_deleted():
    files, refused, hooks = _collector()
    widget = SpooledFileDropper(max_bytes=10 * MiB, stall_seconds=0.2, chunk_size=MiB, **hooks)

    async def stall():
        _chunk(widget, "slow.txt", 1, 5, b"x" * 1000)  # then nothing more
        path = widget._spools["slow.txt"].path
        assert path.exists()
        await asyncio.sleep(0.6)  # the widget's own sweep on the event loop
        return path

    path = asyncio.run(stall())
    assert not path.exists() and not widget._spools
    assert refused and "stalled" in refused[0][1]


def test_spools_of_dead_servers_are_cleaned(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    folder = spool_root().parent / dead.stdout.strip()
    folder.mkdir()
    (folder / "cut-off.upload").write_bytes(b"x" * 1000)
    assert folder in clean_stale_spools()
    assert not folder.exists() and spool_root().exists()  # this process's own folder is kept


def test_each_dropped_file_is_stored_once(tmp_path, real, monkeypatch):
    from batteryviz.ui import jobs

    monkeypatch.setenv(
        "BATTERYVIZ_JOB_PROCESSES", "0"
    )  # job threads here: the count below sees them
    jobs._forget_pool(jobs._executor("jobs"))  # (a pool of processes made by an earlier test)
    stored = []
    original = jobs.add_upload

    def counting(root, user, filename, data, limit):
        stored.append(filename)
        return original(root, user, filename, data, limit)

    monkeypatch.setattr(jobs, "add_upload", counting)
    board = Dashboard(Workspace(str(tmp_path), "alice"))
    good = real / "arbin" / "pyprobe_sample_data_arbin.csv"
    names = [good.name, "notes.txt", "third.csv"]
    contents = [good.read_bytes(), b"eggs\nmilk\n", good.read_bytes()[:-1]]

    async def drop_one_by_one():  # three drops, the second and third while the first is stored
        for name, content in zip(names, contents):
            _chunk(board.dropper, name, 1, 1, content)
            await asyncio.sleep(0)
        while board._draining is not None and not board._draining.done():
            await asyncio.sleep(0.05)

    asyncio.run(drop_one_by_one())
    assert sorted(stored) == sorted(
        names
    )  # each once (the stock widget re-read all files per drop)
    shown = [to_text(a.object) for a in board.upload_messages]
    assert len(shown) == 3 and any(m.startswith("notes.txt: not a format") for m in shown)
    assert list(spool_root().glob("*.upload")) == []  # spooled files removed once stored
    jobs._forget_pool(jobs._executor("jobs"))
