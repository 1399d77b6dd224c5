"""Conformance: every file of the public corpus reads as its source says.

``tests/data/corpus/`` holds real files from ten permissively licensed projects, copied byte
for byte (``MANIFEST.md``: provenance, licences, and what each source's own tests assert;
``expected.csv``: records and cycles per file). The tests here are parametrised over
``expected.csv``, so a file added there is tested without new code. What a row cannot say
(files whose source says they must be refused, how a source counts cycles, numbers its tests
assert) is in the tables below, each entry naming where it comes from.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

import batteryviz as bv
from batteryviz import schema
from batteryviz.analysis.summary import CycleSummary
from batteryviz.cycles import assign_cycles
from batteryviz.errors import BatteryvizError, ParseError
from batteryviz.quality import NO_CURRENT

CORPUS = Path(__file__).parent / "data" / "corpus"
with open(CORPUS / "expected.csv", encoding="utf-8", newline="") as _fh:
    ROWS = list(csv.DictReader(_fh))

#: Files their source says must be refused: (error class, what the message must say, source).
REFUSED = {
    "biologic/impedancepy_exampleDataBioLogic_MissingFreq.mpt": (
        ParseError,
        "misaligned",
        "impedance.py tests/test_preprocessing.py::test_readBioLogic (freq/Hz missing)",
    ),
    "arbin/beep_2017-05-09_test-TC-contact_CH33_Metadata.csv": (
        BatteryvizError,
        "metadata sidecar",
        "MANIFEST: pair it with its data file or reject it clearly",
    ),
}


def cycler_counter(ds) -> int:
    """The cycler's own counter, as most sources (and vendors' summaries) count cycles."""
    return int(np.nanmax(ds["cycle_count"].values))


def neware_nda_cycles(ds) -> int:
    """NewareNDA's software cycle number (its default ``cycle_mode='chg'``): a cycle starts with
    each charge, counting from 1 — batteryviz's charge-first pairing, and 1 for a rest-only file."""
    return max(1, assign_cycles(ds, "charge_first").sizes["cycle"])


#: How a source counts cycles, by file-name prefix (the source project); default: the counter.
CYCLE_CONVENTIONS = {"newarenda_": neware_nda_cycles}


def _rows(kind: str) -> list:
    return [
        pytest.param(row, id=row["path"])
        for row in ROWS
        if (row["path"] in REFUSED) == (kind == "refused")
    ]


@pytest.mark.parametrize("row", _rows("read"))
def test_each_corpus_file_reads_with_the_records_and_cycles_its_source_gives(row):
    ds = bv.read(CORPUS / row["path"])
    assert ds.attrs["reader"], "every dataset names the reader that read it"
    if row["expected_rows"]:
        assert ds.sizes["record"] == int(row["expected_rows"])
    if row["expected_cycles"]:
        prefix = next((p for p in CYCLE_CONVENTIONS if Path(row["path"]).name.startswith(p)), None)
        count = CYCLE_CONVENTIONS[prefix](ds) if prefix else cycler_counter(ds)
        assert count == int(row["expected_cycles"])
    if row["is_cycling_data"] == "yes":
        # cycling data gives per-cycle capacities a summary can stand on, or says why not
        if NO_CURRENT not in ds.attrs.get("quality_warnings", ""):  # else the warning says why not
            summary = CycleSummary().compute(ds)
            q = summary["discharge_capacity_ah"].values
            assert summary.sizes["cycle"] >= 1 and np.isfinite(q).any() and np.nanmax(q) > 0


@pytest.mark.parametrize("row", _rows("refused"))
def test_corpus_files_their_source_rejects_are_refused_saying_why(row):
    cls, says, _source = REFUSED[row["path"]]
    with pytest.raises(cls, match=says) as err:
        bv.read(CORPUS / row["path"])
    assert Path(row["path"]).name in str(err.value)


def test_every_corpus_file_is_in_the_table_and_every_row_is_a_file():
    on_disk = {
        p.relative_to(CORPUS).as_posix()
        for p in CORPUS.rglob("*")
        if p.is_file() and p.parent != CORPUS and "LICENSES" not in p.parts
    }
    assert on_disk == {row["path"] for row in ROWS}
    assert set(REFUSED) <= on_disk


@pytest.mark.parametrize("row", _rows("read"))
def test_info_names_the_format_variant_raw_columns_and_warnings_of_each_corpus_file(row, capsys):
    from batteryviz.cli import main

    assert main(["info", str(CORPUS / row["path"])]) == 0
    out = capsys.readouterr().out
    ds = bv.read(CORPUS / row["path"])
    lines = {line[:12].strip(): line[12:] for line in out.splitlines() if line[:1] != " "}
    assert lines["format"].startswith(ds.attrs["reader"])
    assert lines["variant"].strip() and lines["detected"].strip()
    # every column kept under the reader's own prefix with no role is listed, and nothing else
    prefix = (ds.attrs["reader"].split("_")[0] + "_", "generic_")
    raw = {n for n in ds.data_vars if n.startswith(prefix) and not ds[n].attrs.get("role")}
    listed = set(re.findall(r"(\w+) \(from ", lines["kept raw"]))
    assert raw <= listed
    assert listed <= set(ds.data_vars) and not listed & set(schema.VARIABLES)
    for warning in filter(None, ds.attrs.get("quality_warnings", "").split("\n")):
        assert f"  - {warning}" in out


