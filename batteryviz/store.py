"""Workspaces: where the dashboard keeps each user's cells, safely.

A workspace lives under a root URL — a local folder by default, or any fsspec URL such as
``s3://bucket/batteryviz`` for an S3-compatible store — with one private prefix per user::

    <root>/users/<user key>/
        workspace.json                      created once; examples are seeded then
        cells/<cell id>/
            original/<file name>            the upload, byte for byte
            data.bdf.parquet                the parsed dataset (BDF, cycle structure kept)
            data.metadata.json              its attrs and cycle structure
            results/<analysis>.nc           the last result of each analysis
            cell.json                       checksum, format, sizes and the user's metadata

Safety rules:

* Every file is written to a temporary name and renamed into place; ``cell.json`` is written
  last, so a cell without it is an upload in progress or an interrupted one and is never listed.
  A writer first claims the cell (``claims/<cell id>.claim``, created exclusively): two uploads
  of the same file never write one cell at once, and a folder without ``cell.json`` is cleared
  only by the writer holding the claim — after the claim of a killed writer was found stale.
  A crash or restart never leaves a half-written cell.
* The user key is derived from the login name (a slug plus a hash), and cell ids are checked
  against a strict pattern, so no name or id can reach outside the user's prefix.
* A :class:`Workspace` only ever sees its own prefix: there is no API that takes another user's
  name, so isolation does not depend on what the browser sends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .cycles import CYCLE_MODES
from .errors import BatteryvizError, quote

#: Largest upload the dashboard accepts by default (bytes).
MAX_UPLOAD_BYTES = 500 * 2**20

#: Metadata a user can set on a cell; names match the analyses' parameters.
CELL_METADATA = {
    "active_mass_mg": float,
    "nominal_capacity_mah": float,
    "electrode_area_cm2": float,
    "cycle_mode": str,
    "reference_cycle": int,
    "notes": str,
}

_CELL_ID = re.compile(r"^[0-9a-f]{16}$")
_RESULT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class CellNotFoundError(BatteryvizError, KeyError):
    """The cell id does not name a cell in this workspace."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""


class UploadTooLargeError(BatteryvizError):
    """An upload is larger than the workspace accepts."""


def user_key(user: str) -> str:
    """A directory name for ``user``: readable, unique, and unable to escape its parent."""
    if not user:
        raise ValueError("a workspace needs a user name")
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", user)[:40].strip("_") or "user"
    return f"{slug}-{hashlib.sha256(user.encode('utf-8')).hexdigest()[:12]}"


def _base_name(name: str) -> str:
    """``name`` without the path parts a browser may send."""
    return re.split(r"[\\/]", name or "")[-1]


def safe_filename(name: str) -> str:
    """The base name of an uploaded file, without path parts or control characters."""
    base = _base_name(name)
    base = re.sub(r"[\x00-\x1f<>:\"|?*]+", "_", base).strip(" .")
    return base[:200] or "upload"


def uploaded_name(name: str) -> str:
    """The name a file was uploaded under, as shown to people: its base name, control
    characters replaced and cut at 200 characters, everything else kept (pages escape it; it is
    never a path - :func:`safe_filename` is)."""
    return re.sub(r"[\x00-\x1f\x7f]+", "_", _base_name(name))[:200] or "upload"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class CellRecord:
    """What the workspace knows about one cell (the content of ``cell.json``)."""

    id: str
    filename: str
    sha256: str
    size_bytes: int
    uploaded: str
    format: str = ""
    cycler: str = ""
    rows: int = 0
    cycles: int = 0
    #: impedance spectra in the file (frequency sweeps); 0 when it holds none
    spectra: int = 0
    #: whether every record is an impedance point (then its "cycles" are its spectra)
    impedance_only: bool = False
    time_span_h: float = 0.0
    header: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    example: bool = False
    #: the name it was uploaded under, for people (``filename`` is the name it is stored under:
    #: ``<img src=x>.txt`` is stored as ``_img src=x_.txt``); empty for cells stored before
    uploaded_as: str = ""
    #: the options it was read with, when not found from its content (a column mapping given
    #: in the dashboard: ``{"format": "generic", "columns": {...}}``)
    read_with: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """The stored name without its suffix: what downloads of the cell are named after."""
        return self.filename.rsplit(".", 1)[0]

    @property
    def display_name(self) -> str:
        """The name shown in pages (escape it there): the name as uploaded."""
        return self.uploaded_as or self.filename

    @property
    def contents(self) -> str:
        """What the file holds, counted: "34 cycles", "1 cycle", "12 spectra" (an impedance
        file's sweeps are spectra, not cycles) or "3 cycles, 3 spectra"."""

        def count(n: int, one: str, many: str) -> str:
            return f"{n:,} {one if n == 1 else many}"

        spectra = count(self.spectra, "spectrum", "spectra")
        if self.impedance_only:
            return spectra
        cycles = count(self.cycles, "cycle", "cycles")
        return f"{cycles}, {spectra}" if self.spectra else cycles

    @property
    def label(self) -> str:
        name = self.header.get("battery") or self.header.get("test_name") or self.display_name
        return f"{name} ({self.display_name})" if name != self.display_name else name


