"""Fuzzing the readers with real files: every mutation of a corpus file reads into a dataset or
raises a :class:`BatteryvizError` — never another exception, never a hang.

Hypothesis mutates the small real files of ``tests/data/corpus`` the ways files get damaged or
re-saved: cut short, re-encoded, a column dropped or two swapped, a value replaced by text,
lines duplicated or removed, bytes overwritten. Each example runs under a time guard.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import batteryviz as bv
from batteryviz.errors import BatteryvizError

from .test_corpus import CORPUS, REFUSED

#: Files small enough to read many times (the mutations, not the size, are the point here).
SMALL = sorted(
    p
    for p in CORPUS.rglob("*")
    if p.is_file()
    and "LICENSES" not in p.parts
    and p.parent != CORPUS
    and p.stat().st_size < 600_000
    and p.relative_to(CORPUS).as_posix() not in REFUSED
)
TEXT = [p for p in SMALL if b"\x00" not in p.read_bytes()[:8192]]
BINARY = [p for p in SMALL if p not in TEXT]
#: Seconds one read of a mutated small file may take before it counts as a hang.
HANG_S = 20

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@contextmanager
def _hang_guard(seconds: int):
    def fail(*_):
        raise AssertionError(f"a read took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _read_or_refuse(path: Path) -> None:
    with _hang_guard(HANG_S):
        try:
            ds = bv.read(path)
        except BatteryvizError as exc:
            assert str(path.name) in str(exc)  # a refusal names the file
            return
    assert ds.sizes.get("record", 0) >= 0


class Mutated(bytes):
    """A mutated file's bytes, shown short in hypothesis's reports."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes: {bytes(self[:120])!r}…>"


def _split(line: str) -> tuple[str, list[str]]:
    for sep in ("\t", ";", ","):
        if sep in line:
            return sep, line.split(sep)
    return " ", line.split(" ")


@st.composite
def text_mutation(draw):
    source = draw(st.sampled_from(TEXT))
    raw = source.read_bytes()
    text = (
        raw.decode("utf-8", errors="replace")
        if not raw.startswith(b"\xef\xbb\xbf")
        else raw[3:].decode("utf-8", "replace")
    )
    lines = text.splitlines()
    kind = draw(
        st.sampled_from(
            [
                "truncate",
                "encoding",
                "drop_column",
                "swap_columns",
                "text_value",
                "duplicate_lines",
                "delete_lines",
            ]
        )
    )
    n = len(lines)
    if kind == "truncate":
        cut = draw(st.integers(0, max(len(raw) - 1, 0)))
        return source, kind, Mutated(raw[:cut])
    if kind == "encoding":
        enc = draw(st.sampled_from(["utf-16", "latin-1", "cp1252", "utf-8-sig"]))
        return source, kind, Mutated(text.encode(enc, errors="replace"))
    if kind in ("drop_column", "swap_columns"):
        col = draw(st.integers(0, 40))
        other = draw(st.integers(0, 40))
        out = []
        for line in lines:
            sep, fields = _split(line)
            if len(fields) > max(col, other):
                if kind == "drop_column":
                    del fields[col]
                else:
                    fields[col], fields[other] = fields[other], fields[col]
            out.append(sep.join(fields))
        return source, kind, Mutated(("\n".join(out) + "\n").encode("utf-8"))
    if kind == "text_value":
        row = draw(st.integers(0, max(n - 1, 0)))
        col = draw(st.integers(0, 20))
        word = draw(
            st.sampled_from(["N/A", "abc", "", "1,499.8856", "--", "nan", "1e999", "0x1F", "∞"])
        )
        if n:
            sep, fields = _split(lines[row])
            if col < len(fields):
                fields[col] = word
                lines[row] = sep.join(fields)
        return source, kind, Mutated(("\n".join(lines) + "\n").encode("utf-8"))
    start = draw(st.integers(0, max(n - 1, 0)))
    count = draw(st.integers(1, 50))
    if kind == "duplicate_lines":
        lines = lines[: start + count] + lines[start : start + count] + lines[start + count :]
    else:
        lines = lines[:start] + lines[start + count :]
    return source, kind, Mutated(("\n".join(lines) + "\n").encode("utf-8"))


@st.composite
def binary_mutation(draw):
    source = draw(st.sampled_from(BINARY))
    raw = bytearray(source.read_bytes())
    kind = draw(st.sampled_from(["truncate", "overwrite", "zero_block"]))
    if kind == "truncate":
        return source, kind, Mutated(bytes(raw[: draw(st.integers(0, len(raw) - 1))]))
    at = draw(st.integers(0, len(raw) - 1))
    if kind == "overwrite":
        patch = draw(st.binary(min_size=1, max_size=16))
        raw[at : at + len(patch)] = patch
    else:
        raw[at : at + 512] = bytes(min(512, len(raw) - at))
    return source, kind, Mutated(bytes(raw))


@pytest.mark.skipif(not TEXT, reason="no small text files in the corpus")
@SETTINGS
@given(case=text_mutation())
def test_a_mutated_text_export_reads_or_is_refused_with_a_batteryviz_error(tmp_path_factory, case):
    source, kind, data = case
    path = tmp_path_factory.mktemp("fuzz") / f"{kind}_{source.name}"
    path.write_bytes(bytes(data))
    _read_or_refuse(path)


@pytest.mark.skipif(not BINARY, reason="no small binary files in the corpus")
@SETTINGS
@given(case=binary_mutation())
def test_a_damaged_binary_file_reads_or_is_refused_with_a_batteryviz_error(tmp_path_factory, case):
    source, kind, data = case
    path = tmp_path_factory.mktemp("fuzz") / f"{kind}_{source.name}"
    path.write_bytes(bytes(data))
    _read_or_refuse(path)


def test_the_fuzzed_files_cover_the_formats():
    """The mutations run over every kind of file the corpus has, text and binary."""
    suffixes = {p.suffix.lower() for p in SMALL}
    assert {".csv", ".mpt", ".mpr", ".txt", ".ndax", ".res"} <= suffixes
    assert len(TEXT) >= 20 and len(BINARY) >= 5
