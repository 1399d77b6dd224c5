"""Uploads received the way a server must: limited as they arrive, spooled to disk, each once.

Panel's ``FileDropper`` keeps every chunk of every file in the server's memory until the last
one arrives, checks the size limit only in the browser, keeps files of stalled uploads for good
and holds every file of the page in its ``value`` (so a handler watching ``value`` re-reads all
of them on each new drop). A user sending the widget's own messages made a server grow by 1.8 GB
before refusal. :class:`SpooledFileDropper` is the same widget in the browser, but on the server:

* the size limit is enforced as chunks arrive (and on the size a file declares with its first
  chunk), chunks must come in order, and at most :attr:`~SpooledFileDropper.max_in_progress`
  files of a page are in flight;
* chunks go to a file in the server's spool folder (:func:`spool_root`), never into memory;
* an upload that sends nothing for :attr:`~SpooledFileDropper.stall_seconds` is dropped and its
  file deleted;
* each finished file is handed once to ``on_file(name, path)`` (which then owns the file), each
  refusal to ``on_refused(name, reason)``; ``value`` stays empty.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import panel as pn
import param

from ..viz.private import file_dropper_rename

log = logging.getLogger(__name__)


def spool_root() -> Path:
    """This server process's folder for uploads in progress (``<tmp>/batteryviz-spool/<pid>``)."""
    path = Path(tempfile.gettempdir()) / "batteryviz-spool" / str(os.getpid())
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def clean_stale_spools() -> list[Path]:
    """Delete spool folders of server processes that no longer run (uploads cut off by a kill
    or a crash); returns what was deleted. Called when ``batteryviz serve`` starts."""
    import psutil

    removed = []
    base = Path(tempfile.gettempdir()) / "batteryviz-spool"
    for folder in base.glob("*") if base.exists() else []:
        if (
            folder.name.isdigit()
            and int(folder.name) != os.getpid()
            and not psutil.pid_exists(int(folder.name))
        ):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@dataclass
class _Spool:
    path: Path
    handle: object
    next_chunk: int
    total_chunks: int
    received: int = 0
    last_seen: float = 0.0


#: FilePond colours a file green and says "Upload complete" once its bytes are sent, before
#: the server has read it, so a file refused as unreadable still looked accepted. The drop zone
#: says only what it knows: "Received", in grey; whether the file was stored or refused (and
#: why) is the message under the drop zone. "Tap to undo" is hidden: a received file is the
#: server's to store.
RECEIVED_CSS = """
.filepond--item[data-filepond-item-state="processing-complete"] .filepond--item-panel {
  background-color: #5f6368;
}
.filepond--item[data-filepond-item-state="processing-complete"] .filepond--file-status-main {
  font-size: 0;
}
.filepond--item[data-filepond-item-state="processing-complete"]
  .filepond--file-status-main::after {
  content: "Received: see the message below";
  font-size: 0.75rem;
}
.filepond--item[data-filepond-item-state="processing-complete"] .filepond--file-status-sub {
  display: none;
}
"""