class Workspace:
    """One user's cells under ``root``.

    >>> ws = Workspace("/srv/batteryviz", user="alice")            # doctest: +SKIP
    >>> cell = ws.add("cell_07.txt", data)                           # doctest: +SKIP
    >>> ds = ws.open_dataset(cell.id)                                # doctest: +SKIP
    """

    def __init__(
        self,
        root: str,
        user: str,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        seed_examples: bool = True,
    ) -> None:
        import fsspec

        self.root = str(root)
        self.user = user
        self.max_upload_bytes = int(max_upload_bytes)
        self.fs, base = fsspec.core.url_to_fs(self.root)
        self.prefix = f"{base.rstrip('/')}/users/{user_key(user)}"
        self._local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )
        self._cache = Path(tempfile.gettempdir()) / "batteryviz-cache" / user_key(user)
        if not self.fs.exists(f"{self.prefix}/workspace.json"):
            self._create(seed_examples)

    # -- layout ---------------------------------------------------------------------------------
    def _cell_dir(self, cell_id: str) -> str:
        if not isinstance(cell_id, str) or not _CELL_ID.match(cell_id):
            raise CellNotFoundError(f"no cell {quote(cell_id)} in this workspace")
        return f"{self.prefix}/cells/{cell_id}"

    def _create(self, seed_examples: bool) -> None:
        self.fs.makedirs(f"{self.prefix}/cells", exist_ok=True)
        if seed_examples:
            from .examples import example_file

            path = example_file()
            try:
                self.add(
                    path.name,
                    path.read_bytes(),
                    metadata={"nominal_capacity_mah": 5000.0},
                    example=True,
                )
            except BatteryvizError:  # pragma: no cover - the bundled example is tested to read
                pass
        self._put_bytes(
            f"{self.prefix}/workspace.json",
            json.dumps({"user": self.user, "created": _now()}).encode(),
        )

    def _atomic_write(self, path: str, write) -> None:
        """``write(tmp)`` to a temporary name beside ``path``, then rename it into place."""
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        write(tmp)
        self.fs.mv(tmp, path)

    def _put_bytes(self, path: str, data: bytes) -> None:
        self._atomic_write(path, lambda tmp: self.fs.pipe_file(tmp, data))

    def _put_file(self, local: Path, path: str) -> None:
        self._atomic_write(path, lambda tmp: self.fs.put_file(str(local), tmp))

    # -- cells ----------------------------------------------------------------------------------
    def cells(self) -> list[CellRecord]:
        """Every complete cell, oldest first (interrupted uploads are not listed)."""
        out = []
        for entry in self.fs.glob(f"{self.prefix}/cells/*/cell.json"):
            try:
                out.append(self._record(json.loads(self.fs.cat_file(entry))))
            except (ValueError, TypeError):  # a damaged record is skipped, never fatal
                continue
        return sorted(out, key=lambda c: (c.uploaded, c.id))

    def get(self, cell_id: str) -> CellRecord:
        """The record of ``cell_id``; :class:`CellNotFoundError` when it is not in this
        workspace."""
        path = f"{self._cell_dir(cell_id)}/cell.json"
        try:
            return self._record(json.loads(self.fs.cat_file(path)))
        except FileNotFoundError:
            raise CellNotFoundError(f"no cell {quote(cell_id)} in this workspace") from None

    def _find(self, cell_id: str) -> CellRecord | None:
        try:
            return self.get(cell_id)
        except CellNotFoundError:
            return None

    @staticmethod
    def _record(data: dict) -> CellRecord:
        known = set(CellRecord.__dataclass_fields__)
        return CellRecord(**{k: v for k, v in data.items() if k in known})

    def _write_record(self, record: CellRecord) -> None:
        self._put_bytes(
            f"{self._cell_dir(record.id)}/cell.json",
            json.dumps(asdict(record), indent=1, default=str).encode(),
        )

    def add(
        self,
        filename: str,
        data: bytes | os.PathLike,
        metadata: dict | None = None,
        example: bool = False,
        read_options: dict | None = None,
    ) -> CellRecord:
        """Store an upload and its parsed dataset; return the cell's record.

        ``data`` is the file's bytes, or the path of a local file holding them (an upload the
        server spooled to disk; it is read in blocks, never whole into memory).
        The same bytes uploaded twice give the same cell (its id is derived from the checksum),
        and an existing cell is returned unchanged — metadata already set is never overwritten.
        ``read_options`` go to :func:`batteryviz.read` (e.g. a column mapping for a table no
        reader recognised) and are kept in the record.
        Raises :class:`UploadTooLargeError` or the reader's error (the upload is then not kept).
        """
        source = None if isinstance(data, (bytes, bytearray, memoryview)) else Path(data)
        size = source.stat().st_size if source is not None else len(data)
        if size > self.max_upload_bytes:
            raise UploadTooLargeError(
                f"{filename}: {size / 2**20:.1f} MiB is larger than the "
                f"{self.max_upload_bytes / 2**20:.0f} MiB "
                "this workspace accepts; convert it with `batteryviz convert` and upload the "
                ".bdf.parquet"
            )
        if size == 0:
            from .errors import EmptyFileError

            raise EmptyFileError(f"{filename}: the file is empty (0 bytes)")
        digest = _sha256_of(source) if source is not None else hashlib.sha256(data).hexdigest()
        cell_id = digest[:16]
        try:
            return self.get(cell_id)
        except CellNotFoundError:
            pass
        with self._claim(cell_id) as existing:
            if existing is not None:  # another writer stored the same bytes meanwhile
                return existing
            return self._store(
                cell_id, filename, data, source, digest, size, metadata, example, read_options
            )

    @contextlib.contextmanager
    def _claim(self, cell_id: str):
        """Hold the right to write cell ``cell_id``: a claim file created exclusively (one writer
        wins, atomically), removed when the writer is done. Yields the cell's record when another
        writer finished it while this one waited, else ``None`` (the caller writes it).

        A claim whose writer no longer runs (a killed process on this machine) or that is older
        than :data:`STALE_CLAIM_S` is stale: it is removed with the half-written cell it guarded.
        Only the writer holding the claim ever deletes a cell folder without ``cell.json``."""
        path = f"{self.prefix}/claims/{cell_id}.claim"
        self.fs.makedirs(f"{self.prefix}/claims", exist_ok=True)
        deadline = time.monotonic() + CLAIM_WAIT_S
        while True:
            if self._create_exclusive(path, json.dumps(_claimant()).encode()):
                break
            if self._stale(path):
                self.fs.rm(path)
                continue
            if time.monotonic() > deadline:
                raise BatteryvizError(
                    f"cell {cell_id} is being stored by another upload of the same file; "
                    "try again in a few minutes"
                )
            time.sleep(0.2)
            done = self._find(cell_id)
            if done is not None:
                yield done
                return
        try:
            done = self._find(cell_id)  # finished just before the claim was won
            if done is not None:
                yield done
                return
            cell_dir = self._cell_dir(cell_id)
            if self.fs.exists(cell_dir):  # left by a writer whose claim was stale: ours to clear
                self.fs.rm(cell_dir, recursive=True)
            yield None
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(path)

    def _create_exclusive(self, path: str, content: bytes) -> bool:
        """Create ``path`` only if it does not exist (atomically); whether this call created it."""
        if self._local:
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            return True
        try:  # object stores with conditional writes (s3fs, gcsfs …) support mode "xb"
            with self.fs.open(path, "xb") as f:
                f.write(content)
            return True
        except FileExistsError:
            return False

    def _stale(self, path: str) -> bool:
        """Whether a claim's writer is gone (dead process on this host) or it is too old."""
        try:
            claimant = json.loads(self.fs.cat_file(path))
        except FileNotFoundError:
            return False  # released meanwhile: try again
        except (ValueError, TypeError):
            return True  # unreadable: a writer killed while writing it
        if time.time() - float(claimant.get("time", 0)) > STALE_CLAIM_S:
            return True
        if claimant.get("host") == socket.gethostname():
            import psutil

            return not psutil.pid_exists(int(claimant.get("pid", 0)))
        return False

    def _store(
        self, cell_id, filename, data, source, digest, size, metadata, example, read_options=None
    ) -> CellRecord:
        """Write a new cell (under its claim): original, parsed dataset, then ``cell.json``."""
        cell_dir = self._cell_dir(cell_id)
        name = safe_filename(filename)
        work = Path(tempfile.mkdtemp(prefix="batteryviz-upload-"))
        try:
            local = work / name
            if source is not None:
                shutil.copyfile(source, local)
            else:
                local.write_bytes(data)
            try:
                record, dataset = self._parse(
                    local, cell_id, name, digest, size, example, read_options
                )
            except BatteryvizError as exc:  # name the upload as uploaded, not a temporary copy
                raise exc.renamed(uploaded_name(filename)) from None
            record.uploaded_as = uploaded_name(filename)
            for key, value in (metadata or {}).items():
                record.metadata[key] = _metadata_value(key, value)
            self._put_file(local, f"{cell_dir}/original/{name}")
            from .analysis.summary import with_cycle_aggregates
            from .io.bdf import write_bdf

            write_bdf(with_cycle_aggregates(dataset), work / "data.bdf.parquet")
            for produced in sorted(work.glob("data.*")):
                self._put_file(produced, f"{cell_dir}/{produced.name}")
            self._write_record(record)  # last: the cell exists from here on
            return record
        finally:
            shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def _parse(
        local: Path,
        cell_id: str,
        name: str,
        digest: str,
        size: int,
        example: bool,
        read_options: dict | None = None,
    ):
        """The record of a new cell and its dataset with the cycle index."""
        import numpy as np

        from .cycles import assign_cycles
        from .io.reading import read
        from .quality import warnings_of

        ds = read(local, **(read_options or {}))
        if ds.sizes.get("record", 0) == 0:
            from .errors import EmptyFileError

            raise EmptyFileError(
                f"{name}: the file holds a header but no records (nothing was measured); "
                "there is nothing to analyse, so it is not stored"
            )
        # an impedance file may hold no current at all (frequency and impedance only): it has
        # spectra, no cycles
        cyc = assign_cycles(ds) if "current_ampere" in ds else ds
        spectra, impedance_only = 0, False
        if "frequency_hertz" in ds:
            from .analysis.impedance import split_spectra

            f = ds["frequency_hertz"].values.astype(float)
            spectra = len(split_spectra(f))
            impedance_only = bool(spectra) and bool(np.all(np.isfinite(f) & (f > 0)))
        t = ds["test_time_second"].values if "test_time_second" in ds else np.array([])
        span = float(np.nanmax(t) - np.nanmin(t)) / 3600 if t.size else 0.0
        skip = {"quality_warnings", "conventions", "source_file", "reader", "cycler"}
        header = {
            k: str(v)
            for k, v in ds.attrs.items()
            if k not in skip and not isinstance(v, (list, dict))
        }
        return CellRecord(
            id=cell_id,
            filename=name,
            sha256=digest,
            size_bytes=size,
            uploaded=_now(),
            format=str(ds.attrs.get("reader", "")),
            cycler=str(ds.attrs.get("cycler", "")),
            rows=int(ds.sizes.get("record", 0)),
            cycles=int(cyc.sizes.get("cycle", 0)),
            spectra=spectra,
            impedance_only=impedance_only,
            time_span_h=span,
            header=header,
            warnings=list(warnings_of(ds)),
            example=example,
            read_with=dict(read_options or {}),
        ), cyc

    def update_metadata(self, cell_id: str, **metadata) -> CellRecord:
        """Set the user's metadata of a cell (active mass, nominal capacity, …); ``None`` clears."""
        record = self.get(cell_id)
        for key, value in metadata.items():
            if value is None or value == "":
                record.metadata.pop(key, None)
            else:
                record.metadata[key] = _metadata_value(key, value)
        self._write_record(record)
        return record

    def delete(self, cell_id: str) -> None:
        """Remove a cell: its record first (so it disappears at once), then its files."""
        cell_dir = self._cell_dir(cell_id)
        self.get(cell_id)
        self.fs.rm(f"{cell_dir}/cell.json")
        self.fs.rm(cell_dir, recursive=True)

    # -- content --------------------------------------------------------------------------------
    def original_bytes(self, cell_id: str) -> bytes:
        """The upload exactly as received."""
        record = self.get(cell_id)
        return self.fs.cat_file(f"{self._cell_dir(cell_id)}/original/{record.filename}")

    def verify(self, cell_id: str) -> bool:
        """Whether the stored original still has the checksum recorded at upload."""
        return hashlib.sha256(self.original_bytes(cell_id)).hexdigest() == self.get(cell_id).sha256

    def _local_copy(self, cell_id: str, name: str) -> Path:
        """A local path of a stored file (the file itself on a local root, else a cached copy)."""
        remote = f"{self._cell_dir(cell_id)}/{name}"
        if self._local:
            return Path(remote)
        target = self._cache / cell_id / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(remote, str(target))
        return target

    def open_dataset(self, cell_id: str):
        """The parsed cell dataset (BDF names, cycle structure included)."""
        from .io.reading import read

        record = self.get(cell_id)
        sidecar = "data.metadata.json"
        if self.fs.exists(f"{self._cell_dir(cell_id)}/{sidecar}"):
            self._local_copy(cell_id, sidecar)
        # the plausibility gate judged the upload; what the workspace stored always opens
        # (a cell stored before a stricter gate stays readable, its findings as warnings)
        # (read as BDF, the format it was written in: an impedance-only cell has no time,
        # voltage or current columns for detection to recognise)
        ds = read(self._local_copy(cell_id, "data.bdf.parquet"), format="bdf", strict=False)
        ds.attrs["source_file"] = record.filename
        return ds

    def save_result(self, cell_id: str, name: str, result) -> None:
        """Keep the last result of analysis ``name`` for a cell (netCDF, all attrs)."""
        from .export import netcdf_bytes

        if not _RESULT_NAME.match(name):
            raise ValueError(f"result name {name!r}: use lower-case letters, digits and _")
        self.get(cell_id)
        self._put_bytes(f"{self._cell_dir(cell_id)}/results/{name}.nc", netcdf_bytes(result))

    def load_result(self, cell_id: str, name: str):
        """The stored result of analysis ``name``, or ``None``."""
        import io

        import xarray as xr

        if not _RESULT_NAME.match(name):
            return None
        path = f"{self._cell_dir(cell_id)}/results/{name}.nc"
        if not self.fs.exists(path):
            return None
        data = self.fs.cat_file(path)
        engine = "scipy" if data[:3] == b"CDF" else "h5netcdf"
        from .export import restored

        with xr.open_dataset(io.BytesIO(data), engine=engine) as ds:
            return restored(ds.load())


