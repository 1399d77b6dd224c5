"""Resource figures of hostile input (issue #14): what each bomb costs before it is refused, how
long a super-linear input takes now, and what other users wait during a login flood.

    python benchmarks/bench_hostile.py

Bombs are built in a scratch folder and read in a child process (address space capped at
6 GiB); its peak resident memory is reported. The login flood: a real server on loopback
(basic auth), N threads posting wrong passwords as fast as they can for 10 s while another
client asks ``/liveness`` every 50 ms; the probe's median and p95 are reported. The oversized
upload: ``batteryviz serve`` in its own process, Chromium on its page sending the upload widget's
own chunk messages over the real websocket for a file that declares 2 GB (the browser's size
check bypassed, as an attacker would); the server's peak memory (with its job processes), its
spool on disk, and the same ``/liveness`` probe are reported.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dashboard_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    running_server,  # noqa: E402
    serve_process,
    stop_process,
    wait_until_live,
)
from tests.security.test_bombs import MiB, _read_in_child, _zip_with  # noqa: E402


def bombs(tmp: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    cases = {
        "ndax 400 MiB of zeros": _zip_with(
            tmp / "bomb.ndax",
            {"VersionInfo.xml": b"<x/>", "Step.xml": b"<x/>", "data.ndc": (b"\0" * MiB, 400)},
        ),
        "xlsx 400 MiB sharedStrings": _zip_with(
            tmp / "bomb.xlsx",
            {
                "[Content_Types].xml": b"<Types/>",
                "xl/workbook.xml": b'<workbook><sheets><sheet name="Channel_1-001" '
                b'sheetId="1"/></sheets></workbook>',
                "xl/sharedStrings.xml": (b"<si><t>a</t></si>" * 65536, 400),
            },
        ),
    }
    path = tmp / "bomb.parquet"
    block = pa.table(
        {
            n: np.zeros(1_000_000)
            for n in ("test_time_second", "voltage_volt", "current_ampere", "a")
        }
    )
    with pq.ParquetWriter(path, block.schema, compression="zstd") as writer:
        for _ in range(50):
            writer.write_table(block)
    cases["parquet 50 M constant rows"] = path
    for name, file in cases.items():
        start = time.perf_counter()
        out = _read_in_child(file)
        print(
            f"{name:30s} {file.stat().st_size / MiB:6.2f} MiB file  -> {out['error']:15s} "
            f"peak {out['peak_mib']:6.0f} MiB, {time.perf_counter() - start:5.1f} s (child incl. "
            f"imports)"
        )


def superlinear(tmp: Path) -> None:
    import struct

    from batteryviz.io.biologic_mpr import records
    from batteryviz.io.tabular import sheet_names_of
    from batteryviz.store import Workspace

    start = time.perf_counter()
    sheet_names_of(("<sheet " + "x=" * 3) * 200_000)
    print(f"workbook.xml 1.4 MB hostile    {time.perf_counter() - start:6.3f} s")
    n = 20_000
    data = struct.pack("<IH", 0, n) + struct.pack(f"<{n}H", *([6] * n))
    start = time.perf_counter()
    records(data, {"start": 0, "end": len(data), "new_layout": True}, "x.mpr")
    print(f".mpr 20,000 repeated column ids {time.perf_counter() - start:6.3f} s")
    header = ",".join(
        ["Test Time (s)", "Voltage (V)", "Current (A)"] + [f"aux{k}" for k in range(n)]
    )
    rows = [",".join([str(r), "3.5", "0.1" if r < 10 else "-0.1"] + ["1"] * n) for r in range(20)]
    csv = tmp / "wide.csv"
    csv.write_text("\n".join([header, *rows]) + "\n")
    start = time.perf_counter()
    Workspace(str(tmp / "ws"), "a", seed_examples=False).add(csv.name, csv)
    print(f"CSV of 20,000 columns stored    {time.perf_counter() - start:6.1f} s")


def login_flood(tmp: Path, attackers: int = 16, seconds: float = 10.0) -> None:
    from batteryviz.serve import ServeConfig, add_user

    credentials = tmp / "users.json"
    add_user(credentials, "alice", "wonderland")
    config = ServeConfig(
        workspace=str(tmp / "flood"),
        auth="basic",
        credentials=str(credentials),
        cookie_secret="bench-cookie-secret-0123456789abcdef",
    )
    with running_server(config) as url:
        stop = time.monotonic() + seconds
        attempts = [0]

        def attack(k):
            data = urllib.parse.urlencode(
                {"username": f"user{k % 3}", "password": "guess"}
            ).encode()
            while time.monotonic() < stop:
                try:
                    with urllib.request.urlopen(f"{url}/login", data=data, timeout=30) as r:
                        r.read()
                except Exception:  # noqa: BLE001 - refusals are fine
                    pass
                attempts[0] += 1

        threads = [threading.Thread(target=attack, args=(k,)) for k in range(attackers)]
        for t in threads:
            t.start()
        waits = []
        while time.monotonic() < stop:
            start = time.perf_counter()
            with urllib.request.urlopen(f"{url}/liveness", timeout=30) as r:
                r.read()
            waits.append(time.perf_counter() - start)
            time.sleep(0.05)
        for t in threads:
            t.join()
    waits.sort()
    print(
        f"login flood: {attackers} clients, {attempts[0]} attempts in {seconds:g} s; other users' "
        f"requests: median {statistics.median(waits) * 1000:.1f} ms, p95 "
        f"{waits[int(0.95 * len(waits))] * 1000:.1f} ms"
    )


#: Sends the chunks of a made-up file through the page's own upload widget (its view's upload
#: routine), skipping the widget's size check: the messages are those of a real upload.
SEND_FAKE_FILE = """(size) => new Promise((resolve) => {
  const found = [];
  const walk = (v) => { if (!v) return; if (v.model &&
  String(v.model.type).endsWith('FileDropper')) found.push(v);
                        for (const k of (v.child_views ? [...v.child_views] : [])) walk(k); };
  Object.values(Bokeh.index).forEach(walk);
  const fake = {name: 'huge.txt', size: size, type: 'text/plain',
                slice: (a, b) => new Blob([new Uint8Array(b - a)])};
  found[0]._process_upload(fake, () => resolve('sent'), () => resolve('failed'), () => {});
})"""


def oversized_upload(tmp: Path, declared_bytes: int = 2 * 10**9) -> None:
    import psutil
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = serve_process(port, tmp / "upload-ws")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_live(url, timeout=120)
        proc = psutil.Process(server.pid)
        spool = Path(tempfile.gettempdir()) / "batteryviz-spool"

        def memory():
            total = 0
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            return total

        def spooled():
            return (
                sum(f.stat().st_size for f in spool.rglob("*") if f.is_file())
                if spool.exists()
                else 0
            )

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(300_000)
            page.goto(f"{url}/")
            page.wait_for_selector("input[type=file]", state="attached")
            page.wait_for_timeout(3000)
            baseline, peak, disk = memory(), [0], [0]
            waits, done = [], threading.Event()

            def watch():
                while not done.is_set():
                    peak[0] = max(peak[0], memory())
                    disk[0] = max(disk[0], spooled())
                    start = time.perf_counter()
                    with urllib.request.urlopen(f"{url}/liveness", timeout=60) as r:
                        r.read()
                    waits.append(time.perf_counter() - start)
                    time.sleep(0.05)

            watcher = threading.Thread(target=watch)
            watcher.start()
            start = time.perf_counter()
            outcome = page.evaluate(SEND_FAKE_FILE, declared_bytes)
            page.wait_for_timeout(2000)
            elapsed = time.perf_counter() - start
            done.set()
            watcher.join()
            shown = page.locator("text=/larger than|refused|too large/i").first.inner_text(
                timeout=10_000
            )
            browser.close()
    finally:
        stop_process(server)
    waits.sort()
    print(
        f"oversized upload: {declared_bytes / 1e9:g} GB declared, chunks {outcome} in "
        f"{elapsed:.1f} s; server "
        f"+{(peak[0] - baseline) / 2**20:.0f} MiB over its {baseline / 2**20:.0f} MiB (with job "
        f"processes), "
        f"spool on disk at most {disk[0] / 2**20:.1f} MiB; /liveness median "
        f"{statistics.median(waits) * 1000:.1f} ms, "
        f"p95 {waits[int(0.95 * len(waits))] * 1000:.1f} ms; the page said: {shown[:120]!r}"
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        bombs(tmp)
        superlinear(tmp)
        login_flood(tmp)
        oversized_upload(tmp)