class SpooledFileDropper(pn.widgets.FileDropper):
    """``FileDropper`` whose files are checked and spooled to disk on the server (see module)."""

    max_bytes = param.Integer(
        default=500 * 2**20,
        bounds=(1, None),
        doc="""
        Largest file accepted (bytes), enforced on the server as chunks arrive.""",
    )

    max_in_progress = param.Integer(
        default=4,
        bounds=(1, None),
        doc="""
        Files of this page that may be arriving at once; more are refused.""",
    )

    stall_seconds = param.Number(
        default=120.0,
        bounds=(0.01, None),
        doc="""
        An upload that sends no chunk for this long is dropped and its spooled file deleted.""",
    )

    _rename = {
        **file_dropper_rename(),
        "max_bytes": None,
        "max_in_progress": None,
        "stall_seconds": None,
    }  # server-side settings: not properties of the browser's model

    def __init__(self, on_file=None, on_refused=None, **params):
        params.setdefault(
            "max_file_size", f"{params.get('max_bytes', self.param.max_bytes.default) // 2**20}MB"
        )
        params["stylesheets"] = [*params.get("stylesheets", []), RECEIVED_CSS]
        super().__init__(**params)
        self.on_file = on_file
        self.on_refused = on_refused
        self._spools: dict[str, _Spool] = {}
        self._refused: set[str] = set()  # names whose remaining chunks are ignored
        self._sweeper = None

    # -- events ---------------------------------------------------------------------------------
    def _process_event(self, event) -> None:
        data = event.data if isinstance(event.data, dict) else {}
        name = str(data.get("name", ""))[:255] or "unnamed"
        self._sweep()
        if event.event_name == "delete_event":
            self._drop(name)
            self._refused.discard(name)
            return
        try:
            self._receive(name, data)
        except _Refused as exc:
            self._drop(name)
            self._refused.add(name)
            log.warning("upload %r refused: %s", name, exc)
            if self.on_refused is not None:
                self.on_refused(name, str(exc))

    def _receive(self, name: str, data: dict) -> None:
        chunk, total = data.get("chunk"), data.get("total_chunks")
        payload = data.get("data", b"")
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if (
            not isinstance(chunk, int)
            or not isinstance(total, int)
            or not isinstance(payload, (bytes, bytearray, memoryview))
        ):
            raise _Refused("the upload's messages are malformed")
        if chunk == 1:
            self._refused.discard(name)
            self._drop(name)
            declared = (total - 1) * max(int(self.chunk_size), 1)
            if total < 1 or declared > self.max_bytes:
                raise _Refused(
                    f"the file is larger than the {self.max_bytes / 2**20:.0f} MiB this server "
                    f"accepts"
                )
            if len(self._spools) >= self.max_in_progress:
                raise _Refused(
                    f"at most {self.max_in_progress} files can arrive at once; drop it again when "
                    "the others are in"
                )
            path = spool_root() / f"{uuid.uuid4().hex}.upload"
            self._spools[name] = _Spool(path, open(path, "xb"), 1, total)  # noqa: SIM115 - closed in _finish/_drop
            self._start_sweeper()
        elif name in self._refused:
            return  # the browser goes on sending a refused file: ignore the rest
        spool = self._spools.get(name)
        if spool is None or chunk != spool.next_chunk or total != spool.total_chunks:
            raise _Refused("the upload's chunks arrived out of order (was the upload interrupted?)")
        spool.received += len(payload)
        if spool.received > self.max_bytes:
            raise _Refused(
                f"the file is larger than the {self.max_bytes / 2**20:.0f} MiB this server accepts"
            )
        spool.handle.write(payload)
        spool.next_chunk += 1
        spool.last_seen = time.monotonic()
        if chunk == total:
            spool.handle.close()
            del self._spools[name]
            if self.on_file is None:
                spool.path.unlink(missing_ok=True)
            else:
                self.on_file(name, spool.path)

    # -- housekeeping ---------------------------------------------------------------------------
    def _drop(self, name: str) -> None:
        spool = self._spools.pop(name, None)
        if spool is not None:
            spool.handle.close()
            spool.path.unlink(missing_ok=True)

    def _sweep(self) -> None:
        """Drop uploads that sent nothing for :attr:`stall_seconds`."""
        now = time.monotonic()
        for name, spool in list(self._spools.items()):
            if now - spool.last_seen > self.stall_seconds:
                self._drop(name)
                self._refused.add(name)
                log.warning(
                    "upload %r dropped: nothing received for %.0f s", name, now - spool.last_seen
                )
                if self.on_refused is not None:
                    self.on_refused(
                        name, f"the upload stalled (nothing received for {self.stall_seconds:g} s)"
                    )

    def _start_sweeper(self) -> None:
        """While uploads are in flight, sweep stalled ones on the event loop's clock."""
        if self._sweeper is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (called from a thread or plain Python): swept on the next event

        def tick():
            self._sweep()
            self._sweeper = loop.call_later(self.stall_seconds / 4, tick) if self._spools else None

        self._sweeper = loop.call_later(self.stall_seconds / 4, tick)

    def close_uploads(self) -> None:
        """Drop every upload in flight (the page closed)."""
        for name in list(self._spools):
            self._drop(name)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None


class _Refused(Exception):
    """An upload refused; the message says why (shown to the user)."""