@pytest.mark.parametrize("row", _rows("refused"))
def test_info_on_a_refused_corpus_file_says_why_and_fails(row, capsys):
    from batteryviz.cli import main

    assert main(["info", str(CORPUS / row["path"])]) != 0
    assert REFUSED[row["path"]][1] in capsys.readouterr().err


# --- numbers the sources' own tests assert -------------------------------------------------


def test_neware_ndax_per_cycle_capacities_match_newarenda_reference():
    """NewareNDA tests/reference/test_2.ftr: per-cycle maxima of charge/discharge capacity (mAh)."""
    ds = assign_cycles(bv.read(CORPUS / "neware/newarenda_test_2.ndax"), "charge_first")
    summary = CycleSummary(cycle_mode="charge_first").compute(ds)
    reference = {
        1: (0.234972, 0.100586),
        2: (0.070311, 0.060990),
        3: (0.036048, 0.033090),
        10: (0.119438, 0.105879),
    }
    cycle_of = ds["cycle_index"].values
    for cycle, (charge, discharge) in reference.items():
        # the reference is the largest value of the cycler's step counters within the cycle
        here = cycle_of == cycle
        steps = ds["step_type"].values
        assert ds["step_charging_capacity_ah"].values[
            here & (steps == 1)
        ].max() * 1e3 == pytest.approx(charge, abs=1e-6)
        assert ds["step_discharging_capacity_ah"].values[
            here & (steps == 2)
        ].max() * 1e3 == pytest.approx(discharge, abs=1e-6)
        # the summary integrates the current (its counters disagree elsewhere in the file):
        # within 0.1 %
        row = summary.sel(cycle=cycle)
        assert float(row["charge_capacity_ah"]) * 1e3 == pytest.approx(charge, rel=1e-3)
        assert float(row["discharge_capacity_ah"]) * 1e3 == pytest.approx(discharge, rel=1e-3)


def test_novonix_file_holds_two_tests_and_the_failed_one_ends_at_the_asserted_capacity():
    """preparenovonix tests/test_novonix_clean.py: 2 tests; failed test, step 7 of cycle 2:
    capacity 0.4956498 Ah (|diff| < 1e-5)."""
    path = CORPUS / "novonix/prepnovonix_example_data.csv"
    both = bv.read(path)
    assert both.attrs["tests"] == 2 and set(np.unique(both["test_number"].values)) == {1, 2}
    assert np.all(
        np.diff(both["unix_time_second"].values[both["test_number"].values == 2][:100]) >= 0
    )
    failed = bv.read(path, test=1)
    at = (failed["cycle_count"].values == 2) & (failed["step_index"].values == 7)
    assert float(failed["novonix_step_capacity_ah"].values[at].max()) == pytest.approx(
        0.4956498, abs=1e-5
    )
    assert both.sizes["record"] == failed.sizes["record"] + bv.read(path, test=2).sizes["record"]
    with pytest.raises(BatteryvizError, match="holds 2 test"):
        bv.read(path, test=3)


def test_ec_lab_cv_export_has_the_asserted_variables_and_points():
    """cheminfo parseMPT.test.ts: 12 data variables, 5103 time points, 2 cycles."""
    ds = bv.read(CORPUS / "biologic/bioconv_cv.mpt")
    header = (
        (CORPUS / "biologic/bioconv_cv.mpt")
        .read_text(encoding="latin-1")
        .splitlines()[54]
        .rstrip("\t")
        .split("\t")
    )
    assert len(header) == 12 and ds.sizes["record"] == 5103
    assert len(ds.data_vars) >= 12 - 1  # time/s is test_time_second; every column kept


def test_mpr_and_mpt_of_the_same_ocv_run_agree():
    """cheminfo compare-parsers.test.ts: the .mpr and .mpt time arrays have the same length
    (602) and agree."""
    a = bv.read(CORPUS / "biologic/bioconv_ocv.mpr")
    b = bv.read(CORPUS / "biologic/bioconv_ocv.mpt")
    assert a.sizes["record"] == b.sizes["record"] == 602
    np.testing.assert_allclose(
        a["test_time_second"].values, b["test_time_second"].values, rtol=1e-9
    )
    np.testing.assert_allclose(a["voltage_volt"].values, b["voltage_volt"].values, atol=1e-6)


def test_batmo_bdf_labels_give_seconds_and_step_types_that_agree_with_the_current():
    """cellpy tests/test_batmo.py: max test time > 1000 s after conversion from hours; step
    types include charge and discharge."""
    ds = bv.read(CORPUS / "bdf/cellpy_batmo_bdf.csv")
    assert float(ds["test_time_second"].max()) == pytest.approx(
        392.0778 * 3600, rel=1e-5
    )  # last Test Time / h
    st = ds["step_type"].values
    i = ds["current_ampere"].values
    assert (i[st == 1] > 0).all() and (
        i[st == 2] < 0
    ).all()  # charge positive, as batteryviz defines
    assert "negated" in ds.attrs["quality_warnings"]