#: How long an upload waits for another writer of the same cell before giving up (seconds).
CLAIM_WAIT_S = 600
#: A claim older than this is stale whoever holds it (seconds): no upload takes a day.
STALE_CLAIM_S = 24 * 3600


def _claimant() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}


def _sha256_of(path: Path, block: int = 2**20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _metadata_value(key: str, value):
    """A metadata value checked and converted (decimal commas accepted, sizes must be positive)."""
    kind = CELL_METADATA.get(key)
    if kind is None:
        raise ValueError(f"unknown cell metadata {quote(key)}; known: {', '.join(CELL_METADATA)}")
    text = value.strip().replace(",", ".") if isinstance(value, str) and kind is not str else value
    try:
        out = kind(float(text)) if kind is int else kind(text)
    except (TypeError, ValueError):
        raise ValueError(
            f"cell metadata {key}: expected a {'number' if kind is not str else 'text'}, got "
            f"{quote(value)}"
        ) from None
    if kind in (int, float) and not (out > 0 and out == out and out != float("inf")):
        raise ValueError(f"cell metadata {key}: expected a positive number, got {quote(value)}")
    if key == "cycle_mode" and out not in CYCLE_MODES:
        raise ValueError(
            f"cell metadata cycle_mode: expected one of {', '.join(CYCLE_MODES)}, "
            f"got {quote(value)}"
        )
    return out
