"""Two writers of one cell: the one holding the claim writes it, the other waits for it; a killed
writer's half-written cell is repaired by the next upload. Real processes, real files."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time

from batteryviz.examples import example_file
from batteryviz.store import Workspace


def _script(root, body: str) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        from pathlib import Path
        from batteryviz.store import Workspace
        from batteryviz.examples import example_file
        ws = Workspace({str(root)!r}, "alice", seed_examples=False)
        data = example_file().read_bytes()
        import hashlib
        cell_id = hashlib.sha256(data).hexdigest()[:16]
    """) + textwrap.dedent(body)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_a_killed_writers_half_cell_is_repaired_by_the_next_upload(tmp_path):
    writer = _script(
        tmp_path,
        """
        with ws._claim(cell_id):
            folder = Path(ws._cell_dir(cell_id)) / "original"
            folder.mkdir(parents=True)
            (folder / "partial.txt").write_bytes(data[:100])
            os.kill(os.getpid(), signal.SIGKILL)
    """,
    )
    writer.wait(timeout=120)
    writer.stdout.close()
    ws = Workspace(str(tmp_path), "alice", seed_examples=False)
    data = example_file().read_bytes()
    cell_id = hashlib.sha256(data).hexdigest()[:16]
    assert (tmp_path / "users").rglob(f"{cell_id}.claim")  # the dead writer's claim is still there
    assert ws.cells() == []  # its half cell is not listed
    record = ws.add("cell.txt", data)
    assert record.id == cell_id and ws.verify(cell_id)
    assert [c.id for c in ws.cells()] == [cell_id]
    assert not (
        tmp_path
        / "users"
        / ws.prefix.rsplit("/users/", 1)[1]
        / "cells"
        / cell_id
        / "original"
        / "partial.txt"
    ).exists()
    assert not list((tmp_path / "users").rglob("*.claim"))


def test_a_second_writer_waits_for_the_first_and_never_clears_its_cell(tmp_path):
    writer = _script(
        tmp_path,
        """
        with ws._claim(cell_id) as existing:
            print("claimed", flush=True)
            time.sleep(2)  # the second writer arrives while this cell is half written
            record = ws._store(cell_id, "first.txt", data, None, hashlib.sha256(data).hexdigest(),
            len(data), None, False)
        print(record.uploaded, flush=True)
    """,
    )
    assert writer.stdout.readline().strip() == "claimed"
    ws = Workspace(str(tmp_path), "alice", seed_examples=False)
    start = time.monotonic()
    record = ws.add("second.txt", example_file().read_bytes())  # the same bytes
    waited = time.monotonic() - start
    first_uploaded = writer.stdout.readline().strip()
    writer.wait(timeout=60)
    writer.stdout.close()
    assert (
        record.filename == "first.txt" and record.uploaded == first_uploaded
    )  # the first writer's cell
    assert waited > 0.5  # it waited for the claim instead of clearing the folder
    assert ws.verify(record.id) and [c.id for c in ws.cells()] == [record.id]
