"""How far a file may expand when read: the guard against decompression and size bombs.

A small file can describe a huge dataset: a 1 MB ``.ndax`` (a zip archive) declared 3 GB of
records, a 378 KB parquet file 50 million constant rows (4.8 GB in memory), a 3.6 MB ``.xlsx`` a
shared-strings table of 2.5 GB. Readers therefore ask, before they decompress or parse, how big
the file says its content is, and refuse when that is

* more than :func:`max_expanded_bytes` (``BATTERYVIZ_MAX_EXPANDED_MB``, default 4096 MiB: the
  ceiling of one upload's content, whatever its size on disk), or
* more than :data:`MAX_EXPANSION_RATIO` times the file's own size *and* more than
  :data:`RATIO_FLOOR_BYTES` (real cycler archives compress 3–30×; a bomb, thousands of times).

Zip members are read through :func:`read_member`, a bounded stream, so a member that lies about
its size cannot make a reader hold more than it asked for.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..errors import BatteryvizError

#: Content more than this many times the file's size is refused (above :data:`RATIO_FLOOR_BYTES`).
MAX_EXPANSION_RATIO = 200
#: Content below this size is never refused for its ratio (small files compress oddly).
RATIO_FLOOR_BYTES = 64 * 2**20
#: The default ceiling of what one file's content may expand to (MiB).
DEFAULT_MAX_EXPANDED_MB = 4096


class ExpansionError(BatteryvizError):
    """A file's content would expand far beyond its size (a decompression or size bomb)."""


def max_expanded_bytes() -> int:
    """The ceiling of one file's expanded content: ``BATTERYVIZ_MAX_EXPANDED_MB`` or 4096 MiB."""
    value = os.environ.get("BATTERYVIZ_MAX_EXPANDED_MB")
    return int(float(value) * 2**20) if value else DEFAULT_MAX_EXPANDED_MB * 2**20


def check_expansion(path, expanded: int, what: str) -> None:
    """Refuse ``path`` when its content (``expanded`` bytes, as the file declares it) is too
    large for its size or for the ceiling; ``what`` says what was measured."""
    size = max(Path(path).stat().st_size, 1)
    ceiling = max_expanded_bytes()
    if expanded > ceiling:
        raise ExpansionError(
            f"{what} would take {expanded / 2**20:,.0f} MiB, above the {ceiling / 2**20:,.0f} MiB "
            f"one file may "
            "expand to (BATTERYVIZ_MAX_EXPANDED_MB); split the test into smaller files",
            path=path,
        )
    if expanded > RATIO_FLOOR_BYTES and expanded > MAX_EXPANSION_RATIO * size:
        raise ExpansionError(
            f"{what} would take {expanded / 2**20:,.0f} MiB from a {size / 2**20:,.2f} MiB file "
            f"({expanded / size:,.0f}×; real cycler files expand less than "
            f"{MAX_EXPANSION_RATIO}×): "
            "refused as a decompression bomb",
            path=path,
        )


def check_zip(path) -> list[str]:
    """The member names of a zip archive, after checking what its members declare they expand
    to (:func:`check_expansion`); :class:`BatteryvizError` for an archive that cannot be read."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BatteryvizError(
            f"not a readable zip archive ({exc}); the file may be truncated", path=path
        ) from None
    check_expansion(path, sum(i.file_size for i in infos), f"its {len(infos)} archive member(s)")
    return [i.filename for i in infos]


def read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """At most ``limit`` bytes of member ``name`` (a bounded stream: never more is decompressed)."""
    with zf.open(name) as member:
        return member.read(limit)


#: What a legacy Excel (.xls) file may take in memory relative to its size when xlrd parses it
#: (measured: 6× for a Neware export; every cell becomes Python objects), with headroom.
XLS_EXPANSION_FACTOR = 16


def check_xls(path) -> int:
    """Refuse a legacy Excel 97-2003 (.xls) workbook too large to parse in memory.

    An .xls file is not compressed, so it cannot expand like a zip bomb, but xlrd holds every
    cell of a sheet as Python objects (about :data:`XLS_EXPANSION_FACTOR` times the file size).
    A file whose size times that factor exceeds :func:`max_expanded_bytes` (256 MiB of .xls by
    default) is refused before xlrd reads it. Returns the file size.
    """
    size = Path(path).stat().st_size
    bound = max_expanded_bytes() // XLS_EXPANSION_FACTOR
    if size > bound:
        raise ExpansionError(
            f"this Excel 97-2003 (.xls) workbook is {size / 2**20:,.1f} MiB; parsing it would take "
            f"about "
            f"{size * XLS_EXPANSION_FACTOR / 2**20:,.0f} MiB, above the "
            f"{max_expanded_bytes() / 2**20:,.0f} MiB one "
            "file may expand to (BATTERYVIZ_MAX_EXPANDED_MB). Export the test as CSV or .xlsx "
            "instead",
            path=path,
        )
    return size
