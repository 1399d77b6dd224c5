"""The reader registry: entry points of the group ``batteryviz.readers``, loaded lazily.

``READERS`` is a mapping that lists reader names without importing them and imports a reader
the first time it is asked for, so ``import batteryviz`` stays light. Third-party packages add
readers by declaring an entry point in that group; nothing here needs to change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Iterator

from ..errors import UnknownFormatError, quote
from .base import Evidence, Reader
from .text import Head, read_head

GROUP = "batteryviz.readers"

# The built-in readers, used when the package runs from a source tree that was not installed
# (entry points then do not exist). Installed entry points override and extend this.
_BUILTIN = {
    "basytec": "batteryviz.io.basytec:BasytecReader",
    "arbin": "batteryviz.io.arbin:ArbinReader",
    "arbin_metadata": "batteryviz.io.arbin:ArbinSidecarReader",
    "biologic": "batteryviz.io.biologic:BiologicTextReader",
    "maccor": "batteryviz.io.maccor:MaccorReader",
    "neware": "batteryviz.io.neware:NewareReader",
    "neware_nda": "batteryviz.io.neware_binary:NewareBinaryReader",
    "landt": "batteryviz.io.landt:LandtReader",
    "arbin_res": "batteryviz.io.arbin_res:ArbinResReader",
    "biologic_mpr": "batteryviz.io.biologic_mpr:BiologicMprReader",
    "eis_csv": "batteryviz.io.eis_csv:EISCsvReader",
    "gamry": "batteryviz.io.eis_formats:GamryDTAReader",
    "zplot": "batteryviz.io.eis_formats:ZPlotReader",
    "autolab": "batteryviz.io.eis_formats:AutolabZ60WReader",
    "parstat": "batteryviz.io.eis_formats:ParstatReader",
    "novonix": "batteryviz.io.novonix:NovonixReader",
    "pec": "batteryviz.io.pec:PecReader",
    "bdf": "batteryviz.io.bdf:BDFReader",
    "generic": "batteryviz.io.generic:GenericReader",
}


def _load(target: str) -> type[Reader]:
    module, _, attr = target.partition(":")
    mod = __import__(module, fromlist=[attr])
    return getattr(mod, attr)


class ReaderRegistry(Mapping):
    """Name → reader instance, loading each reader on first access."""

    def __init__(self) -> None:
        self._targets: dict[str, str] | None = None
        self._loaded: dict[str, Reader] = {}
        self.broken: dict[str, str] = {}

    def _discover(self) -> dict[str, str]:
        if self._targets is None:
            targets = dict(_BUILTIN)
            for ep in entry_points(group=GROUP):
                targets[ep.name] = ep.value
            self._targets = targets
        return self._targets

    def __getitem__(self, name: str) -> Reader:
        if name not in self._loaded:
            targets = self._discover()
            if name not in targets:
                raise KeyError(
                    f"no reader named {name!r}; registered: {', '.join(sorted(targets))}"
                )
            self._loaded[name] = _load(targets[name])()
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._discover())

    def __len__(self) -> int:
        return len(self._discover())

    def register(self, name: str, reader: type[Reader] | str) -> None:
        """Register a reader class (or ``"module:Class"``) at run time."""
        self._discover()
        if isinstance(reader, str):
            self._targets[name] = reader
        else:
            self._targets[name] = f"{reader.__module__}:{reader.__qualname__}"
            self._loaded[name] = reader()

    def by_priority(self) -> list[Reader]:
        """Loaded readers, most specific first. A plug-in that fails to import is skipped
        (and named in :attr:`broken`) so one broken package never stops detection."""
        readers = []
        for name in self:
            try:
                readers.append(self[name])
            except Exception as exc:
                self.broken[name] = f"{type(exc).__name__}: {exc}"
        return sorted(readers, key=lambda r: -r.priority)


READERS = ReaderRegistry()


#: Magic bytes of files people drop by mistake, and what to call them.
MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive (unpack it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (unpack it first)"),
    (b"Rar!", "a RAR archive (unpack it first)"),
    (
        b"\xd0\xcf\x11\xe0",
        "an OLE2 file (an old Office document that is not a cycler's Excel export)",
    ),
    (b"PK\x03\x04", "a ZIP archive"),
]


def binary_kind(raw: bytes, path) -> str:
    """What a binary file no reader takes looks like: an image, a document, an archive (a ZIP
    named like a Neware .ndax or an .xlsx is said to be damaged or cut short), or unknown."""
    suffix = Path(str(path)).suffix.lower()
    for magic, name in MAGIC:
        if raw.startswith(magic):
            if magic == b"PK\x03\x04" and suffix in (".ndax", ".xlsx", ".xlsm"):
                return f"a ZIP archive named {suffix} that does not open as one (cut short?)"
            return name
    return "a binary file of no kind batteryviz knows"


def detect(path: str | os.PathLike, head: Head | None = None) -> Reader:
    """Find the reader for ``path`` from its content (see :func:`weigh`).

    Raises :class:`UnknownFormatError` listing every reader with the reason it declined.
    """
    return weigh(path, head)[0]


def weigh(
    path: str | os.PathLike, head: Head | None = None
) -> tuple[Reader, Evidence, list[tuple[str, Evidence]]]:
    """Ask every registered reader how well the file fits (:meth:`Reader.score`).

    Returns ``(best reader, its evidence, the other readers that also scored above 0)``; the best
    is the highest score, and among equal scores the most specific reader (highest priority).
    A reader whose scoring fails is skipped and named, so one broken plug-in never stops
    detection. Raises :class:`UnknownFormatError` naming each reader and why it declined.
    """
    head = head or read_head(path)
    scored: list[tuple[float, int, Reader, Evidence]] = []
    declined: list[str] = []
    for reader in READERS.by_priority():
        try:
            ev = reader.score(head)
        except Exception as exc:  # a scorer must never break detection
            declined.append(f"{reader.name} (could not look: {type(exc).__name__}: {exc})")
            continue
        if ev.score > 0:
            scored.append((ev.score, reader.priority, reader, ev))
        else:
            declined.append(f"{reader.name} ({ev.reason})")
    if scored:
        scored.sort(key=lambda t: (-t[0], -t[1]))
        best = scored[0]
        return best[2], best[3], [(r.name, ev) for _, _, r, ev in scored[1:]]
    declined += [f"{name} (failed to load: {why})" for name, why in READERS.broken.items()]
    kind = binary_kind(head.raw, path) if head.is_binary else f"a text file ({head.encoding})"
    first = head.lines[0][:120] if head.lines and not head.is_binary else head.raw[:16].hex(" ")
    raise UnknownFormatError(
        f"not a format batteryviz recognises: {kind} starting with {quote(first)}. Each reader "
        f"declined: "
        f"{'; '.join(declined)}.",
        path=path,
        hint="For a delimited table with other column names, name them: bv.read(path, "
        "format='generic', columns={'Your time column': 'test_time_second', ...})",
    )
